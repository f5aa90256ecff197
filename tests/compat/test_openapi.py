"""`/openapi.json` describes exactly the REST face and its real answers; `/docs` renders it from our own files.

- The document is valid OpenAPI 3.1 (openapi-spec-validator) and lists exactly the app's REST routes.
- Real answers of every operation over the original's kind of data (and its error answers: 400, 404, 405)
  validate against the document's schemas (jsonschema, draft 2020-12).
- `/docs` names no other host, its assets are ours; headless Chromium renders it, tries `GET /api/stats`
  through it and sends no request beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from compat_db import OriginalDatabase
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.routing import Route

from atlas4d import __version__
from atlas4d.bulk import routes as bulk_routes
from atlas4d.rest import docs, routes
from live_server import serve

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "tests" / "js"


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    doc: dict[str, Any] = response.json()
    return doc


def served_operations() -> set[tuple[str, str]]:
    out = set()
    for route in [*routes(), *bulk_routes()]:
        if isinstance(route, Route) and route.path not in ("/openapi.json", "/docs"):
            out |= {(route.path, m.lower()) for m in route.methods or () if m != "HEAD"}
    return out


async def test_document_is_valid_and_lists_exactly_the_rest_routes(compat: httpx.AsyncClient) -> None:
    doc = await document(compat)
    validate(doc)
    assert doc["openapi"].startswith("3.1") and doc["info"]["version"] == __version__
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert documented == served_operations()
    assert len(documented) == 7


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": doc["components"]})


def response_schema(doc: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    answer = doc["paths"][path][method]["responses"][str(status)]
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema: dict[str, Any] = answer["content"]["application/json"]["schema"]
    return schema


@pytest.fixture
async def writes(original_db: OriginalDatabase) -> AsyncIterator[None]:
    yield
    await original_db.forget_test_rows()


async def test_real_answers_validate_against_the_document(compat: httpx.AsyncClient, writes: None) -> None:
    doc = await document(compat)
    calls: list[tuple[str, str, dict[str, Any], int]] = [
        ("/health", "get", {}, 200),
        ("/api/stats", "get", {}, 200),
        ("/api/observations", "get", {"params": {"limit": 1000, "hours": 48}}, 200),
        ("/api/observations", "get", {"params": {"lat": 42.5, "lon": 27.46, "radius_km": 3}}, 200),
        ("/api/observations", "get", {"params": {"lat": 100, "lon": 27.46}}, 400),
        ("/api/anomalies", "get", {"params": {"hours": 48, "limit": 1000}}, 200),
        ("/api/geojson/observations", "get", {"params": {"hours": 48, "limit": 1000}}, 200),
        ("/api/observations", "post", {"json": {"lat": 42.5, "lon": 27.46}}, 200),
        ("/api/observations", "post", {"json": [{"lat": 42.5, "lon": 27.46}, {"lat": "1", "lon": 2}]}, 200),
        ("/api/observations", "post", {"json": {"lat": 420, "lon": 27.46}}, 400),
        (
            "/ingest/observations",
            "post",
            {
                "content": b'{"lon": 27.4, "lat": 42.5, "time": "2026-01-01T00:00:00Z"}\n',
                "headers": {"content-type": "application/x-ndjson"},
            },
            200,
        ),
        ("/ingest/observations", "post", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
    ]
    for path, method, kwargs, status in calls:
        response = await compat.request(method.upper(), path, **kwargs)
        assert response.status_code == status, (path, response.text)
        schema = response_schema(doc, path, method, status)
        errors = sorted(validator(doc, schema).iter_errors(response.json()), key=str)
        assert not errors, (path, kwargs, [e.message for e in errors[:3]])
    # the app-wide error answers have the documented Error shape too
    error_schema = validator(doc, {"$ref": "#/components/schemas/Error"})
    for method, path in (("GET", "/api/forecast"), ("DELETE", "/api/stats")):
        error_schema.validate((await compat.request(method, path)).json())


async def test_docs_page_uses_only_our_files(compat: httpx.AsyncClient) -> None:
    page = await compat.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(sources) == sorted(f"{docs.URL_PREFIX}/{name}" for name in docs.ASSETS)
    assert "://" not in page.text
    for source in sources:
        asset = await compat.get(source)
        assert asset.status_code == 200 and len(asset.content) > 10_000, source
    assert (await compat.get(f"{docs.URL_PREFIX}/nope.js")).status_code == 404


async def test_without_assets_docs_say_how_to_install_them(
    compat: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(docs, "STATIC", tmp_path)
    page = await compat.get("/docs")
    assert page.status_code == 503 and "scripts/setup.sh" in page.text and "<script" not in page.text
    assert (await compat.get("/openapi.json")).status_code == 200


@pytest.mark.npm
def test_docs_page_tries_an_endpoint_in_headless_chromium(original_db: OriginalDatabase) -> None:
    with serve(original_db.url, modules="none") as base:
        done = subprocess.run(
            ["node", str(JS_DIR / "swagger-browser.mjs"), f"{base}/docs", "stats"],
            capture_output=True, text=True, cwd=JS_DIR, timeout=180, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["external"] == [] and seen["pageErrors"] == [], seen
    assert (seen["status"], seen["title"]) == (200, "Atlas4D Gateway REST API")
    assert {"/health", "/api/stats", "/api/observations", "/ingest/observations"} <= set(seen["operations"])
    assert seen["responseStatus"] == "200"
    assert json.loads(seen["responseBody"])["total_observations"] >= len(original_db.data.observations)
    assert {"GET /openapi.json", "GET /api/stats"} <= set(seen["requests"])
    assert {f"GET {docs.URL_PREFIX}/{name}" for name in docs.ASSETS} <= set(seen["requests"])
