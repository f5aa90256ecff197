"""The REST face's OpenAPI document (`/openapi.json`) and its docs page (`/docs`, Swagger UI), served offline.

The original gateway (FastAPI) served both; its users open `/docs` to try the endpoints. The document is
written by hand (`openapi.yaml`, package data): six Core Spec endpoints and bulk ingest do not need a
generator, and a hand-written document says what the code cannot (the leniency rules, the position rule);
tests check it against the routes and validate real answers against its schemas. Swagger UI's files come
from npm at set-up (`swagger-ui-dist` in `assets/package.json`, copied by `scripts/assets.py` next to
GraphiQL's), never from a CDN; without them `/docs` answers 503 saying how to install them, and
`/openapi.json` works regardless.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from atlas4d import __version__
from atlas4d.rest.errors import json_response

STATIC = Path(__file__).resolve().parents[1] / "web" / "static" / "swagger-ui"
URL_PREFIX = "/docs/assets"
# served name -> path inside assets/node_modules
ASSETS = {
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
}


@cache
def openapi_document() -> dict[str, Any]:
    text = (resources.files("atlas4d.rest") / "openapi.yaml").read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    document["info"]["version"] = __version__
    return document


def assets_installed(directory: Path | None = None) -> bool:
    folder = STATIC if directory is None else directory
    return all((folder / name).is_file() for name in ASSETS)


async def openapi_json(request: Request) -> Response:
    return json_response(openapi_document())


async def docs_page(request: Request) -> Response:
    if not assets_installed():
        return HTMLResponse(MISSING, status_code=503)
    return HTMLResponse(PAGE)


def docs_routes() -> list[BaseRoute]:
    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs_page, methods=["GET"]),
        Mount(URL_PREFIX, StaticFiles(directory=STATIC, check_dir=False), name="swagger-ui-assets"),
    ]


MISSING = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API docs are not installed</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Swagger UI's files are not installed</h1>
<p>This server serves its API docs from its own files (no CDN), and they are missing from
<code>{html.escape(str(STATIC))}</code>.</p>
<p>From a checkout, run <code>bash scripts/setup.sh</code>; it installs them from npm. The OpenAPI document
itself is at <a href="/openapi.json">/openapi.json</a>.</p>
</body></html>
"""

# validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io for a badge
PAGE = f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Atlas4D Gateway REST API</title>
    <link rel="stylesheet" href="{URL_PREFIX}/swagger-ui.css">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{URL_PREFIX}/swagger-ui-bundle.js"></script>
    <script>
      window.ui = SwaggerUIBundle({{
        url: "/openapi.json",
        dom_id: "#swagger-ui",
        presets: [SwaggerUIBundle.presets.apis],
        layout: "BaseLayout",
        validatorUrl: null,
        deepLinking: true,
        tryItOutEnabled: true,
      }});
    </script>
  </body>
</html>
"""
