"""The /map page in Debian's headless Chromium (playwright-core, WebGL through SwiftShader) against the live
demo server: it loads only our own files (no request leaves 127.0.0.1), draws entities, tracks and
observations, the screenshot is not blank, the time slider reloads the view for the new window, and a click on
an entity opens its panel. What it draws is checked against the API's own answer for the same view."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from clients_server import LiveServer

from atlas4d.app import create_app
from atlas4d.settings import Settings
from atlas4d_client import BBox, Client, EntityFilter, ObservationFilter, TimeRange

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "map-browser.mjs"


@pytest.fixture(scope="module")
def browsed(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not (ROOT / "tests" / "js" / "node_modules" / "playwright-core").is_dir():
        raise RuntimeError("playwright-core is not installed in tests/js: run scripts/setup.sh")
    assert Path("/usr/bin/chromium").is_file(), "Chromium is not installed: run scripts/setup.sh"
    node = shutil.which("node")
    assert node
    shot = tmp_path_factory.mktemp("map") / "map.png"
    ran = subprocess.run(
        [node, str(SCRIPT), live.url, str(shot)],
        cwd=SCRIPT.parent,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert ran.returncode == 0, ran.stderr[-4000:]
    result: dict[str, Any] = json.loads(ran.stdout)
    result["screenshotBytes"] = shot.stat().st_size
    return result


def shown(view: dict[str, Any]) -> tuple[ObservationFilter, EntityFilter]:
    window = TimeRange(
        datetime.fromisoformat(view["window"]["from"]), datetime.fromisoformat(view["window"]["to"])
    )
    box = BBox(view["box"]["minLon"], view["box"]["minLat"], view["box"]["maxLon"], view["box"]["maxLat"])
    observations = ObservationFilter(bbox=box, time=window)
    return observations, EntityFilter(observations=observations)


def test_map_loads_only_our_files(browsed: dict[str, Any]) -> None:
    assert browsed["status"] == 200 and browsed["title"] == "Atlas4D map"
    assert browsed["external"] == [] and browsed["pageErrors"] == []
    assert {
        "GET /map/vendor/maplibre-gl.mjs",
        "GET /map/vendor/maplibre-gl-worker.mjs",
        "POST /graphql",
    } <= set(browsed["requests"])
    assert browsed["first"]["webgl2"] is True


def test_map_draws_what_the_api_returns_for_the_view(browsed: dict[str, Any], live: LiveServer) -> None:
    first = browsed["first"]
    counts, rendered = first["counts"], first["rendered"]
    assert counts["observations"] > 100 and counts["tracks"] > 0 and counts["entities"] > 10
    assert rendered["observations"] > 0 and rendered["tracks"] > 0 and rendered["entities"] > 0
    observations, entities = shown(first)
    with Client(url=live.url) as client:
        api = client.observations.feature_collection(observations, limit=5000)
        assert counts["observations"] == len(api["features"])
        with_positions = client.entities.page(entities, first=1000, total=True)
        assert counts["entities"] == with_positions.total_count


def test_screenshot_is_not_blank(browsed: dict[str, Any]) -> None:
    shot = browsed["screenshot"]
    assert (shot["width"], shot["height"]) == (1280, 800) and browsed["screenshotBytes"] > 20_000
    colours = shot["counts"]
    assert colours["background"] < 0.95 * shot["pixels"]
    assert colours["vehicle"] > 300 and colours["cpe"] > 100  # observation dots, tracks and entities
    assert colours["white"] > 300  # the entities' outlines
    assert shot["distinctColours"] > 100


def test_time_slider_reloads_the_window(browsed: dict[str, Any], live: LiveServer) -> None:
    first, later = browsed["first"], browsed["afterSlider"]
    slider = browsed["slider"]
    assert slider["min"] <= slider["value"] <= slider["max"]
    moved = datetime.fromisoformat(first["window"]["to"]) - datetime.fromisoformat(later["window"]["to"])
    assert moved.total_seconds() == pytest.approx(6 * 3600, abs=60)
    start, end = (datetime.fromisoformat(later["window"][k]) for k in ("from", "to"))
    assert start <= datetime.fromisoformat(later["times"]["first"])
    assert datetime.fromisoformat(later["times"]["last"]) < end
    observations, _ = shown(later)
    with Client(url=live.url) as client:
        api = client.observations.feature_collection(observations, limit=5000)
    assert later["counts"]["observations"] == len(api["features"]) > 0


def test_a_point_written_after_load_appears_live(browsed: dict[str, Any]) -> None:
    """The page subscribed to observationAdded for its view; an observation written afterwards inside the view
    is drawn in the live layer, where it was written."""
    live = browsed["live"]
    written = live["written"]
    assert written["answer"] == {"data": {"ingestObservations": {"accepted": 1}}}
    assert len(live["rendered"]) == 1
    (point,) = live["rendered"]
    assert point["sourceType"] == "vehicle"
    # rendered features come back from vector tiles (8192 units a tile): metres, not micro-degrees
    assert point["coordinates"] == pytest.approx([written["lon"], written["lat"]], abs=1e-4)
    assert "GET /map/vendor/graphql-ws.min.js" in browsed["requests"]


def test_click_opens_the_entity_panel(browsed: dict[str, Any], live: LiveServer) -> None:
    clicked, panel = browsed["clicked"], browsed.get("panel")
    assert clicked is not None and panel is not None
    assert panel["entity"] == clicked["id"]
    with Client(url=live.url) as client:
        entity = client.entities.get(clicked["id"])
    assert entity is not None
    assert panel["title"] == (entity.name or entity.id) and entity.kind in panel["text"]


async def test_map_page_can_be_turned_off(database_url: str) -> None:
    for enabled, status in ((True, 200), (False, 404)):
        app = create_app(
            Settings(database_url=None, map_page=enabled, gc_freeze=False), dsn=database_url, modules=[]
        )
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                page = await client.get("/map")
                script = await client.get("/map/app/map.js")
        assert page.status_code == status
        if enabled:
            assert "text/html" in page.headers["content-type"] and 'src="/map/app/map.js"' in page.text
            assert script.status_code == 200 and "javascript" in script.headers["content-type"]
