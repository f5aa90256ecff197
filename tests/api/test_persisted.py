"""Persisted operations: Apollo's APQ protocol (GET and POST, PERSISTED_QUERY_NOT_FOUND so clients fall back,
sha256 checked) and trusted documents from an Apollo persisted-query manifest — over ASGI for every rule, and
with @apollo/client 4's PersistedQueryLink against a real `atlas4d serve` for the wire format."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from atlas4d.app import create_app
from atlas4d.settings import Settings
from atlas4d.web.persisted import ManifestError
from live_server import MODERN_ACCEPT, serve

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "tests" / "js"
EXAMPLES = sorted((ROOT / "graphql" / "examples").glob("*.graphql"))
QUERY = "query Count($n: Int) { entities(first: $n) { nodes { id } } }"
LEGACY = {"accept": "application/json"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def code_of(response: httpx.Response) -> str:
    code: str = response.json()["errors"][0]["extensions"]["code"]
    return code


@asynccontextmanager
async def app_client(database_url: str, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=None, gc_freeze=False, **changes), dsn=database_url, modules=[])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=MODERN_ACCEPT
        ) as client:
            yield client


def write_manifest(path: Path, bodies: list[str]) -> dict[str, Any]:
    """A manifest as @apollo/generate-persisted-query-manifest writes it (ids: sha256 of the body)."""
    operations = []
    for body in bodies:
        name = body.split("query ", 1)[1].split("(", 1)[0].split("{", 1)[0].strip()
        operations.append({"id": sha(body), "name": name, "type": "query", "body": body})
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    path.write_text(json.dumps(manifest))
    return manifest


async def test_apq_round_trip_over_post_and_get(database_url: str) -> None:
    async with app_client(database_url) as client:
        digest = sha(QUERY)
        variables = {"n": 1}
        miss = await client.post("/graphql", json={"variables": variables, "extensions": apq(digest)})
        assert (miss.status_code, code_of(miss)) == (400, "PERSISTED_QUERY_NOT_FOUND")
        assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound" and "data" not in miss.json()
        assert miss.headers["cache-control"] == "private, no-cache, must-revalidate"
        legacy = await client.post("/graphql", json={"extensions": apq(digest)}, headers=LEGACY)
        assert (legacy.status_code, code_of(legacy)) == (200, "PERSISTED_QUERY_NOT_FOUND")  # Apollo Server's
        register = await client.post(
            "/graphql", json={"query": QUERY, "variables": variables, "extensions": apq(digest)}
        )
        assert "errors" not in register.json() and isinstance(
            register.json()["data"]["entities"]["nodes"], list
        )
        hit = await client.post("/graphql", json={"variables": variables, "extensions": apq(digest)})
        assert hit.json() == register.json()
        params = {"variables": json.dumps(variables), "extensions": json.dumps(apq(digest))}
        get = await client.get("/graphql", params=params)
        assert get.status_code == 200 and get.json() == register.json()
        # a hash and an `extensions` map for something else do not get in the way of a plain query
        other = await client.post(
            "/graphql", json={"query": "{ __typename }", "extensions": {"tracing": True}}
        )
        assert other.json() == {"data": {"__typename": "Query"}}


async def test_apq_refusals(database_url: str) -> None:
    async with app_client(database_url) as client:
        wrong = await client.post("/graphql", json={"query": QUERY, "extensions": apq(sha("something else"))})
        assert (wrong.status_code, code_of(wrong)) == (400, "BAD_REQUEST")
        assert wrong.json()["errors"][0]["message"] == "provided sha does not match query"
        # the wrong pair registered nothing
        still = await client.post("/graphql", json={"extensions": apq(sha("something else"))})
        assert code_of(still) == "PERSISTED_QUERY_NOT_FOUND"
        version = await client.post(
            "/graphql", json={"query": QUERY, "extensions": apq(sha(QUERY), version=2)}
        )
        assert (version.status_code, code_of(version)) == (400, "BAD_REQUEST")
        bad_json = await client.get("/graphql", params={"extensions": "{nope"})
        assert (bad_json.status_code, code_of(bad_json)) == (400, "BAD_REQUEST")
        mutation = 'mutation { createEntities(entities: [{kind: "x"}]) { id } }'
        await client.post("/graphql", json={"query": mutation, "extensions": apq(sha(mutation))})
        over_get = await client.get("/graphql", params={"extensions": json.dumps(apq(sha(mutation)))})
        assert over_get.status_code == 405  # a stored mutation still needs POST


async def test_apq_off_and_a_bounded_store(database_url: str) -> None:
    async with app_client(database_url, persisted_queries=False) as off:
        r = await off.post("/graphql", json={"extensions": apq(sha(QUERY))})
        assert code_of(r) == "PERSISTED_QUERY_NOT_SUPPORTED" and r.json()["errors"][0]["message"] == (
            "PersistedQueryNotSupported"
        )
    async with app_client(database_url, persisted_queries_cache_size=2) as small:
        texts = [f"{{ a{i}: __typename }}" for i in range(3)]
        for text in texts:
            assert (
                await small.post("/graphql", json={"query": text, "extensions": apq(sha(text))})
            ).is_success
        codes = []
        for text in texts:
            r = await small.post("/graphql", json={"extensions": apq(sha(text))})
            codes.append(code_of(r) if "errors" in r.json() else "hit")
        assert codes == ["PERSISTED_QUERY_NOT_FOUND", "hit", "hit"]  # the oldest went first


async def test_trusted_documents_run_only_the_manifest(database_url: str, tmp_path: Path) -> None:
    bodies = [p.read_text(encoding="utf-8").split("\n", 1)[1] for p in EXAMPLES[:3]]
    bodies.append(QUERY)
    manifest = write_manifest(tmp_path / "manifest.json", bodies)
    async with app_client(database_url, trusted_documents=tmp_path / "manifest.json") as client:
        by_id = await client.post("/graphql", json={"variables": {"n": 1}, "extensions": apq(sha(QUERY))})
        assert "errors" not in by_id.json() and "entities" in by_id.json()["data"], by_id.text
        by_text = await client.post("/graphql", json={"query": "# a comment\n" + QUERY.replace(" ", "  ")})
        assert "errors" not in by_text.json(), by_text.text  # the same operation, laid out differently
        for request in (
            {"query": "{ __typename }"},
            {"query": "{ __typename }", "extensions": apq(sha("{ __typename }"))},  # APQ registers nothing
            {"query": QUERY + " query Other { __typename }"},
        ):
            refused = await client.post("/graphql", json=request)
            assert (refused.status_code, code_of(refused)) == (400, "PERSISTED_QUERY_NOT_IN_LIST"), request
        unknown = await client.post("/graphql", json={"extensions": apq(sha("never listed"))})
        assert code_of(unknown) == "PERSISTED_QUERY_NOT_FOUND"
        # gateways call subgraphs with generated operations: not restricted there
        sub = await client.post("/subgraphs/core/graphql", json={"query": "{ __typename }"})
        assert sub.json() == {"data": {"__typename": "Query"}}
    assert len(manifest["operations"]) == 4


@pytest.mark.parametrize(
    "content",
    ['{"format": "something-else", "version": 1, "operations": []}',
     '{"format": "apollo-persisted-query-manifest", "version": 2, "operations": []}',
     '{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": "x", "body": "{"}]}',
     "not json"],
)  # fmt: skip
def test_a_bad_manifest_stops_the_start(tmp_path: Path, content: str) -> None:
    (tmp_path / "m.json").write_text(content)
    with pytest.raises(ManifestError):
        create_app(Settings(database_url=None, trusted_documents=tmp_path / "m.json"), modules=[])


def apollo_client(url: str, mode: str, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", str(JS_DIR / "apollo-client.mjs"), url, mode, *extra],
        capture_output=True,
        text=True,
        cwd=JS_DIR,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.npm
def test_apollo_client_4_against_atlas4d_serve(database_url: str, tmp_path: Path) -> None:
    """Apollo Client 4 as an app uses it: validation and variable errors reach it as CombinedGraphQLErrors with
    their codes; its PersistedQueryLink sends hashes, falls back on PERSISTED_QUERY_NOT_FOUND, then hits (POST
    and GET); with a manifest, it runs the listed operation by id alone."""
    with serve(database_url, modules="none") as base:
        errors = apollo_client(f"{base}/graphql", "errors")
        assert errors["validation"]["error"] == {
            "name": "CombinedGraphQLErrors", "combined": True, "codes": ["GRAPHQL_VALIDATION_FAILED"], "statusCode": None
        }  # fmt: skip
        assert errors["variable"]["error"]["codes"] == ["BAD_USER_INPUT"]
        assert {r["status"] for r in errors["requests"]} == {400}
        assert {r["contentType"] for r in errors["requests"]} == {"application/graphql-response+json"}

        seen = apollo_client(f"{base}/graphql", "apq")
        for key in ("post", "get"):
            assert [r["error"] for r in seen[key]] == [None, None], seen
            assert seen[key][0]["data"] == seen[key][1]["data"]
            assert seen[key][0]["data"]["entities"]["__typename"] == "EntityConnection"
        wire = [(r["method"], r["query"], r["status"]) for r in seen["requests"]]
        assert wire == [
            ("POST", False, 400), ("POST", True, 200), ("POST", False, 200),  # miss, register, hit
            ("GET", False, 400), ("POST", True, 200), ("GET", False, 200),
        ], wire  # fmt: skip
        assert len({r["hash"] for r in seen["requests"]}) == 2

    listed = EXAMPLES[0].read_text(encoding="utf-8").split("\n", 1)[1]
    write_manifest(tmp_path / "manifest.json", [listed])
    with serve(database_url, modules="airspace", trusted_documents=str(tmp_path / "manifest.json")) as base:
        trusted = apollo_client(f"{base}/graphql", "trusted", str(tmp_path / "manifest.json"))
        assert trusted["listed"]["error"] is None, trusted
        assert [(r["query"], r["hash"], r["status"]) for r in trusted["requests"]] == [
            (False, sha(listed), 200)
        ]
