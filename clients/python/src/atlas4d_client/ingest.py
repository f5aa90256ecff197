"""The ingest helper's parts shared by both clients: observation inputs, batching, the retry rule and NDJSON.

Retrying a write is only safe when it cannot store twice. The server stores a batch all or nothing, in one
transaction, so a retry is made only when the batch is known not to be stored:
- the connection could not be made (`httpx.ConnectError`, `httpx.ConnectTimeout`: nothing was sent);
- the server answered that the database was unavailable or the statement timed out (`DATABASE_UNAVAILABLE`,
  `QUERY_TIMEOUT`: the transaction rolled back), or 429/503 with nothing stored.
A read timeout or a dropped connection after sending is *not* retried: the batch may have been stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

from atlas4d_client.errors import Atlas4DError, GraphQLError, HTTPError
from atlas4d_client.filters import GeoInterface, format_datetime, geojson_of
from atlas4d_client.models import IngestResult

MAX_BATCH = 10_000
"""The server's default `ATLAS4D_MAX_INGEST_BATCH`."""
RETRYABLE_CODES = frozenset({"DATABASE_UNAVAILABLE", "QUERY_TIMEOUT"})


@dataclass(frozen=True)
class ObservationInput:
    """One observation to store (the API's `ObservationInput`). `point` may replace lon/lat/altitude:
    a shapely Point (2D or 3D) or a GeoJSON Point."""

    time: datetime
    lon: float | None = None
    lat: float | None = None
    altitude: float | None = None
    speed: float | None = None
    heading: float | None = None
    source_type: str | None = None
    entity_id: str | None = None
    entity_kind: str | None = None
    track_id: str | None = None
    metadata: Mapping[str, Any] | None = None
    point: GeoInterface | Mapping[str, Any] | None = None

    def to_graphql(self) -> dict[str, Any]:
        lon, lat, altitude = self.lon, self.lat, self.altitude
        if self.point is not None:
            geo = geojson_of(self.point)
            if geo.get("type") != "Point":
                raise ValueError(f"point must be a Point, got {geo.get('type')!r}")
            coords = geo["coordinates"]
            lon, lat = float(coords[0]), float(coords[1])
            if len(coords) > 2 and altitude is None:
                altitude = float(coords[2])
        out: dict[str, Any] = {"time": format_datetime(self.time), "lon": lon, "lat": lat}
        for key, value in (
            ("altitude", altitude),
            ("speed", self.speed),
            ("heading", self.heading),
            ("sourceType", self.source_type),
            ("entityId", self.entity_id),
            ("entityKind", self.entity_kind),
            ("trackId", self.track_id),
            ("metadata", dict(self.metadata) if self.metadata is not None else None),
        ):
            if value is not None:
                out[key] = value
        return out


ObservationLike = ObservationInput | Mapping[str, Any]


def observation_item(item: ObservationLike) -> dict[str, Any]:
    """An `ObservationInput` or a dict with the API's field names (a `time` may be a datetime)."""
    if isinstance(item, ObservationInput):
        return item.to_graphql()
    if isinstance(item, Mapping):
        out = dict(item)
        if isinstance(out.get("time"), datetime):
            out["time"] = format_datetime(out["time"])
        return out
    raise TypeError(f"an observation is an ObservationInput or a dict, got {type(item).__name__}")


def batches(items: Iterable[ObservationLike], size: int) -> Iterator[list[dict[str, Any]]]:
    """Consecutive batches of at most `size` converted items; reads `items` lazily (generators welcome)."""
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1..{MAX_BATCH}, got {size}")
    source = iter(items)
    while chunk := list(islice(source, size)):
        yield [observation_item(i) for i in chunk]


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all (1 = no retry), waiting `backoff * 2**n` seconds (at most `max_backoff`, or
    the server's Retry-After) between them."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 10.0

    def delay(self, attempt: int, error: BaseException) -> float:
        if isinstance(error, HTTPError):
            after = error.response.headers.get("retry-after", "")
            if after.isdigit():
                return min(float(after), self.max_backoff)
        return min(self.backoff * math.pow(2, attempt), self.max_backoff)


def is_retryable(error: BaseException) -> bool:
    """True only when the request cannot have stored anything (see the module docstring)."""
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        return True
    if isinstance(error, GraphQLError):
        return all(e.code in RETRYABLE_CODES for e in error.errors)
    if isinstance(error, HTTPError):
        return error.code in RETRYABLE_CODES or (
            error.status_code in (429, 503) and error.code.startswith("HTTP_")
        )
    return False


class IngestError(Atlas4DError):
    """A batch failed. `stored` is what the batches before it stored (they are committed); `batch` is the
    0-based index of the failed batch and `cause` what failed: the server's error (its `code`; for GraphQL the
    bad item's `index` and `field` are in `cause.errors[0].extensions`, counted within the batch, whose first
    item is item number `batch * batch_size` of the input), or an `httpx.TransportError` (code
    `TRANSPORT_ERROR`) — after a read timeout the failed batch itself may or may not have been stored."""

    def __init__(self, cause: Exception, batch: int, stored: IngestResult) -> None:
        code = cause.code if isinstance(cause, Atlas4DError) else "TRANSPORT_ERROR"
        message = cause.message if isinstance(cause, Atlas4DError) else f"{type(cause).__name__}: {cause}"
        super().__init__(f"batch {batch} failed: {message}", code)
        self.cause = cause
        self.batch = batch
        self.stored = stored


def ndjson_lines(items: Iterable[ObservationLike], lines_per_piece: int = 1000) -> Iterator[bytes]:
    """NDJSON body pieces of `lines_per_piece` lines, encoded as they are read (memory stays flat)."""
    source = iter(items)
    while chunk := list(islice(source, lines_per_piece)):
        yield b"".join(json.dumps(observation_item(i), separators=(",", ":")).encode() + b"\n" for i in chunk)


def file_pieces(path: Path, piece_bytes: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as f:
        while piece := f.read(piece_bytes):
            yield piece


def content_type_of(path: Path) -> str:
    return "text/csv" if path.suffix.lower() == ".csv" else "application/x-ndjson"


BulkSource = str | Path | Sequence[ObservationLike] | Iterable[ObservationLike]


def bulk_body(source: BulkSource) -> tuple[str, bool]:
    """(content type, whether the body can be sent again for a retry)."""
    if isinstance(source, str | Path):
        return content_type_of(Path(source)), True
    return "application/x-ndjson", isinstance(source, Sequence)


def bulk_pieces(source: BulkSource) -> Iterator[bytes]:
    if isinstance(source, str | Path):
        return file_pieces(Path(source))
    return ndjson_lines(source)
