"""Change notices over Redis pub/sub and NATS (ATLAS4D_STREAM_BROKER), against the brokers running locally: two
`atlas4d serve` replicas deliver each other's writes while the database sees one LISTEN connection (the relay's);
when the relay stops, the other replica takes over and tells its subscribers about the gap (close 1012), and
its new subscribers receive writes again."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from ws_client import connect

from live_server import replicas

BROKERS = {"redis": "redis://127.0.0.1:6379", "nats": "nats://127.0.0.1:4222"}


async def listeners(pool: asyncpg.Pool) -> int:
    value = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN %'"
    )
    return int(value)


async def write(pool: asyncpg.Pool, entity: uuid.UUID, n: int) -> None:
    await pool.execute(
        "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, entity_id) SELECT $1::timestamptz + g * "
        "interval '1 s', 27.5, 42.5, ST_SetSRID(ST_MakePoint(27.5, 42.5), 4326), $2 FROM generate_series(1, $3) g",
        datetime(2026, 9, 1, tzinfo=UTC) + timedelta(minutes=n),
        entity,
        n,
    )


@pytest.mark.parametrize("broker", sorted(BROKERS))
async def test_replicas_share_notices_through_the_bus(
    database_url: str, pool: asyncpg.Pool, broker: str
) -> None:
    settings = {
        "stream_broker": broker,
        "stream_broker_url": BROKERS[broker],
        "stream_subject": f"atlas4d.test.{uuid.uuid4().hex}",  # parallel test runs share the brokers
    }
    entity = uuid.uuid4()
    live = {"f": {"entityIds": [str(entity)]}}
    with replicas(database_url, 2, **settings) as (relay, other):
        first, second = relay.base, other.base
        before = await listeners(pool)
        async with connect(first) as on_first, connect(second) as on_second:
            await on_first.init()
            await on_first.subscribe(variables=live)  # the first replica becomes the relay
            await on_second.init()
            await on_second.subscribe(variables=live)
            await asyncio.sleep(1.5)  # the second has heard the relay's heartbeat: it never LISTENs
            assert await listeners(pool) == before + 1
            await write(pool, entity, 3)
            assert len(await on_first.events(3)) == 3
            assert len(await on_second.events(3)) == 3
        if broker != "nats":
            return  # the takeover is the relay's, whatever the bus: once is enough (make test's time)
        async with connect(second) as survivor:
            await survivor.init()
            await survivor.subscribe(variables=live)
            relay.stop()
            assert await survivor.close_code(30) == 1012  # the new relay announced the gap
        async with connect(second) as again:
            await again.init()
            await again.subscribe(variables=live)
            await write(pool, entity, 2)
            assert len(await again.events(2)) == 2
        assert await listeners(pool) == before + 1  # the second relays now
