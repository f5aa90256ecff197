"""Relay PageInfo on every connection: startCursor/endCursor are the first/last edge's cursors,
hasPreviousPage tells whether the page was asked for `after` a cursor, and paging by `endCursor` walks
every node once."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

CONNECTIONS = ["entities", "observations", "tracks"]


async def seed(client: httpx.AsyncClient, n: int) -> None:
    items = [
        {"time": f"2026-03-01T08:{i:02d}:00Z", "lon": 27.4 + i / 100, "lat": 42.5, "entityId": str(uuid.uuid4()),
         "entityKind": "vehicle", "trackId": str(uuid.uuid4())}
        for i in range(n)
    ]  # fmt: skip
    mutation = "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }"
    response = await client.post("/graphql", json={"query": mutation, "variables": {"o": items}})
    assert response.json() == {"data": {"ingestObservations": {"accepted": n}}}


@pytest.mark.parametrize("field", CONNECTIONS)
async def test_page_info_walks_forward(clean_db: asyncpg.Pool, client: httpx.AsyncClient, field: str) -> None:
    await seed(client, 7)
    query = (
        f"query($after: String) {{ {field}(first: 3, after: $after) {{ edges {{ cursor node {{ id }} }} "
        "pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"
    )
    after, seen, pages = None, [], []
    while True:
        body = (await client.post("/graphql", json={"query": query, "variables": {"after": after}})).json()
        assert "errors" not in body, body
        page = body["data"][field]
        info, edges = page["pageInfo"], page["edges"]
        pages.append(info)
        assert info["hasPreviousPage"] is (after is not None)
        assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
        assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
        seen += [e["node"]["id"] for e in edges]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert len(pages) == 3 and len(seen) == len(set(seen)) == 7
