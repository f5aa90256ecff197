"""GraphQL over HTTP as the spec and outside clients see it: graphql-http's audit against our real servers
(`atlas4d serve` and `atlas4d gateway`, 0 MUST failures and 0 SHOULD warnings), content negotiation, the same
request error whether one subgraph or several serve an operation, and `Allow` on 405."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from atlas4d.app import create_app
from atlas4d.modules.registry import discover
from atlas4d.platform import compose_local
from atlas4d.settings import Settings
from live_server import gateway, serve

JS_DIR = Path(__file__).resolve().parents[1] / "js"
NEW = "application/graphql-response+json"
LEGACY = "application/json"


def audit(url: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["node", str(JS_DIR / "http-audit.js"), url],
        capture_output=True,
        text=True,
        cwd=JS_DIR,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


def assert_conformant(url: str) -> None:
    results = audit(url)
    assert len(results) > 30, "the audit ran too few checks: is graphql-http installed?"
    must = [r for r in results if r["name"].startswith("MUST")]
    should = [r for r in results if r["name"].startswith("SHOULD")]
    assert len(must) >= 13 and len(should) >= 23
    failures = [r for r in must + should if r["status"] != "ok"]
    assert failures == [], json.dumps(failures, indent=1)
    # and every MAY we can do (the 400s for a malformed `extensions`, among others)
    optional = [r for r in results if r["name"].startswith("MAY") and r["status"] != "ok"]
    assert optional == [], json.dumps(optional, indent=1)


@pytest.mark.npm
def test_graphql_http_audit_on_atlas4d_serve_and_gateway(database_url: str, tmp_path: Path) -> None:
    """Every MUST and SHOULD of the spec on /graphql and a subgraph of `atlas4d serve`, and on `atlas4d gateway`
    in front of that server's subgraphs (mobility enabled, so the gateway plans across two of them)."""
    with serve(database_url, modules="mobility") as base:
        assert_conformant(f"{base}/graphql")
        assert_conformant(f"{base}/subgraphs/core/graphql")
        supergraph = tmp_path / "supergraph.graphql"
        supergraph.write_text(compose_local([discover()["mobility"].module], base_url=base))
        with gateway(supergraph) as gateway_base:
            assert_conformant(f"{gateway_base}/graphql")


@pytest.fixture(scope="module")
async def two_subgraphs(settings: Settings, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app with core and mobility: `entities { nodes { vehicle } }` needs both subgraphs."""
    app: Starlette = create_app(settings, dsn=database_url, modules=[discover()["mobility"].module])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


ONE = "query($n: Int) { observations(first: $n) { nodes { id } } }"
TWO = "query($n: Int) { entities(first: $n) { nodes { id vehicle { label } } } }"


@pytest.mark.parametrize(("accept", "status"), [(NEW, 400), (LEGACY, 200), ("*/*", 200)])
async def test_a_bad_variable_is_one_request_error_whatever_serves_it(
    two_subgraphs: httpx.AsyncClient, accept: str, status: int
) -> None:
    """Before: 200 + `data: null` when core alone served the operation, 400 without data when the planner
    did. Now both are request errors: no `data`, BAD_USER_INPUT, and the status the media type calls for."""
    bodies = []
    for query in (ONE, TWO):
        response = await two_subgraphs.post(
            "/graphql", json={"query": query, "variables": {"n": "five"}}, headers={"accept": accept}
        )
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(NEW if accept == NEW else LEGACY)
        body = response.json()
        assert "data" not in body, body
        assert {e["extensions"]["code"] for e in body["errors"]} == {"BAD_USER_INPUT"}
        assert "$n" in body["errors"][0]["message"]
        bodies.append(body)
    assert [len(b["errors"]) for b in bodies] == [1, 1]
    for query in (ONE, TWO):  # and a good variable runs on both
        ok = await two_subgraphs.post("/graphql", json={"query": query, "variables": {"n": 1}})
        assert ok.status_code == 200 and "errors" not in ok.json(), ok.text


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/core/graphql"])
async def test_negotiated_status_and_media_type(client: httpx.AsyncClient, path: str) -> None:
    """Apollo Client 4 sends `application/graphql-response+json,application/json;q=0.9`: it gets the new type,
    and 4xx for parse and validation errors, whose codes it reads from the body."""
    apollo = {"accept": f"{NEW},{LEGACY};q=0.9"}
    cases = [("{ nope }", "GRAPHQL_VALIDATION_FAILED"), ("{", "GRAPHQL_PARSE_FAILED")]
    for query, code in cases:
        new = await client.post(path, json={"query": query}, headers=apollo)
        assert (new.status_code, new.headers["content-type"]) == (400, NEW)
        assert "data" not in new.json() and new.json()["errors"][0]["extensions"]["code"] == code
        legacy = await client.post(path, json={"query": query}, headers={"accept": LEGACY})
        assert (legacy.status_code, legacy.headers["content-type"]) == (200, LEGACY)
        assert legacy.json() == new.json()
    ok = await client.post(path, json={"query": "{ __typename }"}, headers=apollo)
    assert (ok.status_code, ok.headers["content-type"], ok.json()) == (
        200,
        NEW,
        {"data": {"__typename": "Query"}},
    )
    get = await client.get(path, params={"query": "{ __typename }"}, headers=apollo)
    assert (get.status_code, get.headers["content-type"]) == (200, NEW)
    refused = await client.post(path, json={"query": "{ __typename }"}, headers={"accept": "text/csv"})
    assert (
        refused.status_code == 406 and refused.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"
    )


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/core/graphql"])
async def test_405_names_the_allowed_methods(client: httpx.AsyncClient, path: str) -> None:
    mutation = 'mutation { createEntities(entities: [{kind: "x"}]) { id } }'
    over_get = await client.get(path, params={"query": mutation})
    assert over_get.status_code == 405 and over_get.headers["allow"] == "POST"
    # PUT and DELETE belong to graphql-sse's single connection mode (streaming/sse_single.py)
    patch = await client.patch(path, json={"query": "{ __typename }"})
    assert patch.status_code == 405
    assert {m.strip() for m in patch.headers["allow"].split(",")} >= {"GET", "POST", "PUT", "DELETE"}
