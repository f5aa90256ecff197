"""The gateway's HTTP app and CLI, end to end over real HTTP against the scenario subgraphs."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fed_servers import free_port
from fed_stack import Stack
from starlette.applications import Starlette
from typer.testing import CliRunner

from atlas4d.cli import app as cli
from atlas4d.federation.app import create_app
from atlas4d.federation.gateway import Gateway


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, reached through an ASGI transport."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield client


async def test_health_only_once_a_supergraph_is_loaded(stack: Stack) -> None:
    async with serve(create_app()) as client:
        assert (await client.get("/health")).status_code == 503
    async with serve(create_app(loader=lambda: Gateway.from_supergraph(stack.supergraph_sdl))) as client:
        assert (await client.get("/health")).status_code == 200
        assert (await client.post("/graphql", json={"query": "{ __typename }"})).json() == {
            "data": {"__typename": "Query"}
        }


async def test_get_post_graphiql_and_introspection_switch(stack: Stack) -> None:
    async with serve(create_app(loader=lambda: Gateway.from_supergraph(stack.supergraph_sdl))) as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        got = await client.get("/graphql", params={"query": "{ __typename }"})
        assert got.json() == {"data": {"__typename": "Query"}}
        mutation = await client.get("/graphql", params={"query": 'mutation { addReview(body: "x") { seq } }'})
        assert mutation.status_code == 405
        assert mutation.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
        intro = (await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})).json()
        assert intro == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
        json_type = {"content-type": "application/json"}
        assert (await client.post("/graphql", content=b"nope", headers=json_type)).status_code == 400
        # a body browsers may send cross-site without a preflight is refused (CSRF)
        form = {"content-type": "application/x-www-form-urlencoded"}
        assert (
            await client.post("/graphql", content=b'{"query": "{ __typename }"}', headers=form)
        ).status_code == 415
    closed = create_app(loader=lambda: Gateway.from_supergraph(stack.supergraph_sdl, introspection=False))
    async with serve(closed) as client:
        answer = (await client.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})).json()
        assert (
            "data" not in answer and answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        )


def test_cli_compose_matches_apollo_and_plan_prints(stack: Stack, tmp_path: Path) -> None:
    args = ["compose", "-o", str(tmp_path / "supergraph.graphql")]
    for name, sdl in stack.sdls.items():
        (tmp_path / f"{name}.graphql").write_text(sdl)
        args += [
            "--subgraph",
            f"{name}={tmp_path / f'{name}.graphql'}",
            "--routing-url",
            f"{name}={stack.urls[name]}",
        ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "supergraph.graphql").read_text().strip() == stack.supergraph_sdl.strip()
    (tmp_path / "q.graphql").write_text("{ topProducts { reviews { body } } }")
    plan = CliRunner().invoke(
        cli, ["plan", "--supergraph", str(tmp_path / "supergraph.graphql"), str(tmp_path / "q.graphql")]
    )
    assert plan.exit_code == 0 and 'Fetch(service: "reviews")' in plan.output
    as_json = CliRunner().invoke(
        cli,
        ["plan", "--supergraph", str(tmp_path / "supergraph.graphql"), "--json", str(tmp_path / "q.graphql")],
    )
    assert as_json.exit_code == 0 and '"kind": "QueryPlan"' in as_json.output


def test_cli_compose_reports_broken_rules(tmp_path: Path) -> None:
    link = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])\n'
    (tmp_path / "a.graphql").write_text(
        link + 'type Query { p: P } type P @key(fields: "id") { id: ID! n: Int }'
    )
    (tmp_path / "b.graphql").write_text(link + 'type P @key(fields: "id") { id: ID! n: Int }')
    result = CliRunner().invoke(
        cli, ["compose", "-s", f"a={tmp_path / 'a.graphql'}", "-s", f"b={tmp_path / 'b.graphql'}"]
    )
    assert result.exit_code == 1
    assert "INVALID_FIELD_SHARING" in result.output and '"P.n"' in result.output


async def test_cli_gateway_serves_an_apollo_supergraph(stack: Stack, tmp_path: Path) -> None:
    """`atlas4d gateway --supergraph` on @apollo/composition's file, over the JS and Python subgraphs."""
    (tmp_path / "supergraph.graphql").write_text(stack.supergraph_sdl)
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from atlas4d.cli import main; main()",
        "gateway",
        "--supergraph",
        str(tmp_path / "supergraph.graphql"),
        "--port",
        str(port),
    ]
    process = await asyncio.to_thread(
        subprocess.Popen, command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if (await client.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "gateway did not come up"
                await asyncio.sleep(0.1)
            query = "{ topProducts(first: 2) { name reviews { author { name } } } }"
            ours = (await client.post("/graphql", json={"query": query})).json()
            async with httpx.AsyncClient() as apollo:
                theirs = (await apollo.post(stack.apollo_url, json={"query": query})).json()
            assert ours == theirs and ours["data"]["topProducts"][0]["reviews"][0]["author"]["name"]
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


async def test_sse_single_connection_mode_requests_are_served(stack: Stack) -> None:
    """`atlas4d gateway`'s /graphql takes the graphql-sse single connection mode's requests (the stream itself is
    tested against `atlas4d serve`, tests/streaming/test_sse.py, through the same streaming face)."""
    token_header = "x-graphql-event-stream-token"
    async with serve(create_app(loader=lambda: Gateway.from_supergraph(stack.supergraph_sdl))) as client:
        reserved = await client.put("/graphql")
        assert reserved.status_code == 201
        headers = {token_header: reserved.text}
        body = {"query": "{ __typename }", "extensions": {"operationId": "q"}}
        assert (await client.post("/graphql", json=body, headers=headers)).status_code == 202
        assert (
            await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
        ).status_code == 400
        assert (
            await client.delete("/graphql", params={"operationId": "q"}, headers=headers)
        ).status_code == 200
        unknown = await client.post("/graphql", json=body, headers={token_header: "nope"})
        assert unknown.status_code == 404
        assert unknown.json()["errors"][0]["extensions"]["code"] == "STREAM_NOT_FOUND"
        # without a token, POST is the plain GraphQL over HTTP face as before
        assert (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 200
