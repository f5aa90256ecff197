"""The map page at `/map`: MapLibre GL JS served from our own files, over an inline style with our own layers
(no CDN, no external basemap, no glyphs or sprites), so it works offline.

MapLibre's ES module build comes from npm at set-up, as GraphiQL's files do: `scripts/setup.sh` runs `npm ci` in
`assets/` and `scripts/assets.py` copies the files named in `ASSETS` into `web/static/map/` (served at
`/map/vendor/`). The page itself (`web/map_page/`: index.html, map.js, map.css) is ours and committed, served at
`/map/app/`. Without MapLibre's files `/map` answers 503 with a page saying how to install them.
"""

from __future__ import annotations

import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static" / "map"
PAGE = Path(__file__).parent / "map_page"
# served name -> path inside assets/node_modules (the main module loads the worker from its own folder)
ASSETS = {
    "maplibre-gl.mjs": "maplibre-gl/dist/maplibre-gl.mjs",
    "maplibre-gl-worker.mjs": "maplibre-gl/dist/maplibre-gl-worker.mjs",
    "maplibre-gl.css": "maplibre-gl/dist/maplibre-gl.css",
    "LICENSE.txt": "maplibre-gl/LICENSE.txt",
    # live updates: graphql-ws's browser build (sets `graphqlWs`), the client Apollo/urql/GraphiQL use
    "graphql-ws.min.js": "graphql-ws/umd/graphql-ws.min.js",
    "graphql-ws-LICENSE.md": "graphql-ws/LICENSE.md",
}


def assets_installed(directory: Path | None = None) -> bool:
    folder = STATIC if directory is None else directory
    return all((folder / name).is_file() for name in ASSETS)


async def map_page(request: Request) -> Response:
    if not assets_installed():
        return HTMLResponse(MISSING, status_code=503)
    return FileResponse(PAGE / "index.html", media_type="text/html")


def map_routes() -> list[BaseRoute]:
    """`/map` (the page), `/map/app/*` (its script and style), `/map/vendor/*` (MapLibre)."""
    return [
        Route("/map", map_page, methods=["GET", "HEAD"]),
        Mount("/map/app", StaticFiles(directory=PAGE), name="map-app"),
        Mount("/map/vendor", StaticFiles(directory=STATIC, check_dir=False), name="map-vendor"),
    ]


MISSING = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>The map is not installed</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>MapLibre's files are not installed</h1>
<p>This server serves the map page from its own files (no CDN), and MapLibre GL JS is missing from
<code>{html.escape(str(STATIC))}</code>.</p>
<p>From a checkout, run <code>bash scripts/setup.sh</code> (or <code>make demo</code>); it installs it from npm.</p>
</body></html>
"""
