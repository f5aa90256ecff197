"""Fixtures of the federation tests (the stack itself is in fed_stack.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from fed_servers import NodeProcess, ThreadedServer
from fed_stack import Stack, start_stack, stop_all
from fed_subgraphs.state import MUTATIONS, RATINGS


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack() -> AsyncIterator[Stack]:
    servers: list[ThreadedServer] = []
    processes: list[NodeProcess] = []
    try:
        stack = await asyncio.to_thread(start_stack, servers, processes)
        yield stack
        for gateway in stack.gateways.values():
            await gateway.aclose()
    finally:
        await asyncio.to_thread(stop_all, servers, processes)


@pytest.fixture(autouse=True)
def _reset_state() -> Iterator[None]:
    MUTATIONS.reset()
    RATINGS.mode = "ok"
    yield
    RATINGS.mode = "ok"
