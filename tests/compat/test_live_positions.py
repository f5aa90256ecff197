"""Subscriptions place the original's kind of rows by the same rule as every other face: `observationAdded`
over graphql-transport-ws (real WebSockets, `atlas4d serve` over the Core Spec database), rows written by
plain SQL as the original's writers do — lat/lon only, geom disagreeing with lat/lon, no position at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import websockets
from compat_db import OriginalDatabase, Server

SUBSCRIBE = "subscription($f: ObservationFilter) { observationAdded(filter: $f) { id lon lat sourceType } }"
BOX = {"minLon": 27.40, "minLat": 42.45, "maxLon": 27.55, "maxLat": 42.55}
# (lat, lon, geom lon/lat or None): inside by lat/lon; outside; no position; geom inside, lat/lon outside
ROWS = [(42.5, 27.5, None), (41.0, 25.0, None), (None, None, None), (10.0, 10.0, (27.45, 42.48))]


async def recv(ws: websockets.ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
    return message


async def test_observation_added_places_rows_by_the_position_rule(
    compat_server: Server, original_db: OriginalDatabase
) -> None:
    url = f"ws://{compat_server.host}:{compat_server.port}/graphql"
    async with websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(orjson.dumps({"type": "connection_init"}).decode())
        assert (await recv(ws))["type"] == "connection_ack"
        for sub_id, variables in (("all", {}), ("box", {"f": {"bbox": BOX}})):
            payload = {"query": SUBSCRIBE, "variables": variables}
            await ws.send(orjson.dumps({"id": sub_id, "type": "subscribe", "payload": payload}).decode())
        await ws.send(orjson.dumps({"type": "ping"}).decode())
        assert (await recv(ws))["type"] == "pong"  # both subscriptions attached
        conn = await asyncpg.connect(original_db.url)
        try:
            ids = [
                await conn.fetchval(
                    "INSERT INTO atlas4d.observations_core (t, lat, lon, geom, source_type) VALUES ($1, $2, $3, "
                    "CASE WHEN $4::float8 IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint($4, $5::float8), 4326) END, "
                    "'manual') RETURNING id",
                    datetime.now(UTC),
                    lat,
                    lon,
                    geom[0] if geom else None,
                    geom[1] if geom else None,
                )
                for lat, lon, geom in ROWS
            ]
        finally:
            await conn.close()
        try:
            got: dict[str, dict[int, tuple[float | None, float | None]]] = {"all": {}, "box": {}}
            while len(got["all"]) < len(ROWS) or len(got["box"]) < 2:
                message = await recv(ws)
                assert message["type"] == "next", message
                event = message["payload"]["data"]["observationAdded"]
                got[message["id"]][int(event["id"])] = (event["lon"], event["lat"])
        finally:
            await original_db.forget_test_rows()
    inside, outside, nowhere, by_geom = ids
    assert got["all"] == {
        inside: (27.5, 42.5),
        outside: (25.0, 41.0),
        nowhere: (None, None),
        by_geom: (27.45, 42.48),
    }
    assert got["box"] == {inside: (27.5, 42.5), by_geom: (27.45, 42.48)}
