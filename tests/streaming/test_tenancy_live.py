"""Subscriptions under tenancy (row-level security, migration 0008) on a real `atlas4d serve` in production mode:
two tenants (and a third writing through SQL) write interleaved rows; each subscriber receives exactly its own
tenant's rows — nested fields included — whether it authenticated with the upgrade request's headers or in
its connection_init payload (what browsers must do); the other faces of the connection refuse without
credentials or with bad ones, and a mutation over the socket passes the same field authorization as over HTTP."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
import websockets
from ws_client import Client, connect

from atlas4d.app import create_app
from atlas4d.settings import Settings
from live_server import InProcess

SECRET = "streaming-tenancy-secret-long-enough-for-hs256"
BOX = {"minLon": 10.0, "minLat": 50.0, "maxLon": 11.0, "maxLat": 51.0}
LIVE = "subscription($f: ObservationFilter) { observationAdded(filter: $f) { id entityId entity { name } } }"
INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
T0 = datetime(2026, 7, 1, tzinfo=UTC)
# the test database is shared by the session: tenant names of our own (tests/auth counts its tenants' rows)
RUN = uuid.uuid4().hex[:8]
ACME, GLOBEX, INITECH = f"acme-{RUN}", f"globex-{RUN}", f"initech-{RUN}"


def bearer(tenant: str | None, *roles: str, user: str = "user") -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": f"{tenant}-{user}", "iat": now, "exp": now + 600, "roles": list(roles)}
    if tenant is not None:
        claims["tenant"] = tenant
    return "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def served(database_url: str) -> Iterator[InProcess]:
    """In this process (its hub can be looked at), over real sockets."""
    settings = Settings(
        database_url=database_url,
        tenancy=True,
        env="production",
        anonymous_role="",
        jwt_secret=SECRET,
        gc_freeze=False,
    )
    with InProcess(create_app(settings)) as server:
        yield server


@pytest.fixture(scope="module")
def server(served: InProcess) -> str:
    return served.base


async def write(http: httpx.AsyncClient, tenant: str, entity: str, seconds: range) -> None:
    auth = {"authorization": bearer(tenant, "admin")}
    items = [
        {"time": (T0 + timedelta(seconds=s)).isoformat(), "lon": 10.5, "lat": 50.5, "entityId": entity}
        for s in seconds
    ]
    r = await http.post("/graphql", json={"query": INGEST, "variables": {"o": items}}, headers=auth)
    assert r.status_code == 200 and "errors" not in r.json(), r.text


async def received_until(client: Client, entity: str, count: int) -> list[dict[str, Any]]:
    """Every event up to the `count`-th one of `entity` (rows committed before it have all been matched)."""
    out, own = [], 0
    while own < count:
        message = await client.recv(20)
        assert message["type"] == "next", message
        event = message["payload"]["data"]["observationAdded"]
        assert event["entityId"] == entity, f"a row of another tenant: {event}"
        out.append(event)
        own += 1
    return out


async def test_each_subscriber_receives_only_its_tenants_rows(server: str, pool: asyncpg.Pool) -> None:
    entities = {t: str(uuid.uuid4()) for t in (ACME, GLOBEX, INITECH)}
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        for tenant in (ACME, GLOBEX):
            r = await http.post(
                "/graphql",
                json={
                    "query": "mutation($e: [EntityInput!]!) { createEntities(entities: $e) { id } }",
                    "variables": {
                        "e": [{"id": entities[tenant], "kind": "truck", "name": f"{tenant}-secret"}]
                    },
                },
                headers={"authorization": bearer(tenant, "admin")},
            )
            assert "errors" not in r.json(), r.text
        async with (
            connect(server) as acme,  # credentials in connection_init (browsers)
            connect(server, headers={"authorization": bearer(GLOBEX, "reader")}) as globex,  # upgrade
        ):
            await acme.init({"Authorization": bearer(ACME, "reader")})
            await globex.init()
            for client in (acme, globex):
                await client.subscribe(LIVE, {"f": {"bbox": BOX}})
            for round_ in range(3):  # interleaved commits of every tenant
                span = range(10 * round_, 10 * round_ + 3)
                await write(http, ACME, entities[ACME], span)
                await write(http, GLOBEX, entities[GLOBEX], span)
                await pool.execute(  # a third tenant, through SQL as the table owner
                    "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, entity_id, tenant_id) "
                    "VALUES ($1, 10.5, 50.5, ST_SetSRID(ST_MakePoint(10.5, 50.5), 4326), $2, $3)",
                    T0 + timedelta(seconds=10 * round_),
                    uuid.UUID(entities[INITECH]),
                    INITECH,
                )
            # sentinels: once a subscriber has its own, every earlier commit has been matched for it
            await write(http, ACME, entities[ACME], range(99, 100))
            await write(http, GLOBEX, entities[GLOBEX], range(99, 100))
            got = {
                ACME: await received_until(acme, entities[ACME], 10),
                GLOBEX: await received_until(globex, entities[GLOBEX], 10),
            }
    for tenant, events in got.items():
        own = await pool.fetch(
            "SELECT id FROM atlas4d.observations_core WHERE tenant_id = $1 AND entity_id = $2 ORDER BY id",
            tenant,
            uuid.UUID(entities[tenant]),
        )
        assert [int(e["id"]) for e in events] == [r["id"] for r in own]
        assert {e["entityId"] for e in events} == {entities[tenant]}
        assert {e["entity"]["name"] for e in events} == {f"{tenant}-secret"}


async def test_a_tenants_principals_share_one_rendering_and_tenants_never_do(
    served: InProcess, pool: asyncpg.Pool
) -> None:
    """Three users of acme and one of globex subscribe with one query: the hub renders each event once per
    tenant (acme's three feeds share a renderer, globex's is another), and every user still receives exactly
    its own tenant's rows, nested fields included."""
    entities = {t: str(uuid.uuid4()) for t in (ACME, GLOBEX)}
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
        for tenant in (ACME, GLOBEX):
            r = await http.post(
                "/graphql",
                json={
                    "query": "mutation($e: [EntityInput!]!) { createEntities(entities: $e) { id } }",
                    "variables": {"e": [{"id": entities[tenant], "kind": "truck", "name": f"{tenant}-twin"}]},
                },
                headers={"authorization": bearer(tenant, "admin")},
            )
            assert "errors" not in r.json(), r.text
        users = [(ACME, "ann"), (ACME, "bob"), (ACME, "cid"), (GLOBEX, "dee")]
        async with contextlib.AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(connect(served.base)) for _ in users]
            for client, (tenant, user) in zip(clients, users, strict=True):
                await client.init({"Authorization": bearer(tenant, "reader", user=user)})
                await client.subscribe(LIVE, {"f": {"bbox": BOX}})
            feeds = served.app.state.stream_hub._feeds["observations"]
            renderers = {tenant: {id(f.renderer) for f in feeds.get(tenant, ())} for tenant in (ACME, GLOBEX)}
            assert len(feeds[ACME]) == 3 and len(renderers[ACME]) == 1  # three principals, one rendering
            assert len(feeds[GLOBEX]) == 1 and renderers[GLOBEX].isdisjoint(renderers[ACME])
            for round_ in range(2):
                await write(http, ACME, entities[ACME], range(10 * round_, 10 * round_ + 3))
                await write(http, GLOBEX, entities[GLOBEX], range(10 * round_, 10 * round_ + 3))
            await write(http, ACME, entities[ACME], range(99, 100))
            await write(http, GLOBEX, entities[GLOBEX], range(99, 100))
            got = [await received_until(c, entities[t], 7) for c, (t, _) in zip(clients, users, strict=True)]
    for events, (tenant, _) in zip(got, users, strict=True):
        own = await pool.fetch(
            "SELECT id FROM atlas4d.observations_core WHERE tenant_id = $1 AND entity_id = $2 ORDER BY id",
            tenant,
            uuid.UUID(entities[tenant]),
        )
        assert [int(e["id"]) for e in events] == [r["id"] for r in own]
        assert {e["entity"]["name"] for e in events} == {f"{tenant}-twin"}


async def test_connection_init_without_good_credentials_is_refused(server: str) -> None:
    async with connect(server) as client:  # production: no anonymous access
        await client.send({"type": "connection_init"})
        assert await client.close_code() == 4403
        assert "credentials" in (client.ws.close_reason or "")
    for payload in (
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": bearer(None, "reader")},  # tenancy on: a tenant is required
        {"headers": {"X-API-Key": "a4d_nope"}},
    ):
        async with connect(server) as client:
            await client.send({"type": "connection_init", "payload": payload})
            assert await client.close_code() == 4403, payload
    with pytest.raises(websockets.InvalidStatus) as refused:  # bad credentials on the upgrade itself
        async with connect(server, headers={"authorization": "Bearer not-a-token"}):
            pass
    assert refused.value.response.status_code == 403


async def test_a_mutation_over_the_socket_is_authorized_like_over_http(server: str) -> None:
    async with connect(server) as client:
        await client.init({"headers": {"Authorization": bearer(ACME, "reader")}})
        item = {"time": T0.isoformat(), "lon": 10.5, "lat": 50.5}
        await client.send(
            {"id": "m", "type": "subscribe", "payload": {"query": INGEST, "variables": {"o": [item]}}}
        )
        message = await client.recv()
        assert message["type"] == "next", message
        assert message["payload"]["data"] is None  # the non-null root field, removed for `reader`
        assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHORIZED_FIELD_OR_TYPE"


FENCE_EVENTS = "subscription { geofenceEvents { kind geofenceId entityId geofence { name } } }"


async def test_module_subscriptions_see_only_their_tenants_rows(server: str, pool: asyncpg.Pool) -> None:
    """mobility's geofenceEvents (atlas4d.streaming.derived): the module's SQL runs under the subscribers'
    tenant, so neither another tenant's geofence nor another tenant's vehicle produces an event."""
    fences, cars = {}, {}
    for tenant in (ACME, GLOBEX):  # the same square for both tenants
        fences[tenant], cars[tenant] = uuid.uuid4(), str(uuid.uuid4())
        await pool.execute(
            "INSERT INTO atlas4d_mobility.geofences (id, name, speed_limit_kmh, geom, tenant_id) "
            "VALUES ($1, $2, 50, ST_MakeEnvelope(12.0, 52.0, 12.5, 52.5, 4326), $3)",
            fences[tenant],
            f"{tenant}-fence",
            tenant,
        )

    async def move(http: httpx.AsyncClient, tenant: str, second: int, lon: float) -> None:
        item = {"time": (T0 + timedelta(seconds=second)).isoformat(), "lon": lon, "lat": 52.2}
        r = await http.post(
            "/graphql",
            json={"query": INGEST, "variables": {"o": [{**item, "entityId": cars[tenant]}]}},
            headers={"authorization": bearer(tenant, "admin")},
        )
        assert r.status_code == 200 and "errors" not in r.json(), r.text

    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        for tenant in (ACME, GLOBEX):
            await move(http, tenant, 0, 11.0)  # outside: every later move has a previous observation
        async with (
            connect(server, headers={"authorization": bearer(ACME, "reader")}) as acme,
            connect(server, headers={"authorization": bearer(GLOBEX, "reader")}) as globex,
        ):
            for client in (acme, globex):
                await client.init()
                await client.subscribe(FENCE_EVENTS)
            # interleaved: each subscriber's last own event comes after the other tenant's moves
            for second, tenant, lon in [
                (1, GLOBEX, 12.2), (1, ACME, 12.2), (2, GLOBEX, 13.0), (2, ACME, 13.0), (3, GLOBEX, 12.3)
            ]:  # fmt: skip
                await move(http, tenant, second, lon)
            got = {
                ACME: [m["payload"]["data"]["geofenceEvents"] for m in await acme.events(2)],
                GLOBEX: [m["payload"]["data"]["geofenceEvents"] for m in await globex.events(3)],
            }
            for client in (acme, globex):
                await client.barrier()
    for tenant, events in got.items():
        assert [e["kind"] for e in events] == ["ENTERED", "LEFT", "ENTERED"][: len(events)]
        assert {(e["geofenceId"], e["entityId"]) for e in events} == {(str(fences[tenant]), cars[tenant])}
        assert {e["geofence"]["name"] for e in events} == {f"{tenant}-fence"}


async def test_an_sse_reservation_answers_only_to_its_principal(server: str) -> None:
    """graphql-sse single connection mode: a stream token is no credential — another tenant's (or anonymous)
    request carrying it is refused as for an unknown token, and the owner's operations run as the owner."""
    token_header = "x-graphql-event-stream-token"
    acme = {"authorization": bearer(ACME, "reader")}
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        assert (await http.put("/graphql")).status_code == 401  # production: no anonymous reservation
        reserved = await http.put("/graphql", headers=acme)
        assert reserved.status_code == 201
        token = reserved.text
        body = {"query": "{ __typename }", "extensions": {"operationId": "q"}}
        now = int(time.time())
        colleague = {"sub": "someone-else", "tenant": ACME, "iat": now, "exp": now + 600, "roles": ["admin"]}
        for other in (
            {"authorization": bearer(GLOBEX, "admin")},  # another tenant
            {"authorization": "Bearer " + jwt.encode(colleague, SECRET, algorithm="HS256")},  # same tenant
        ):
            r = await http.post("/graphql", json=body, headers={**other, token_header: token})
            assert r.status_code == 404 and r.json()["errors"][0]["extensions"]["code"] == "STREAM_NOT_FOUND"
            r = await http.get(
                "/graphql", headers={**other, token_header: token, "accept": "text/event-stream"}
            )
            assert r.status_code == 404
        r = await http.post("/graphql", json=body, headers={**acme, token_header: token})
        assert r.status_code == 202, r.text
