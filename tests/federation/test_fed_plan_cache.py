"""A plan-cache hit: no planning, what the executor compiles per plan compiled once, and memory that does not
grow with repetitions (tracemalloc)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from fed_stack import Stack

from atlas4d.federation import executor, response
from atlas4d.federation.gateway import Gateway
from atlas4d.federation.planner import FetchNode

QUERY = "{ topProducts(first: 6) { name reviews { body author { name } } inStock delivery } }"


def in_process(stack: Stack) -> Gateway:
    local = {n: stack.schemas[n] for n in ("products", "reviews", "inventory")}
    return Gateway.from_supergraph(stack.supergraph_sdl, local=local)


def counted(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[object]:
    calls: list[object] = []
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any) -> Any:
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


async def test_cache_hit_does_no_planning_and_no_compiling(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = in_process(stack)
    try:
        builds = counted(monkeypatch, gateway.planner, "_build")
        compiles = counted(monkeypatch, executor, "_has_directives")
        shapes = counted(monkeypatch, response, "_has_directives")
        first = await gateway.execute(QUERY)
        assert "errors" not in first and len(first["data"]["topProducts"]) == 6
        assert len(builds) == 1 and compiles and shapes
        compiles.clear()
        shapes.clear()
        for _ in range(5):
            assert await gateway.execute(QUERY) == first
        # the same operation spelt differently: the planner's cache (by printed document) answers
        assert await gateway.execute("query { " + QUERY[1:]) == first
        assert len(builds) == 1
        assert not compiles and not shapes  # what the executor and shaper derive from the plan: kept
        plan = gateway.plan(QUERY)
        fetches = [f for f in plan.fetches if isinstance(f, FetchNode)]
        assert all(f.conditional is False for f in fetches)
        # every representation here is key/@requires leaves, or nested (dimensions { size weight })
        flats = [spec.flat for f in fetches for spec in f.representations.values()]
        assert flats and all(flat is not None for flat in flats)
        assert () in flats and any(flats)
    finally:
        await gateway.aclose()


async def test_cache_hit_memory_does_not_grow_with_repetitions(stack: Stack) -> None:
    gateway = in_process(stack)
    try:
        expected = await gateway.execute(QUERY)
        for _ in range(20):
            await gateway.execute(QUERY)

        ours = [tracemalloc.Filter(True, "*/atlas4d/federation/*")]  # (the stack's servers share the process)

        async def retained_and_peak(repetitions: int) -> tuple[int, int]:
            """Memory our code allocated that is still held after the requests, and the most one request had
            allocated at once."""
            peak = 0
            for _ in range(repetitions):
                before = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                assert await gateway.execute(QUERY) == expected
                peak = max(peak, tracemalloc.get_traced_memory()[1] - before)
            gc.collect()
            snapshot = tracemalloc.take_snapshot().filter_traces(ours)
            return sum(stat.size for stat in snapshot.statistics("filename")), peak

        gc.collect()
        tracemalloc.start()
        try:
            after_50, peak_50 = await retained_and_peak(50)
            after_250, peak_250 = await retained_and_peak(200)
        finally:
            tracemalloc.stop()
        # Nothing kept per request (a single dict per request would be ~200 bytes x 200), and a request's
        # working set is the same at the 250th repetition as in the first 50.
        assert after_250 - after_50 < 4096, (after_50, after_250)
        assert peak_250 <= peak_50 * 1.25, (peak_50, peak_250)
    finally:
        await gateway.aclose()
