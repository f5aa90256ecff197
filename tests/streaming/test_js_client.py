"""The `graphql-ws` npm client (as browsers use it through Apollo Client, urql, GraphiQL) receives live
observations matching its bbox from a real `atlas4d serve`."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from live_server import in_process

JS = Path(__file__).resolve().parents[1] / "js"
BOX = {"minLon": 27.0, "minLat": 42.0, "maxLon": 28.0, "maxLat": 43.0}


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with in_process(database_url) as base:
        yield base


@pytest.mark.npm
async def test_graphql_ws_client_receives_matching_observations(server: str, pool: asyncpg.Pool) -> None:
    entity = uuid.uuid4()
    await pool.execute("INSERT INTO atlas4d.entities (id, kind) VALUES ($1, 'bus')", entity)
    url = server.replace("http://", "ws://") + "/graphql"
    args = [str(JS / "graphql-ws-client.mjs"), url, "3", json.dumps({"f": {"bbox": BOX}})]
    process = await asyncio.create_subprocess_exec(
        "node", *args, cwd=JS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        ready = await asyncio.wait_for(process.stdout.readline(), 60)
        assert ready.decode().strip() == "ready"
        for i, lon in enumerate([27.1, 31.0, 27.2, 27.3]):  # the second is outside the box
            await pool.execute(
                "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, entity_id) VALUES "
                "(now() + $1 * interval '1 s', $2, 42.5, ST_SetSRID(ST_MakePoint($2, 42.5), 4326), $3)",
                i,
                lon,
                entity,
            )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    events = [
        json.loads(line)["data"]["observationAdded"] for line in out.decode().splitlines() if line.strip()
    ]
    assert [(e["lon"], e["lat"], e["entity"]) for e in events] == [
        (x, 42.5, {"kind": "bus"}) for x in (27.1, 27.2, 27.3)
    ]
