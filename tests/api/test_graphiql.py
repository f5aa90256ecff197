"""GraphiQL from our own files: the page names no other host, its assets are served by us, the examples are
offered in it, a server without the assets says so (503) instead of hanging on "Loading…", and in headless
Chromium the page renders, runs an example, and sends no request beyond 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from atlas4d.web import graphiql
from live_server import serve

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "tests" / "js"
EXAMPLES = sorted((ROOT / "graphql" / "examples").glob("*.graphql"))
BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/core/graphql"])
async def test_the_page_uses_only_our_files(client: httpx.AsyncClient, path: str) -> None:
    page = await client.get(path, headers=BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(sources) == sorted(f"/graphiql/{name}" for name in graphiql.ASSETS)
    assert "://" not in page.text.split("<script>", 1)[0]  # no CDN, no other host
    for source in sources:
        asset = await client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 1000, source
        assert asset.headers["content-type"].split(";")[0] in (
            "text/javascript",
            "application/javascript",
            "text/css",
        )
    assert (await client.get("/graphiql/nope.js")).status_code == 404


async def test_the_examples_are_offered(client: httpx.AsyncClient) -> None:
    page = (await client.get("/graphql", headers=BROWSER)).text
    embedded = json.loads(page.split("const EXAMPLES = ", 1)[1].split(";\n", 1)[0])
    assert [e["query"] for e in embedded] == [p.read_text(encoding="utf-8") for p in EXAMPLES]
    assert [e["name"] for e in embedded] == [p.stem.replace("-", " ") for p in EXAMPLES]


async def test_without_assets_the_page_says_how_to_install_them(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphiql, "STATIC", tmp_path)
    graphiql.graphiql_html.cache_clear()
    try:
        page = await client.get("/graphql", headers=BROWSER)
        assert page.status_code == 503 and "scripts/setup.sh" in page.text and "<script" not in page.text
        api = await client.post("/graphql", json={"query": "{ __typename }"})
        assert api.json() == {"data": {"__typename": "Query"}}  # the API itself is unaffected
    finally:
        graphiql.graphiql_html.cache_clear()


@pytest.mark.npm
def test_graphiql_runs_an_example_in_headless_chromium(database_url: str) -> None:
    with serve(database_url, modules="none") as base:
        done = subprocess.run(
            ["node", str(JS_DIR / "graphiql-browser.mjs"), f"{base}/graphql", "vehicles latest"],
            capture_output=True, text=True, cwd=JS_DIR, timeout=400, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["external"] == [] and seen["pageErrors"] == [], seen
    assert (seen["status"], seen["title"], seen["schemaStatus"], seen["executeStatus"]) == (
        200,
        "Atlas4D GraphiQL",
        200,
        200,
    )
    assert seen["examples"] == [p.stem.replace("-", " ") for p in EXAMPLES]
    assert "query VehiclesLatest" in seen["query"]
    assert "errors" not in seen["result"] and isinstance(seen["result"]["data"]["entities"]["nodes"], list)
    assert {f"GET /graphiql/{name}" for name in graphiql.ASSETS} <= set(seen["requests"])
    assert seen["requests"].count("POST /graphql") >= 2  # the schema (introspection), then the example
