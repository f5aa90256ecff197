"""Bulk input lines (NDJSON or CSV) turned into `ObservationItem`s, with errors that name the line.

The field names are those of the GraphQL `ObservationInput`. These functions only check what the shape of a
line decides (JSON syntax, unknown fields, a string where a string belongs, a time that parses); ranges,
UUIDs and NUL characters are `atlas4d.core.ingest.validate_observations`'s job, so the rules are the
mutation's. Line numbers are 1-based; in CSV the header is line 1.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from atlas4d.core.ingest import ObservationItem

FIELDS = (
    "time",
    "lon",
    "lat",
    "altitude",
    "speed",
    "heading",
    "sourceType",
    "entityId",
    "entityKind",
    "trackId",
    "metadata",
)
FIELD_SET = frozenset(FIELDS)
_FIELD_SET = FIELD_SET
_NUMBERS = ("lon", "lat", "altitude", "speed", "heading")
_TEXTS = ("sourceType", "entityId", "entityKind", "trackId")


@dataclass(frozen=True)
class LineError:
    line: int
    field: str | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class Chunk:
    """Items ready for validation, each with the line it came from, and the errors found so far; or, for
    NDJSON, the raw non-blank lines (`raw`, with their numbers in `lines`), decoded only at validation
    (`atlas4d.bulk.fast` first, the items' path when that declines)."""

    items: list[ObservationItem]
    lines: list[int]
    errors: list[LineError]
    raw: list[bytes] = field(default_factory=list)


def new_chunk() -> Chunk:
    return Chunk([], [], [], [])


def decoded(chunk: Chunk) -> Chunk:
    """The items (and line errors) of a chunk of raw NDJSON lines."""
    if not chunk.raw:
        return chunk
    out = Chunk([], [], list(chunk.errors))
    for raw, line in zip(chunk.raw, chunk.lines, strict=True):
        add_ndjson_line(out, raw, line)
    return out


def _time(value: object, line: int, errors: list[LineError]) -> datetime | None:
    if value is None:
        return None  # validate_observations says "is required"
    if not isinstance(value, str):
        errors.append(LineError(line, "time", "must be an ISO-8601 string"))
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        errors.append(LineError(line, "time", f"is not an ISO-8601 time: {value[:40]!r}"))
        return None


def add_object(chunk: Chunk, obj: Any, line: int) -> None:
    """Append one decoded line (a JSON object keyed by the GraphQL field names) to `chunk`."""
    if not isinstance(obj, dict):
        chunk.errors.append(LineError(line, None, "is not a JSON object"))
        return
    if not obj.keys() <= _FIELD_SET:
        unknown = sorted(str(k) for k in obj.keys() - _FIELD_SET)[0]
        chunk.errors.append(
            LineError(line, unknown, f"is not a field of ObservationInput ({', '.join(FIELDS)})")
        )
        return
    before = len(chunk.errors)
    get: Any = obj.get
    for name in _TEXTS:
        value = get(name)
        if value is not None and not isinstance(value, str):
            chunk.errors.append(LineError(line, name, "must be a string"))
    t = _time(get("time"), line, chunk.errors)
    if len(chunk.errors) > before:
        return
    chunk.items.append(
        ObservationItem(
            t,  # type: ignore[arg-type]  # None is reported by validate_observations
            get("lon"),
            get("lat"),
            get("altitude"),
            get("speed"),
            get("heading"),
            get("sourceType"),
            get("entityId"),
            get("entityKind"),
            get("trackId"),
            get("metadata"),
        )
    )
    chunk.lines.append(line)


def add_ndjson_line(chunk: Chunk, raw: bytes, line: int) -> None:
    if not raw.strip():
        return
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        chunk.errors.append(LineError(line, None, f"is not valid JSON: {exc}"))
        return
    add_object(chunk, obj, line)


def _csv_number(value: str, name: str, line: int, errors: list[LineError]) -> float | None:
    try:
        number = float(value)
    except ValueError:
        errors.append(LineError(line, name, f"must be a finite number, got {value[:40]!r}"))
        return None
    if not math.isfinite(number):
        errors.append(LineError(line, name, f"must be a finite number, got {value[:40]!r}"))
        return None
    return number


def csv_object(
    header: list[str], row: list[str], line: int, errors: list[LineError]
) -> dict[str, Any] | None:
    """A CSV row as the JSON object its NDJSON line would be; empty cells are nulls."""
    if len(row) != len(header):
        errors.append(LineError(line, None, f"has {len(row)} cells; the header has {len(header)}"))
        return None
    before = len(errors)
    obj: dict[str, Any] = {}
    for name, cell in zip(header, row, strict=True):
        if cell == "":
            continue
        if name in _NUMBERS:
            obj[name] = _csv_number(cell, name, line, errors)
        elif name == "metadata":
            try:
                obj[name] = orjson.loads(cell)
            except orjson.JSONDecodeError:
                errors.append(LineError(line, name, "is not valid JSON"))
        else:
            obj[name] = cell
    return None if len(errors) > before else obj


def check_header(header: list[str]) -> LineError | None:
    for name in header:
        if name not in _FIELD_SET:
            return LineError(1, name, f"is not a field of ObservationInput ({', '.join(FIELDS)})")
    if len(set(header)) != len(header):
        return LineError(1, None, "repeats a column")
    return None


class CsvLines:
    """Feeds CSV text in pieces; yields (line number, cells) for each complete record.

    Quoted cells may span lines; the line number is where the record starts. A record longer than
    `max_record_chars` is refused (`LongRecord`) instead of being buffered: each piece is scanned once, so a
    100 MB record costs linear time, not the quadratic re-scan it used to.
    """

    def __init__(self, max_record_chars: int) -> None:
        self._pending = ""
        self._next_line = 1
        self.max_record_chars = max_record_chars

    def feed(self, text: str, final: bool = False) -> Iterator[tuple[int, list[str]]]:
        data = self._pending + text  # the pending part is at most `max_record_chars`
        cut = len(data) if final else _record_end(data)
        self._pending = data[cut:]
        if len(self._pending) > self.max_record_chars:
            raise LongRecord(self._next_line + data.count("\n", 0, cut), self.max_record_chars)
        complete = data[:cut]
        if not complete:
            return
        reader = csv.reader(io.StringIO(complete, newline=""))
        start = self._next_line
        try:
            for row in reader:
                yield start, row
                start = self._next_line + reader.line_num
        except csv.Error as exc:  # a field over csv's own limit (128 KiB), a NUL byte: the client's input
            raise BadRecord(start, csv_problem(exc)) from None
        self._next_line += complete.count("\n") + (0 if complete.endswith("\n") else 1)


def _record_end(data: str) -> int:
    """Where the last complete record ends: after the last newline outside quotes (0: none yet)."""
    cut = pos = quotes = 0
    while (newline := data.find("\n", pos)) >= 0:
        quotes += data.count('"', pos, newline)
        pos = newline + 1
        if quotes % 2 == 0:
            cut = pos
    return cut


class BadRecord(Exception):
    """A line or record refused before its fields are read (too long, not CSV)."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line} {problem}")
        self.error = LineError(line, None, problem)


class LongRecord(BadRecord):
    """A line (NDJSON) or record (CSV) longer than the bulk per-line limit."""

    def __init__(self, line: int, limit: int) -> None:
        super().__init__(line, f"is longer than {limit:,} bytes (ATLAS4D_BULK_MAX_LINE_BYTES)")


def csv_problem(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return f"has a field longer than {csv.field_size_limit():,} characters"
    return "is not valid CSV"
