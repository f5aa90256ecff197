"""A streamed bulk body (NDJSON or CSV, any piece sizes) cut into chunks of parsed items with line numbers."""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator

from atlas4d.bulk.loader import InvalidLines
from atlas4d.bulk.parse import (
    BadRecord,
    Chunk,
    CsvLines,
    LineError,
    LongRecord,
    add_object,
    check_header,
    csv_object,
    new_chunk,
)
from atlas4d.errors import RequestTooLarge

MAX_LINE_BYTES = 1024 * 1024  # ATLAS4D_BULK_MAX_LINE_BYTES


class BulkBody:
    """Cuts a streamed body into chunks of parsed items, keeping line numbers."""

    def __init__(self, csv_format: bool, chunk_lines: int, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.csv = CsvLines(max_line_bytes) if csv_format else None
        self.header: list[str] | None = None
        self.chunk_lines = chunk_lines
        self.max_line_bytes = max_line_bytes
        self.chunk = new_chunk()
        # the start of an unfinished NDJSON line, in pieces: joined once when its newline comes (appending to
        # one bytes object made a 100 MB line cost 14.9 CPU-s, issue 12)
        self._partial: list[bytes] = []
        self._partial_bytes = 0
        self._line = 0
        self._utf8 = codecs.getincrementaldecoder("utf-8")()

    def feed(self, data: bytes, final: bool = False) -> list[Chunk]:
        ready: list[Chunk] = []
        try:
            if self.csv is not None:
                text = self._decode(data, final)
                for line, row in self.csv.feed(text, final):
                    self._add_csv(line, row)
                    self._maybe_cut(ready)
                return ready
            start = 0
            while (newline := data.find(b"\n", start)) >= 0:
                self._ndjson_line(data[start:newline], ready)
                start = newline + 1
            if start < len(data):
                self._partial.append(data[start:])
                self._partial_bytes += len(data) - start
                if self._partial_bytes > self.max_line_bytes:
                    raise LongRecord(self._line + 1, self.max_line_bytes)
            if final and self._partial:
                self._ndjson_line(b"", ready)
        except BadRecord as exc:
            raise InvalidLines([exc.error]) from None
        return ready

    def _ndjson_line(self, tail: bytes, ready: list[Chunk]) -> None:
        self._line += 1
        if self._partial:
            raw = b"".join([*self._partial, tail])
            self._partial, self._partial_bytes = [], 0
        else:
            raw = tail
        if len(raw) > self.max_line_bytes:
            raise LongRecord(self._line, self.max_line_bytes)
        if raw.strip():  # decoded at validation (`atlas4d.bulk.loader.validated_rows`)
            self.chunk.raw.append(raw)
            self.chunk.lines.append(self._line)
            self._maybe_cut(ready)

    def rest(self) -> Chunk:
        chunk, self.chunk = self.chunk, new_chunk()
        return chunk

    def _maybe_cut(self, ready: list[Chunk]) -> None:
        if len(self.chunk.items) + len(self.chunk.errors) + len(self.chunk.raw) >= self.chunk_lines:
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


async def parsed(
    body: BulkBody, pieces: AsyncIterator[bytes], max_bytes: int | None = None
) -> AsyncIterator[Chunk]:
    """The chunks of a body arriving in `pieces`; `RequestTooLarge` past `max_bytes` (the bulk body limit)."""
    received = 0
    async for data in pieces:
        received += len(data)
        if max_bytes is not None and received > max_bytes:
            raise RequestTooLarge(
                f"the request body is larger than {max_bytes} bytes (ATLAS4D_BULK_MAX_BODY_BYTES)",
                maximum=max_bytes,
            )
        for chunk in body.feed(data):
            yield chunk
    for chunk in body.feed(b"", final=True):
        yield chunk
    yield body.rest()
