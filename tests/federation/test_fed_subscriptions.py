"""Subscriptions through an `atlas4d gateway` process over remote subgraphs, on real sockets: core and mobility
as `atlas4d serve --subgraph` processes, and a JS subgraph (@apollo/subgraph + graphql-ws, tests/js/
alerts-subgraph.js) that owns `alertRaised` and adds `Entity.riskScore`. The root field's subscription goes to its
subgraph over graphql-transport-ws (the subgraph secret on the upgrade and in connection_init); each event's
entity fields come from the other subgraphs by `_entities`, one request per subgraph per event."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import orjson
import pytest
import websockets
from fed_servers import JS_DIR, NodeProcess, ThreadedServer

from atlas4d.federation.app import create_app
from atlas4d.federation.compose import SubgraphSource, compose
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.subscriptions import PlannedLiveService
from atlas4d.settings import Settings
from atlas4d.web.subgraph_access import HEADER
from live_server import MODERN_ACCEPT, free_port, gateway, running

pytestmark = pytest.mark.npm

SECRET = "gateway-subscriptions-secret"
JWT_SECRET = "gateway-subscriptions-jwt-secret-0123456789"
INGEST = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
ALERTS = "subscription { alertRaised { id message entity { id kind riskScore vehicle { kind } } } }"


@dataclass
class Stack:
    gateway: str  # an `atlas4d gateway` process
    alerts: NodeProcess
    in_process: str  # the same gateway app in this process (its upstream tasks can be counted)
    live: PlannedLiveService


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with ExitStack() as stop:
        urls: dict[str, str] = {}
        for name in ("core", "mobility"):
            port = free_port()
            env = {
                "ATLAS4D_DATABASE_URL": database_url,
                "ATLAS4D_PORT": str(port),
                "ATLAS4D_SUBGRAPH_SECRET": SECRET,
                "ATLAS4D_JWT_SECRET": JWT_SECRET,  # the issuer's key: subgraphs verify forwarded tokens too
            }
            base = stop.enter_context(running(["serve", "--subgraph", name], port, env))
            urls[name] = base + "/graphql"
        alerts = NodeProcess("alerts-subgraph.js")
        stop.callback(alerts.stop)
        urls["alerts"] = alerts.url
        sources = []
        for name, url in urls.items():
            r = httpx.post(url, json={"query": "{ _service { sdl } }"}, headers={HEADER: SECRET})
            sources.append(SubgraphSource(name, url, r.json()["data"]["_service"]["sdl"]))
        path: Path = tmp_path_factory.mktemp("supergraph") / "supergraph.graphql"
        path.write_text(compose(sources))
        app = create_app(
            Gateway.from_supergraph(path.read_text(), subgraph_headers={HEADER: SECRET}),
            settings=Settings(jwt_secret=JWT_SECRET),
        )
        server = ThreadedServer(app)
        server.server.config.lifespan = "on"  # builds the endpoint and the subscription service
        stop.callback(server.start().stop)
        live = app.state.gateway_holder.live
        in_process = f"http://127.0.0.1:{server.port}"
        yield Stack(stop.enter_context(gateway(path, subgraph_secret=SECRET)), alerts, in_process, live)


class Client:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def recv(self) -> dict[str, Any]:
        message: dict[str, Any] = orjson.loads(await asyncio.wait_for(self.ws.recv(), 30))
        return message

    async def subscribe(self, sub_id: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.send(
            {"id": sub_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        await self.send({"type": "ping"})  # handled in order: once the pong is back, the subscription runs
        assert (await self.recv())["type"] == "pong"

    async def payloads(self, count: int) -> list[dict[str, Any]]:
        out = []
        while len(out) < count:
            message = await self.recv()
            assert message["type"] == "next", message
            out.append(message["payload"])
        return out


@asynccontextmanager
async def client(base: str, init: dict[str, Any] | None = None) -> AsyncIterator[Client]:
    url = base.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        c = Client(ws)
        await c.send({"type": "connection_init", "payload": init or {}})
        assert (await c.recv())["type"] == "connection_ack"
        yield c


async def vehicle(pool: asyncpg.Pool, kind: str) -> str:
    entity = uuid.uuid4()
    await pool.execute("INSERT INTO atlas4d.entities (id, kind) VALUES ($1, 'vehicle')", entity)
    await pool.execute(
        "INSERT INTO atlas4d_mobility.vehicles (entity_id, kind, label, capacity) VALUES ($1, $2, 'x', 4)",
        entity,
        kind,
    )
    return str(entity)


async def ingest(base: str, entity: str, seconds: list[int]) -> None:
    """Through the gateway (a mutation planned to core, over HTTP)."""
    items = [
        {"time": f"2026-08-01T00:00:{s:02d}Z", "lon": 27.5, "lat": 42.5, "entityId": entity} for s in seconds
    ]
    async with httpx.AsyncClient(base_url=base, headers=MODERN_ACCEPT, timeout=30) as http:
        r = await http.post("/graphql", json={"query": INGEST, "variables": {"o": items}})
    assert r.json()["data"]["ingestObservations"]["accepted"] == len(items), r.text


def until(check: Any, what: str) -> None:
    """Wait for a condition another process reaches on its own (sockets closing); fail after 20 s."""
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


async def test_core_events_through_a_remote_gateway_carry_mobility_and_js_fields(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    bus = await vehicle(pool, "bus")
    query = """subscription($f: ObservationFilter) {
      observationAdded(filter: $f) { time entity { id vehicle { kind } riskScore } }
    }"""
    async with client(stack.gateway) as c:
        await c.subscribe("1", query, {"f": {"entityIds": [bus]}})
        stack.alerts.command("reset")
        await ingest(stack.gateway, bus, [1, 2, 3])
        events = await c.payloads(3)
        counted = stack.alerts.command("count")
    risk = (ord(bus[0]) % 10) / 10
    assert [e["data"]["observationAdded"]["entity"] for e in events] == [
        {"id": bus, "vehicle": {"kind": "BUS"}, "riskScore": risk}
    ] * 3
    assert [e["data"]["observationAdded"]["time"][17:19] for e in events] == ["01", "02", "03"]
    # at most one `_entities` request to the JS subgraph per event (mobility's likewise; the JS one counts
    # them): fewer when events queue up at the gateway, as their entity fetches then share one request
    assert 1 <= counted["requests"] <= 3


async def test_a_js_subgraph_owns_the_root_field_and_core_resolves_its_entities(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    truck = await vehicle(pool, "truck")
    async with client(stack.gateway) as c:
        await c.subscribe("a", ALERTS)
        assert stack.alerts.command(f"emit {truck} brakes hot")["delivered"] == 1
        (event,) = await c.payloads(1)
        seen = stack.alerts.command("count")
        await c.send({"id": "a", "type": "complete"})
        # the client completed: the gateway stops its upstream subscription and closes that socket
        until(lambda: stack.alerts.command("count")["sockets"] == 0, "the upstream socket stayed open")
    assert event == {
        "data": {
            "alertRaised": {
                "id": event["data"]["alertRaised"]["id"],
                "message": "brakes hot",
                "entity": {
                    "id": truck,
                    "kind": "vehicle",
                    "riskScore": (ord(truck[0]) % 10) / 10,
                    "vehicle": {"kind": "TRUCK"},
                },
            }
        }
    }
    assert seen["secret"] == SECRET  # on the upgrade request, as on every subgraph request
    assert seen["init"][HEADER] == SECRET  # and in connection_init
    assert stack.alerts.command("count")["subscriptions"] == 0


async def test_an_entity_fetch_failing_gives_a_partial_event_not_a_dead_stream(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    taxi = await vehicle(pool, "taxi")
    query = """subscription($f: ObservationFilter) {
      observationAdded(filter: $f) { time entity { vehicle { kind } riskScore } }
    }"""
    async with client(stack.gateway) as c:
        await c.subscribe("p", query, {"f": {"entityIds": [taxi]}})
        stack.alerts.command("fail on")
        try:  # three events at once: their entity fetches may share a request; the errors stay each event's
            await ingest(stack.gateway, taxi, [10, 11, 12])
            failed = await c.payloads(3)
        finally:
            stack.alerts.command("fail off")
        await ingest(stack.gateway, taxi, [13])
        (fine,) = await c.payloads(1)
    assert [e["data"]["observationAdded"]["time"][17:19] for e in failed] == ["10", "11", "12"]
    for event in failed:
        assert event["data"]["observationAdded"]["entity"] == {"vehicle": {"kind": "TAXI"}, "riskScore": None}
        assert [(e["path"], e["extensions"]["serviceName"]) for e in event["errors"]] == [
            (["observationAdded", "entity", "riskScore"], "alerts")
        ]
    assert "errors" not in fine
    assert fine["data"]["observationAdded"]["entity"]["riskScore"] == (ord(taxi[0]) % 10) / 10


async def test_the_subgraph_dropping_its_socket_ends_the_subscription_with_a_typed_error(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    bus = await vehicle(pool, "bus")
    async with client(stack.gateway) as c:
        await c.subscribe("d", ALERTS)
        stack.alerts.command(f"emit {bus} before")
        (before,) = await c.payloads(1)
        assert before["data"]["alertRaised"]["message"] == "before"
        assert stack.alerts.command("drop")["dropped"] == 1
        last, done = await c.recv(), await c.recv()
        assert last["type"] == "next" and last["id"] == "d"
        assert last["payload"]["errors"] == [
            {
                "message": 'Subgraph "alerts" could not be reached or closed the subscription.',
                "extensions": {"code": "SUBGRAPH_UNAVAILABLE", "serviceName": "alerts"},
            }
        ]
        assert done == {"id": "d", "type": "complete"}
        # the connection lives on: a new subscription on it works
        await c.subscribe("e", ALERTS)
        stack.alerts.command(f"emit {bus} after")
        (after,) = await c.payloads(1)
    assert after["data"]["alertRaised"]["message"] == "after"


async def test_no_upstream_socket_or_task_outlives_its_client(stack: Stack, pool: asyncpg.Pool) -> None:
    bus = await vehicle(pool, "bus")
    sockets = lambda: stack.alerts.command("count")["sockets"]  # noqa: E731
    # completed by the client
    async with client(stack.in_process) as c:
        await c.subscribe("1", ALERTS)
        await c.subscribe("2", "subscription { alertRaised { message } }")  # another operation: its own
        assert len(stack.live.upstreams) == 2 and sockets() == 2
        stack.alerts.command(f"emit {bus} one")
        assert len(await c.payloads(2)) == 2
        await c.send({"id": "1", "type": "complete"})
        until(lambda: sockets() == 1 and len(stack.live.upstreams) == 1, "subscription 1 kept its upstream")
        # the client goes away without completing subscription 2
    until(lambda: sockets() == 0 and not stack.live.upstreams, "a disconnected client's upstream lived on")
    assert stack.live.per_principal == {} or all(n == 0 for n in stack.live.per_principal.values())


async def test_the_clients_credentials_reach_the_subgraphs(stack: Stack, pool: asyncpg.Pool) -> None:
    now = int(time.time())
    claims = {"sub": "ops", "iat": now, "exp": now + 600}
    bearer = "Bearer " + jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    bus = await vehicle(pool, "bus")
    query = "subscription($f: ObservationFilter) { observationAdded(filter: $f) { entity { riskScore } } }"
    async with client(stack.in_process, {"Authorization": bearer}) as c:
        await c.subscribe("1", ALERTS)
        on_subscribe = stack.alerts.command("count")
        await c.subscribe("2", query, {"f": {"entityIds": [bus]}})
        await ingest(stack.gateway, bus, [20])
        (event,) = await c.payloads(1)
        on_entities = stack.alerts.command("count")
    assert event["data"]["observationAdded"]["entity"]["riskScore"] is not None
    # verified by the gateway, then forwarded (ATLAS4D_PROPAGATE_HEADERS: authorization): in the upstream
    # subscription's connection_init, with the subgraph secret, and on each event's `_entities` request
    assert on_subscribe["init"]["authorization"] == bearer
    assert on_subscribe["init"][HEADER] == SECRET
    assert on_entities["authorization"] == bearer


async def test_identical_subscriptions_share_one_upstream_and_one_plan_run_per_event(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    bus = await vehicle(pool, "bus")
    sockets = lambda: stack.alerts.command("count")["sockets"]  # noqa: E731
    query = "subscription { alertRaised { message entity { kind } } }"  # kind: core's, by _entities
    core = stack.live.gateway.subgraphs["core"]
    async with client(stack.in_process) as a, client(stack.in_process) as b:
        await a.subscribe("1", query)
        await b.subscribe("1", query)
        await b.subscribe("2", query)
        assert sockets() == 1 and len(stack.live.upstreams) == 1
        core.requests = 0
        stack.alerts.command(f"emit {bus} shared")
        got = [*(await a.payloads(1)), *(await b.payloads(2))]
        assert core.requests == 1  # one `_entities` for the three clients
        assert len({orjson.dumps(p) for p in got}) == 1
        assert got[0] == {"data": {"alertRaised": {"message": "shared", "entity": {"kind": "vehicle"}}}}
        await b.send({"id": "1", "type": "complete"})
        await a.send({"id": "1", "type": "complete"})
        await a.send({"type": "ping"})
        assert (await a.recv())["type"] == "pong"
        assert sockets() == 1  # b's second subscription still uses it
        stack.alerts.command(f"emit {bus} still")
        (last,) = await b.payloads(1)
        assert last["data"]["alertRaised"]["message"] == "still"
        await b.send({"id": "2", "type": "complete"})
        until(lambda: sockets() == 0 and not stack.live.upstreams, "the shared upstream outlived its clients")
        assert stack.live.shared == {}


async def test_over_sse_events_flow_and_an_upstream_failure_ends_the_stream(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    bus = await vehicle(pool, "bus")
    body = {"query": "subscription { alertRaised { message entity { kind } } }"}
    async with (
        httpx.AsyncClient(base_url=stack.in_process, timeout=30) as http,
        http.stream("POST", "/graphql", json=body, headers={"accept": "text/event-stream"}) as response,
    ):
        assert response.status_code == 200
        lines = response.aiter_lines()
        assert await anext(lines) == ":"  # attached
        stack.alerts.command(f"emit {bus} over sse")
        events: list[tuple[str, str]] = []
        kind = ""
        async for line in lines:
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data:"):
                events.append((kind, line[5:].strip()))
                if kind == "complete":
                    break
                if len(events) == 1:
                    assert stack.alerts.command("drop")["dropped"] == 1
    assert [k for k, _ in events] == ["next", "next", "complete"]
    assert orjson.loads(events[0][1]) == {
        "data": {"alertRaised": {"message": "over sse", "entity": {"kind": "vehicle"}}}
    }
    assert orjson.loads(events[1][1])["errors"][0]["extensions"] == {
        "code": "SUBGRAPH_UNAVAILABLE",
        "serviceName": "alerts",
    }
    until(lambda: not stack.live.upstreams, "the SSE subscription's upstream lived on")


async def test_sse_single_connection_mode_completes_an_operation_whose_upstream_ended(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    bus = await vehicle(pool, "bus")
    async with httpx.AsyncClient(base_url=stack.in_process, timeout=30) as http:
        token = (await http.put("/graphql")).text
        headers = {"x-graphql-event-stream-token": token}
        async with http.stream(
            "GET", "/graphql", headers={**headers, "accept": "text/event-stream"}
        ) as response:
            lines = response.aiter_lines()
            body = {"query": ALERTS, "extensions": {"operationId": "op1"}}
            assert (await http.post("/graphql", json=body, headers=headers)).status_code == 202
            stack.alerts.command(f"emit {bus} single")
            frames: list[tuple[str, dict[str, Any]]] = []
            kind = ""
            async for line in lines:
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data:") and line[5:].strip():
                    frames.append((kind, orjson.loads(line[5:])))
                    if kind == "complete":
                        break
                    if len(frames) == 1:
                        assert stack.alerts.command("drop")["dropped"] == 1
    assert [(k, f["id"]) for k, f in frames] == [("next", "op1"), ("next", "op1"), ("complete", "op1")]
    assert frames[0][1]["payload"]["data"]["alertRaised"]["message"] == "single"
    assert frames[1][1]["payload"]["errors"][0]["extensions"]["code"] == "SUBGRAPH_UNAVAILABLE"


async def test_the_graphql_ws_npm_client_subscribes_through_the_gateway_process(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    """What browsers run (Apollo Client, urql, GraphiQL use graphql-ws): its `ready` comes once the gateway
    answered a query sent after the subscribe, and the gateway answers the subscribe only after the core
    subgraph started it (a ping barrier upstream) — so rows written from then on all arrive."""
    bus = await vehicle(pool, "bus")
    url = stack.gateway.replace("http://", "ws://") + "/graphql"
    variables = json.dumps({"f": {"entityIds": [bus]}})
    process = await asyncio.create_subprocess_exec(
        "node",
        str(JS_DIR / "graphql-ws-client.mjs"),
        url,
        "2",
        variables,
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert (await asyncio.wait_for(process.stdout.readline(), 60)).decode().strip() == "ready"
        for lon in (27.1, 27.2):
            await pool.execute(
                "INSERT INTO atlas4d.observations_core (t, lon, lat, geom, entity_id) VALUES "
                "(now(), $1, 42.5, ST_SetSRID(ST_MakePoint($1, 42.5), 4326), $2)",
                lon,
                uuid.UUID(bus),
            )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, err.decode()
    events = [json.loads(line)["data"]["observationAdded"] for line in out.decode().splitlines() if line]
    assert [(e["lon"], e["entity"]) for e in events] == [
        (27.1, {"kind": "vehicle"}),
        (27.2, {"kind": "vehicle"}),
    ]
