"""The ingest floors, as plain as a script gets: NDJSON lines → orjson → validation
(`validate_observations`, the mutation's rules) → binary COPY with client-built EWKB, 10k rows a batch.
The COPY data is encoded as our paths encode it (`atlas4d.core.pgcopy`): the same rows, the same validation,
the same COPY (with asyncpg's per-value codecs the floors were slower than the paths they bound).

    python -m bench.floor FILE DSN [--connections N] [--raw]

`--raw` is the raw COPY floor: the COPY data is built before the clock starts and only the COPYs are timed
(PostgreSQL storing the rows, and the bytes crossing the socket: nothing of ours can be faster).
Prints one JSON line: {"rows": n, "seconds": s}. The clock starts after the file is read into memory.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import orjson

from atlas4d.core.ingest import OBSERVATION_COPY_COLUMNS, ObservationItem, validate_observations
from atlas4d.core.pgcopy import HEADER, TRAILER, encode_rows
from atlas4d.db.pool import connect
from atlas4d.settings import Settings

BATCH = 10_000


def items(lines: list[bytes]) -> list[ObservationItem]:
    out = []
    for line in lines:
        o = orjson.loads(line)
        out.append(
            ObservationItem(
                datetime.fromisoformat(o["time"]),
                o["lon"],
                o["lat"],
                o.get("altitude"),
                o.get("speed"),
                o.get("heading"),
                o.get("sourceType"),
                o.get("entityId"),
                o.get("entityKind"),
                o.get("trackId"),
                o.get("metadata"),
            )
        )
    return out


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def copy(conn: asyncpg.Connection, data: bytes) -> None:
    """One binary COPY of encoded rows (`encode_rows`)."""
    await conn.copy_to_table(
        "observations_core",
        schema_name="atlas4d",
        columns=list(OBSERVATION_COPY_COLUMNS),
        source=_one(HEADER + data + TRAILER),
        format="binary",
    )


async def validate_and_copy(conns: list[asyncpg.Connection], batches: list[list[bytes]]) -> int:
    async def worker(conn: asyncpg.Connection, mine: list[list[bytes]]) -> int:
        done = 0
        for lines in mine:
            rows, _ = validate_observations(items(lines), max_batch=BATCH)
            await copy(conn, encode_rows(rows))
            done += len(rows)
        return done

    n = len(conns)
    return sum(await asyncio.gather(*(worker(c, batches[i::n]) for i, c in enumerate(conns))))


async def main(path: Path, dsn: str, connections: int, raw: bool) -> dict[str, float]:
    lines = [line for line in path.read_bytes().split(b"\n") if line]  # noqa: ASYNC240  (before the clock)
    batches = [lines[i : i + BATCH] for i in range(0, len(lines), BATCH)]
    settings = Settings()
    conns = [await connect(settings, dsn) for _ in range(connections)]
    try:
        if raw:
            prepared = [encode_rows(validate_observations(items(b), max_batch=BATCH)[0]) for b in batches]
            began = time.perf_counter()
            n = len(conns)

            async def worker(conn: asyncpg.Connection, mine: list[bytes]) -> None:
                for data in mine:
                    await copy(conn, data)

            await asyncio.gather(*(worker(c, prepared[i::n]) for i, c in enumerate(conns)))
            count = len(lines)
        else:
            began = time.perf_counter()
            count = await validate_and_copy(conns, batches)
        return {"rows": count, "seconds": time.perf_counter() - began}
    finally:
        for conn in conns:
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("dsn")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--raw", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main(args.file, args.dsn, args.connections, args.raw))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
