"""Pages near a point read in time slices (atlas4d.core.slices) answer exactly what one plain statement
answers: rows on the slices' boundaries, ties on `t` across them, pages cut inside a tie, cursors, both
orders — through the compiled pages and the resolvers.

The data is built around the slices this very page reads: each slice's boundary, once known, gets a tie
of rows exactly on it and rows a microsecond to either side (rows on boundary k land in slice k or k+1 and
so never move the boundaries before it). The expected answer is a hand-written SQL statement, not ours.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from atlas4d.app import create_app
from atlas4d.core.filters import Near, ObservationFilter, TimeRange
from atlas4d.core.ingest import ObservationItem, ingest_observations
from atlas4d.core.queries import observation_statement
from atlas4d.db.pool import log_statements
from atlas4d.settings import Settings

RADIUS = 3000.0
# each order has its own point, so the rows placed on one order's boundaries never move the other's
CENTER = {True: (27.5, 42.5), False: (28.5, 42.5)}
START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 3, 6, tzinfo=UTC)  # 54 h
FIRST = 40
US = timedelta(microseconds=1)


def graphql_filter(descending: bool) -> str:
    lon, lat = CENTER[descending]
    return (
        f"near: {{lon: {lon}, lat: {lat}, radiusMeters: {RADIUS}}}, "
        f'time: {{from: "{START.isoformat()}", to: "{END.isoformat()}"}}'
    )


def item(t: datetime, i: int, descending: bool, inside: bool = True) -> ObservationItem:
    # inside: within ~2.2 km of the point; outside: ~5.5 km east
    lon, lat = CENTER[descending]
    dlon = 0.0 if inside else 0.067
    return ObservationItem(
        time=t, lon=lon + dlon + (i % 7) * 0.004, lat=lat + (i % 5) * 0.004, speed=float(i),
        entity_id=str(uuid.UUID(int=i % 4 + 1)), entity_kind="bus", source_type="gps",
    )  # fmt: skip


async def slices_read(pool: asyncpg.Pool, descending: bool) -> list[TimeRange]:
    """The slices a page of FIRST rows reads, as the resolvers ask for it (FIRST + 1 rows)."""
    flt = ObservationFilter(near=Near(*CENTER[descending], RADIUS), time=TimeRange(START, END))
    page = observation_statement(flt, limit=FIRST + 1, after=None, descending=descending, sliced=True)
    seen: list[TimeRange] = []

    def recording(part: ObservationFilter, rows: int) -> tuple[str, list[Any]]:
        assert part.time is not None
        seen.append(part.time)
        return page.statement(part, rows)

    await replace(page, statement=recording).fetch(pool)
    return seen


@pytest.fixture(scope="module")
async def data(pool: asyncpg.Pool) -> dict[bool, list[TimeRange]]:
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE atlas4d.observations_core, atlas4d.entities, atlas4d.tracks")
    n = 0

    async def add(descending: bool, times: list[datetime], inside: bool = True) -> None:
        nonlocal n
        items = [item(t, n + k, descending, inside) for k, t in enumerate(times)]
        n += len(times)
        await ingest_observations(pool, items, max_batch=10_000, copy_threshold=10_000)

    boundaries: dict[bool, list[TimeRange]] = {}
    for descending in (True, False):
        # sparse background over the window (and outside it, and outside the circle)
        await add(descending, [START + timedelta(minutes=37 * k) for k in range(88)])
        await add(descending, [START + timedelta(minutes=53 * k) for k in range(60)], inside=False)
        await add(
            descending, [START - US, START - timedelta(hours=2), END, END + US, END + timedelta(hours=1)]
        )
        await add(descending, [START, END - US])  # the window's own ends
        for k in range(6):
            read = await slices_read(pool, descending)
            if k >= len(read) - 1:
                break
            # the boundary after slice k, in reading order
            edge = read[k].start if descending else read[k].end
            assert edge is not None
            await add(descending, [edge] * 3 + [edge - US, edge + US] + [edge] * 2)
        boundaries[descending] = await slices_read(pool, descending)
        assert len(boundaries[descending]) >= 3  # the page really is read in several slices
    return boundaries


async def expected(pool: asyncpg.Pool, descending: bool) -> list[str]:
    d = "DESC" if descending else "ASC"
    lon, lat = CENTER[descending]
    rows = await pool.fetch(
        "SELECT id FROM atlas4d.observations_core WHERE "
        "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $3) "
        f"AND t >= $4 AND t < $5 ORDER BY t {d}, id {d}",
        lon, lat, RADIUS, START, END,
    )  # fmt: skip
    return [str(r["id"]) for r in rows]


@pytest.fixture(scope="module")
async def clients(
    settings: Settings, database_url: str, data: Any
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    out = {}
    apps = []
    for compiled in (True, False):
        app = create_app(
            settings.model_copy(update={"compiled_queries": compiled, "time_slices": True}),
            dsn=database_url,
            modules=[],
        )
        apps.append(app)
    async with (
        apps[0].router.lifespan_context(apps[0]),
        apps[1].router.lifespan_context(apps[1]),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[0]), base_url="http://t") as fast,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=apps[1]), base_url="http://t") as slow,
    ):
        out["compiled"], out["resolvers"] = fast, slow
        yield out


async def post(client: httpx.AsyncClient, query: str) -> Any:
    r = await client.post("/graphql", json={"query": query})
    body = r.json()
    assert r.status_code == 200 and "errors" not in body, r.text
    return body["data"]["observations"]


@pytest.mark.parametrize("order", ["TIME_DESC", "TIME_ASC"])
@pytest.mark.parametrize("first", [1, 3, FIRST, 200])
async def test_a_sliced_page_equals_the_plain_statement(
    pool: asyncpg.Pool, clients: dict[str, httpx.AsyncClient], order: str, first: int
) -> None:
    descending = order == "TIME_DESC"
    everything = await expected(pool, descending)
    want = everything[:first]
    nodes = f"observations(filter: {{{graphql_filter(descending)}}}, first: {first}, orderBy: {order})"
    with log_statements() as log:
        fast = await post(clients["compiled"], f"{{ {nodes} {{ nodes {{ id time entity {{ name }} }} }} }}")
    assert [o["id"] for o in fast["nodes"]] == want
    if first >= FIRST:
        assert sum(s.lstrip().startswith("SELECT") for s in log.statements) >= 2  # several slices were read
    slow = await post(clients["resolvers"], f"{{ {nodes} {{ nodes {{ id }} pageInfo {{ hasNextPage }} }} }}")
    assert [o["id"] for o in slow["nodes"]] == want
    assert slow["pageInfo"]["hasNextPage"] == (len(everything) > first)


@pytest.mark.parametrize("order", ["TIME_DESC", "TIME_ASC"])
@pytest.mark.parametrize("size", [4, 7])
async def test_paging_through_a_sliced_window(
    pool: asyncpg.Pool, clients: dict[str, httpx.AsyncClient], order: str, size: int
) -> None:
    """Every page, from the cursors the resolvers hand out, on both paths: the plain statement's rows, each
    once, in order (pages of 4 and 7 cut inside the ties)."""
    descending = order == "TIME_DESC"
    want = await expected(pool, descending)
    got: list[str] = []
    after = ""
    for _ in range(len(want) // size + 2):
        args = f"filter: {{{graphql_filter(descending)}}}, first: {size}, orderBy: {order}{after}"
        page = await post(
            clients["resolvers"],
            f"{{ observations({args}) {{ nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }} }}",
        )
        fast = await post(clients["compiled"], f"{{ observations({args}) {{ nodes {{ id }} }} }}")
        assert fast["nodes"] == page["nodes"]
        got.extend(o["id"] for o in page["nodes"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = f', after: "{page["pageInfo"]["endCursor"]}"'
    assert got == want


async def test_the_boundaries_carry_ties(pool: asyncpg.Pool, data: dict[bool, list[TimeRange]]) -> None:
    """The data does what the tests above rely on: rows tied on t exactly on slice boundaries."""
    for descending, pieces in data.items():
        edges = [p.start if descending else p.end for p in pieces[:-1]]
        for edge in edges[:2]:
            count = await pool.fetchval("SELECT count(*) FROM atlas4d.observations_core WHERE t = $1", edge)
            assert count >= 5
