"""A streamed bulk body (NDJSON or CSV, any piece sizes) cut into chunks of parsed items with line numbers."""

from __future__ import annotations

import codecs

from atlas4d.bulk.loader import InvalidLines
from atlas4d.bulk.parse import (
    Chunk,
    CsvLines,
    LineError,
    add_ndjson_line,
    add_object,
    check_header,
    csv_object,
    new_chunk,
)


class BulkBody:
    """Cuts a streamed body into chunks of parsed items, keeping line numbers."""

    def __init__(self, csv_format: bool, chunk_lines: int) -> None:
        self.csv = CsvLines() if csv_format else None
        self.header: list[str] | None = None
        self.chunk_lines = chunk_lines
        self.chunk = new_chunk()
        self._buffer = b""
        self._line = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    def feed(self, data: bytes, final: bool = False) -> list[Chunk]:
        ready: list[Chunk] = []
        if self.csv is not None:
            text = self._decode(data, final)
            for line, row in self.csv.feed(text, final):
                self._add_csv(line, row)
                self._maybe_cut(ready)
            return ready
        buffer = self._buffer + data
        lines = buffer.split(b"\n")
        self._buffer = b"" if final else lines.pop()
        for raw in lines:
            self._line += 1
            add_ndjson_line(self.chunk, raw, self._line)
            self._maybe_cut(ready)
        return ready

    def rest(self) -> Chunk:
        chunk, self.chunk = self.chunk, new_chunk()
        return chunk

    def _maybe_cut(self, ready: list[Chunk]) -> None:
        if len(self.chunk.items) + len(self.chunk.errors) >= self.chunk_lines:
            ready.append(self.rest())

    def _decode(self, data: bytes, final: bool) -> str:
        try:
            return self._utf8.decode(data, final)
        except UnicodeDecodeError as exc:
            raise InvalidLines([LineError(self._line + 1, None, f"is not UTF-8: {exc.reason}")]) from None

    def _add_csv(self, line: int, row: list[str]) -> None:
        if self.header is None:
            self.header = [h.strip() for h in row]
            bad = check_header(self.header)
            if bad is not None:
                raise InvalidLines([bad])
            return
        if not row:
            return
        obj = csv_object(self.header, row, line, self.chunk.errors)
        if obj is not None:
            add_object(self.chunk, obj, line)
