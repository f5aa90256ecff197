"""In-process execution cost: µs per plain 8-field `Observation` of the core schema, no database.

`observations` is answered from prepared objects (its resolver swapped for the run), so only execution is
measured: field resolution, scalar serialisation, result building. An executor is any callable
`(schema, document, root_value) -> result dict`; `stock_executor` is graphql-core's `execute`. To measure a
fast path, pass its executor to `measure` (and `identical` checks its output against stock byte for byte).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import strawberry
from graphql import DocumentNode, GraphQLSchema, execute, parse

from atlas4d.core.schema import build_core_schema
from atlas4d.core.schema.types import Observation

Executor = Callable[[GraphQLSchema, DocumentNode, Any], Any]
QUERY = "{ observations(first: 1000) { nodes { id time lon lat altitude speed heading sourceType } } }"
FIELDS_PER_OBJECT = 8
# Executors measured next to stock, as "module:attribute": an `Executor`, or a graphql-core executor class
# (passed as `execute(..., executor_class=...)`); ones that do not import are skipped. `make bench` reports
# each and checks its output against stock byte for byte.
CANDIDATES: dict[str, str] = {"atlas4d FastExecutor": "atlas4d.web.fast_executor:FastExecutor"}


@dataclass(frozen=True)
class MicroResult:
    name: str
    objects: int
    us_per_object: float
    us_per_field: float


def observations(count: int) -> list[Observation]:
    base = datetime(2026, 10, 31, tzinfo=UTC)
    out = []
    for i in range(count):
        lon, lat = 27.0 + i * 1e-4, 42.0 + i * 7e-5
        out.append(
            Observation(
                id=strawberry.ID(str(i + 1)),
                time=base + timedelta(seconds=i),
                lon=lon,
                lat=lat,
                altitude=None if i % 3 else float(i % 100),
                speed=float(i % 30),
                heading=float(i % 360),
                source_type="gps",
                entity_id=None,
                track_id=None,
                metadata=None,
                geometry={"type": "Point", "coordinates": [lon, lat]},  # type: ignore[arg-type]
            )
        )
    return out


@contextmanager
def answered_from_root(schema: GraphQLSchema) -> Iterator[None]:
    """`Query.observations` returns the root value for the duration (the rest of the schema is untouched)."""
    assert schema.query_type is not None
    field = schema.query_type.fields["observations"]
    original = field.resolve
    field.resolve = lambda root, _info, **_args: root
    try:
        yield
    finally:
        field.resolve = original


def executor_with(executor_class: type[Any] | None) -> Executor:
    """An `Executor` running graphql-core's `execute` with the given executor class (None: stock)."""

    def run(schema: GraphQLSchema, document: DocumentNode, root: Any) -> Any:
        if executor_class is None:
            result = execute(schema, document, root_value=root)
        else:
            result = execute(schema, document, root_value=root, executor_class=executor_class)
        if inspect.isawaitable(result):
            result = asyncio.new_event_loop().run_until_complete(result)
        if result.errors:
            raise RuntimeError(result.errors[0])
        return result.data

    return run


stock_executor = executor_with(None)


def measure(
    name: str, executor: Executor, *, count: int = 1000, seconds: float = 2.0
) -> tuple[MicroResult, bytes]:
    """Best per-object time over repeated runs of at least `seconds` in total; also the output (orjson)."""
    schema = build_core_schema()._schema
    document = parse(QUERY)
    root = SimpleNamespace(nodes=observations(count))
    with answered_from_root(schema):
        output = orjson.dumps(executor(schema, document, root))
        best = float("inf")
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            executor(schema, document, root)
            best = min(best, time.perf_counter() - t0)
    per_object = best / count * 1e6
    return MicroResult(name, count, per_object, per_object / FIELDS_PER_OBJECT), output


def available_executors() -> dict[str, Executor]:
    found: dict[str, Executor] = {}
    for name, target in CANDIDATES.items():
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        executor = getattr(module, attribute, None)
        if isinstance(executor, type):
            found[name] = executor_with(executor)
        elif callable(executor):
            found[name] = executor
    return found


def run(extra: dict[str, Executor] | None = None, seconds: float = 2.0) -> list[MicroResult]:
    """Stock first, then each extra executor; an extra whose output differs from stock fails loudly."""
    stock, expected = measure("graphql-core execute (stock)", stock_executor, seconds=seconds)
    results = [stock]
    for name, executor in (extra or {}).items():
        result, output = measure(name, executor, seconds=seconds)
        if output != expected:
            raise RuntimeError(f"{name}: output differs from stock execution")
        results.append(result)
    return results


if __name__ == "__main__":
    for r in run(available_executors()):
        print(f"{r.name}: {r.us_per_object:.2f} µs per object ({r.us_per_field:.2f} µs per field)")
