"""Run a query plan: fetches in plan order (parallel where the plan says so), results merged in place.

Entity fetches collect the objects at their `Flatten` path, build one representation per object (de-duplicated),
send a single `_entities` request and merge each answer back into every object it stands for. Subgraph errors
keep their message, get the subgraph's name and a response path (every path of a de-duplicated entity); a
subgraph that cannot be reached becomes one masked error naming it; anything unexpected is logged (logger
`atlas4d.federation`, with the request id) and answered as `INTERNAL` with that id. The response is then shaped
to the operation (see `response.py`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLObjectType,
    GraphQLSchema,
    execute,
    is_abstract_type,
)

from atlas4d.errors import INTERNAL_CODE
from atlas4d.federation.planner import (
    BatchNode,
    FetchNode,
    FlattenNode,
    ParallelNode,
    QueryPlan,
    SequenceNode,
)
from atlas4d.federation.planner.document import context_document
from atlas4d.federation.planner.nodes import ContextInput, PlanNode, Representation, Rewrites
from atlas4d.federation.planner.selection import Field, Selection
from atlas4d.federation.response import anything_included, shape_response
from atlas4d.federation.transport import JSON, Subgraph, SubgraphFailure, SubgraphResponse

Path = list[str | int]
log = logging.getLogger("atlas4d.federation")


def request_id_of(context: Any) -> str:
    """The request id the HTTP layer put on the context (a dict or an object), else a fresh one."""
    found = context.get("request_id") if isinstance(context, dict) else getattr(context, "request_id", None)
    return str(found) if found else uuid.uuid4().hex[:16]


def internal_error(request_id: str, service: str | None = None) -> JSON:
    extensions: JSON = {"code": INTERNAL_CODE, "requestId": request_id}
    if service is not None:
        extensions["serviceName"] = service
    return {"message": f"Internal server error (request id {request_id})", "extensions": extensions}


@dataclass
class _State:
    variables: JSON
    context: Any
    coerced: JSON = field(default_factory=dict)
    data: JSON = field(default_factory=dict)
    errors: list[JSON] = field(default_factory=list)
    _request_id: str | None = None

    @property
    def request_id(self) -> str:
        """Read from the context (or made up) only when something is logged or reported."""
        if self._request_id is None:
            self._request_id = request_id_of(self.context)
        return self._request_id


@dataclass
class _Batch:
    """One entity fetch's input: the objects at its path, each pointing at its (shared) representation. Their
    response paths are only worked out when the subgraph answers with errors (see `_paths`)."""

    merge_at: tuple[str, ...]
    objects: list[JSON] = field(default_factory=list)
    slots: list[int] = field(default_factory=list)
    representations: list[JSON] = field(default_factory=list)


class PlanExecutor:
    def __init__(self, api_schema: GraphQLSchema, subgraphs: Mapping[str, Subgraph]) -> None:
        self.api_schema = api_schema
        self.subgraphs = dict(subgraphs)

    async def execute(
        self, plan: QueryPlan, variables: JSON, coerced_variables: JSON, context: Any = None
    ) -> JSON:
        state = _State(variables, context, coerced_variables)
        try:
            if plan.node is not None:
                await self._run(plan.node, state)
            if plan.introspection is not None:
                result = execute(self.api_schema, plan.introspection, variable_values=variables)
                assert isinstance(result, ExecutionResult)
                state.data.update(result.data or {})
                state.errors.extend(dict(e.formatted) for e in result.errors or ())
            data, errors = shape_response(
                self.api_schema, plan.operation, state.data, coerced_variables, state.errors
            )
        except Exception:
            log.exception("request %s: executing a query plan failed", state.request_id)
            return {"errors": [internal_error(state.request_id)], "data": None}
        response: JSON = {}
        if errors:
            response["errors"] = errors
        response["data"] = data
        return response

    async def execute_event(
        self,
        plan: QueryPlan,
        root: FetchNode,
        rest: PlanNode | None,
        event: SubgraphResponse,
        variables: JSON,
        coerced_variables: JSON,
        context: Any = None,
    ) -> JSON:
        """One event of a subscription: `event` is what the subgraph owning the root field sent for the plan's
        root fetch (`root`); the rest of the plan (entity fetches) runs on it as on a query's root data, and
        the result is shaped to the client's selection. Errors of later fetches give a partial event."""
        state = _State(variables, context, coerced_variables)
        try:
            data = event.data
            if data and root.rewrites:
                _rewrite(data, root.rewrites)
            for error in event.errors:
                state.errors.append(_tag(error, root.service, error.get("path")))
            if data:
                _merge(state.data, data, self.api_schema)
                if rest is not None:
                    await self._run(rest, state)
            data_out, errors = shape_response(
                self.api_schema, plan.operation, state.data, coerced_variables, state.errors
            )
        except Exception:
            log.exception("request %s: executing a subscription event's plan failed", state.request_id)
            return {"errors": [internal_error(state.request_id)], "data": None}
        response: JSON = {}
        if errors:
            response["errors"] = errors
        response["data"] = data_out if event.data else None
        return response

    async def execute_events(
        self,
        plan: QueryPlan,
        root: FetchNode,
        rest: PlanNode | None,
        batched: PlanNode | None,
        events: list[SubgraphResponse],
        variables: JSON,
        coerced_variables: JSON,
        context: Any = None,
    ) -> list[JSON]:
        """Several events of one subscription at once: the rest of the plan runs once for all of them —
        `batched` is `rest` over a list of events (`batched_plan`), so each entity fetch sends one `_entities`
        for the objects of every event — and each event is shaped on its own, with its own errors. Without a
        batched plan (or for one event) each event runs as `execute_event`."""
        if batched is None or len(events) == 1:
            return [
                await self.execute_event(plan, root, rest, e, variables, coerced_variables, context)
                for e in events
            ]
        state = _State(variables, context, coerced_variables)
        errors_of: list[list[JSON]] = [[] for _ in events]
        datas: list[JSON] = []
        try:
            for index, event in enumerate(events):
                data: JSON = {}
                if event.data:
                    if root.rewrites:
                        _rewrite(event.data, root.rewrites)
                    _merge(data, event.data, self.api_schema)
                datas.append(data)
                for error in event.errors:
                    errors_of[index].append(_tag(error, root.service, error.get("path")))
            state.data = datas  # type: ignore[assignment]  # the batched plan's paths start with "@"
            await self._run(batched, state)
            for error in state.errors:  # paths are [event index, ...]; one without a path concerns them all
                path = error.get("path")
                if isinstance(path, list) and path and isinstance(path[0], int):
                    errors_of[path[0]].append({**error, "path": path[1:]})
                else:
                    for found in errors_of:
                        found.append(error)
            out: list[JSON] = []
            for event, data, errors in zip(events, datas, errors_of, strict=True):
                shaped, shaped_errors = shape_response(
                    self.api_schema, plan.operation, data, coerced_variables, errors
                )
                response: JSON = {"errors": shaped_errors} if shaped_errors else {}
                response["data"] = shaped if event.data else None
                out.append(response)
            return out
        except Exception:
            log.exception("request %s: executing subscription events' plan failed", state.request_id)
            return [{"errors": [internal_error(state.request_id)], "data": None} for _ in events]

    async def _run(self, node: PlanNode, state: _State) -> None:
        if isinstance(node, SequenceNode):
            for child in node.nodes:
                await self._run(child, state)
        elif isinstance(node, ParallelNode):
            await asyncio.gather(*(self._run(child, state) for child in node.nodes))
        elif isinstance(node, FlattenNode):
            await self._entities(node.node, state)
        elif isinstance(node, BatchNode):
            await self._batch(node, state)
        else:
            await self._root(node, state)

    def _variables(self, fetch: FetchNode, state: _State) -> JSON:
        if not fetch.variable_usages:
            return {}
        return {name: state.variables[name] for name in fetch.variable_usages if name in state.variables}

    async def _call(
        self, service: str, document: DocumentNode, text: str, variables: JSON, state: _State
    ) -> tuple[JSON | None, list[JSON]]:
        subgraph = self.subgraphs.get(service)
        if subgraph is None:
            return None, [_failure(service, "SUBGRAPH_UNAVAILABLE")]
        name = document.definitions[0].name  # type: ignore[attr-defined]
        try:
            response = await subgraph.fetch(
                document, text, variables, name.value if name else None, state.context
            )
        except SubgraphFailure as exc:
            log.warning(
                "request %s: subgraph %s failed: %s (%s)", state.request_id, service, exc.code, exc.detail
            )
            return None, [_failure(service, exc.code)]
        except Exception:
            log.exception("request %s: calling subgraph %s failed", state.request_id, service)
            return None, [internal_error(state.request_id, service)]
        return response.data, response.errors

    async def _root(self, fetch: FetchNode, state: _State) -> None:
        if _conditional(fetch) and not anything_included(fetch.body, state.coerced):
            return
        data, errors = await self._call(
            fetch.service, fetch.document, fetch.operation, self._variables(fetch, state), state
        )
        if data and fetch.rewrites:
            _rewrite(data, fetch.rewrites)
        for error in errors:
            state.errors.append(_tag(error, fetch.service, error.get("path")))
        if data:
            _merge(state.data, data, self.api_schema)

    async def _entities(self, fetch: FetchNode, state: _State) -> None:
        if fetch.context_inputs:
            await self._entities_in_context(fetch, state)
            return
        batch = self._prepare(fetch, state)
        if batch is None:
            return
        variables = self._variables(fetch, state)
        variables["representations"] = batch.representations
        data, errors = await self._call(fetch.service, fetch.document, fetch.operation, variables, state)
        results = (data or {}).get("_entities")
        if results is not None and fetch.rewrites:
            _rewrite(results, fetch.rewrites)
        self._deliver(fetch, batch, results, errors, "_entities", state)

    async def _batch(self, node: BatchNode, state: _State) -> None:
        """Several entity fetches in one request (`_0: _entities(...)`, `_1: ...`)."""
        batches = [self._prepare(member.node, state) for member in node.nodes]
        if all(b is None for b in batches):
            return
        variables = {n: state.variables[n] for n in node.variable_usages if n in state.variables}
        for index, batch in enumerate(batches):
            variables[f"representations_{index}"] = batch.representations if batch is not None else []
        data, errors = await self._call(node.service, node.document, node.operation, variables, state)
        by_member = _errors_by_alias(errors, len(batches), node.service, state)
        for index, (flatten, batch) in enumerate(zip(node.nodes, batches, strict=True)):
            if batch is None:
                continue
            fetch = flatten.node
            results = (data or {}).get(f"_{index}")
            if results is not None and fetch.rewrites:
                _rewrite(results, fetch.rewrites)
            self._deliver(fetch, batch, results, by_member.get(index, []), "_entities", state)

    async def _entities_in_context(self, fetch: FetchNode, state: _State) -> None:
        """A field with `@fromContext` arguments: objects are grouped by their context values (read from each
        object's ancestor), one aliased `_entities` per group in one request, the values as its variables."""
        if _conditional(fetch) and not anything_included(fetch.body, state.coerced):
            return
        groups: dict[bytes, tuple[list[Any], _Batch, dict[bytes, int]]] = {}
        for obj, path in _collect(state.data, fetch.merge_at, []):
            spec = self._representation(fetch, obj.get("__typename"))
            if spec is None or not _complete(obj, spec):
                continue
            values = [_context_value(state.data, path, i, self.api_schema) for i in fetch.context_inputs]
            values_key = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
            _, batch, index_of = groups.setdefault(values_key, (values, _Batch(fetch.merge_at), {}))
            representation = {"__typename": spec.typename, **_select(obj, spec.selections, self.api_schema)}
            key = orjson.dumps(representation, option=orjson.OPT_SORT_KEYS)
            if key not in index_of:
                index_of[key] = len(batch.representations)
                batch.representations.append(representation)
            batch.objects.append(obj)
            batch.slots.append(index_of[key])
        if not groups:
            return
        text, document = context_document(fetch, len(groups))
        variables = self._variables(fetch, state)
        for index, (values, batch, _) in enumerate(groups.values()):
            variables[f"representations_{index}"] = batch.representations
            for context_input, value in zip(fetch.context_inputs, values, strict=True):
                variables[f"{context_input.variable}_{index}"] = value
        data, errors = await self._call(fetch.service, document, text, variables, state)
        by_group = _errors_by_alias(errors, len(groups), fetch.service, state)
        for index, (_, batch, _) in enumerate(groups.values()):
            results = (data or {}).get(f"_{index}")
            if results is not None and fetch.rewrites:
                _rewrite(results, fetch.rewrites)
            self._deliver(fetch, batch, results, by_group.get(index, []), "_entities", state)

    def _prepare(self, fetch: FetchNode, state: _State) -> _Batch | None:
        """The objects at the fetch's path and their de-duplicated representations (None: nothing to send)."""
        if _conditional(fetch) and not anything_included(fetch.body, state.coerced):
            return None  # every field it would fetch is skipped by @skip/@include: no request
        batch = _Batch(fetch.merge_at)
        representations, objects, slots = batch.representations, batch.objects, batch.slots
        index_of: dict[object, int] = {}
        specs = fetch.representations
        last: Any = _MISSING  # objects at one path mostly share a type: its spec is looked up once
        spec: Representation | None = None
        flat: tuple[tuple[str, str, bool], ...] | None = None
        for obj in _objects(state.data, fetch.merge_at):
            typename = obj.get("__typename")
            if typename != last:
                last = typename
                spec = specs.get(typename) if isinstance(typename, str) else None
                if spec is None:
                    spec = self._representation(fetch, typename)
                flat = _flat(spec) if spec is not None else None
            if spec is None:
                continue
            key: object = None
            if flat is not None:  # key and @requires fields without sub-selections: no walk, no JSON
                representation: JSON = {"__typename": spec.typename}
                strings = True
                for response_key, name, required in flat:
                    value = obj.get(response_key, _MISSING)
                    if value is _MISSING or (value is None and required):
                        break
                    representation[name] = value
                    strings = strings and type(value) is str
                else:
                    if strings:  # (a tuple of strings is its own JSON, and equal only to itself)
                        key = (id(spec), *representation.values())
                if len(representation) <= len(flat):
                    continue  # a key is null or a field is missing: not sent
            else:
                if not _complete(obj, spec):
                    continue
                representation = {
                    "__typename": spec.typename,
                    **_select(obj, spec.selections, self.api_schema),
                }
            if key is None:
                key = orjson.dumps(representation, option=orjson.OPT_SORT_KEYS)
            slot = index_of.get(key)
            if slot is None:
                slot = index_of[key] = len(representations)
                representations.append(representation)
            objects.append(obj)
            slots.append(slot)
        return batch if representations else None

    def _deliver(
        self,
        fetch: FetchNode,
        batch: _Batch,
        results: Any,
        errors: list[JSON],
        field_name: str,
        state: _State,
    ) -> None:
        """Merge each answer into every object its representation stood for; errors go to each such path."""
        paths_of: dict[int, list[Path]] = {}
        if errors:
            for object_path, slot in zip(_paths(state.data, batch), batch.slots, strict=True):
                if object_path is not None:
                    paths_of.setdefault(slot, []).append(object_path)
        for error in errors:
            error_path = error.get("path")
            if (
                isinstance(error_path, list)
                and len(error_path) >= 2
                and error_path[0] == field_name
                and isinstance(error_path[1], int)
                and error_path[1] in paths_of
            ):
                for base in paths_of[error_path[1]]:
                    state.errors.append(_tag(error, fetch.service, [*base, *error_path[2:]]))
            else:
                state.errors.append(_tag(error, fetch.service, None))
        if not isinstance(results, list):
            return
        count = len(results)
        schema = self.api_schema
        for obj, slot in zip(batch.objects, batch.slots, strict=True):
            result = results[slot] if slot < count else None
            if isinstance(result, dict):
                if obj.keys().isdisjoint(result):
                    obj.update(result)  # only new fields (the usual case): nothing to merge into
                else:
                    _merge(obj, result, schema)

    def _representation(self, fetch: FetchNode, typename: Any) -> Representation | None:
        """The representation for objects of this runtime type: by name, or by an abstract type it belongs to
        (objects an @interfaceObject subgraph returned carry the interface's name until their real type is
        known)."""
        if not isinstance(typename, str):
            return None
        spec = fetch.representations.get(typename)
        if spec is not None:
            return spec
        runtime = self.api_schema.get_type(typename)
        for name, candidate in fetch.representations.items():
            abstract = self.api_schema.get_type(name)
            if (
                isinstance(runtime, GraphQLObjectType)
                and abstract is not None
                and is_abstract_type(abstract)
                and self.api_schema.is_sub_type(abstract, runtime)
            ):
                return candidate
        return None


def _errors_by_alias(errors: list[JSON], count: int, service: str, state: _State) -> dict[int, list[JSON]]:
    """Errors of a request with aliased `_entities` fields (`_0`, `_1`, …), by alias, with their paths as if
    under `_entities`; the others go to the response as they are."""
    found: dict[int, list[JSON]] = {}
    for error in errors:
        path = error.get("path")
        head = path[0] if isinstance(path, list) and path else None
        index = int(head[1:]) if isinstance(head, str) and head[1:].isdigit() else -1
        if 0 <= index < count and isinstance(path, list):
            found.setdefault(index, []).append({**error, "path": ["_entities", *path[1:]]})
        else:
            state.errors.append(_tag(error, service, None))
    return found


def _context_value(data: JSON, path: Path, context_input: ContextInput, schema: GraphQLSchema) -> Any:
    """The value a `@fromContext` argument takes for the object at `path`: its selection, read on the
    ancestor the first `depth` steps of the path lead to."""
    value: Any = data
    for step in path[: context_input.depth]:
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return None
    selected = _select(value, context_input.selections, schema)
    if not isinstance(selected, dict) or not selected:
        return None
    return next(iter(selected.values()))


_MISSING: Any = object()


def _conditional(fetch: FetchNode) -> bool:
    """Whether any selection of the fetch carries a directive (@skip/@include may then leave it out), worked
    out once per fetch of a cached plan."""
    if fetch.conditional is None:
        fetch.conditional = _has_directives(fetch.body)
    return fetch.conditional


def _has_directives(selections: list[Selection]) -> bool:
    return any(s.directives or _has_directives(s.selections) for s in selections)


def _flat(spec: Representation) -> tuple[tuple[str, str, bool], ...] | None:
    """(response key, field name, must be non-null) per field when a representation is only leaf fields, each
    name once: built per object with no walk (worked out once per cached plan); None otherwise."""
    if spec.flat is None:
        fields: list[tuple[str, str, bool]] = []
        for selection in spec.selections:
            if not isinstance(selection, Field) or selection.selections:
                spec.flat = ()
                return None
            fields.append((selection.response_key, selection.name, selection.response_key in spec.keys))
        names = [name for _, name, _ in fields]
        spec.flat = tuple(fields) if fields and len(set(names)) == len(names) else ()
    return spec.flat or None


def _objects(data: JSON, segments: tuple[str, ...]) -> list[JSON]:
    """The objects at a `Flatten` path, in response order (as `_collect`, without their paths)."""
    level: list[Any] = [data]
    for head in segments:
        below: list[Any] = []
        if head == "@":
            for value in level:
                if isinstance(value, list):
                    below.extend(value)
        else:
            for value in level:
                if isinstance(value, dict):
                    below.append(value.get(head))
        level = below
    found: list[JSON] = []
    _flatten_objects(level, found)
    return found


def _flatten_objects(values: list[Any], found: list[JSON]) -> None:
    for value in values:
        if isinstance(value, dict):
            found.append(value)
        elif isinstance(value, list):  # a list at the path itself (a list of entities at the root of a jump)
            _flatten_objects(value, found)


def _paths(data: JSON, batch: _Batch) -> list[Path | None]:
    """The response path of each object of a batch (for errors): the path is walked again and objects found
    by identity; one no longer there has none."""
    where = {id(obj): path for obj, path in _collect(data, batch.merge_at, [])}
    return [where.get(id(obj)) for obj in batch.objects]


def _complete(obj: JSON, spec: Representation) -> bool:
    """Whether the object has what its representation needs: non-null keys, and every @requires field (an
    entity fetch that failed or found nothing leaves them missing; the dependent fetch skips the object)."""
    # One field may sit under several response keys (an alias chosen where the client's own field had
    # directives, and the plain name elsewhere): one present is enough.
    found: dict[str, bool] = {}
    for selection in spec.selections:
        if isinstance(selection, Field):
            key = selection.response_key
            present = key in obj and (key not in spec.keys or obj[key] is not None)
            found[selection.name] = found.get(selection.name, False) or present
    return all(found.values())


def _failure(service: str, code: str) -> JSON:
    return {
        "message": f'Subgraph "{service}" could not be reached.'
        if code == "SUBGRAPH_UNAVAILABLE"
        else f'Subgraph "{service}" timed out.'
        if code == "SUBGRAPH_TIMEOUT"
        else f'Subgraph "{service}" answered with something that is not a GraphQL response.',
        "extensions": {"code": code, "serviceName": service},
    }


def _tag(error: JSON, service: str, path: Any) -> JSON:
    out: JSON = {"message": str(error.get("message", "Subgraph error"))}
    if path:
        out["path"] = path
    extensions = dict(error.get("extensions") or {})
    extensions.setdefault("code", "DOWNSTREAM_SERVICE_ERROR")
    extensions["serviceName"] = service
    out["extensions"] = extensions
    return out


def _collect(value: Any, segments: tuple[str, ...], path: Path) -> Iterator[tuple[JSON, Path]]:
    if not segments:
        if isinstance(value, dict):
            yield value, path
        elif isinstance(value, list):  # a list at the path itself (a list of entities at the root of a jump)
            for index, item in enumerate(value):
                yield from _collect(item, segments, [*path, index])
        return
    head, rest = segments[0], segments[1:]
    if head == "@":
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from _collect(item, rest, [*path, index])
    elif isinstance(value, dict):
        yield from _collect(value.get(head), rest, [*path, head])


def _select(value: Any, selections: list[Selection], schema: GraphQLSchema) -> Any:
    """The part of `value` a field set selects, keyed by field names (what representations carry)."""
    if isinstance(value, list):
        return [_select(item, selections, schema) for item in value]
    if not isinstance(value, dict):
        return value
    out: JSON = {}
    for selection in selections:
        if isinstance(selection, Field):
            key = selection.response_key  # an alias only when the planner had to avoid a client's alias
            if key in value:
                item = value[key]
                out[selection.name] = (
                    _select(item, selection.selections, schema) if selection.selections else item
                )
        elif _matches(value.get("__typename"), selection.type_condition, schema):
            out.update(_select(value, selection.selections, schema))
    return out


def _matches(typename: Any, condition: str | None, schema: GraphQLSchema) -> bool:
    if condition is None or typename is None or typename == condition:
        return True
    runtime, abstract = schema.get_type(str(typename)), schema.get_type(condition)
    if isinstance(runtime, GraphQLObjectType) and abstract is not None and is_abstract_type(abstract):
        return schema.is_sub_type(abstract, runtime)
    return False


def _rewrite(value: Any, rewrites: Rewrites) -> None:
    """Give fields a fetch sent under an alias their response key back (see planner/document.py)."""
    if isinstance(value, list):
        for item in value:
            _rewrite(item, rewrites)
        return
    if not isinstance(value, dict):
        return
    for sent_as, (key, below) in rewrites.items():
        if sent_as not in value:
            continue
        if below:
            _rewrite(value[sent_as], below)
        if key is not None:
            value[key] = value.pop(sent_as)


def _merge(target: JSON, source: JSON, schema: GraphQLSchema) -> None:
    for key, value in source.items():
        existing = target.get(key)
        if existing is None:
            target[key] = value
            continue
        if key == "__typename":
            current = schema.get_type(str(existing))
            if current is not None and not is_abstract_type(current):
                continue  # an @interfaceObject subgraph answers with the interface name; keep the real type
        if isinstance(existing, dict) and isinstance(value, dict):
            _merge(existing, value, schema)
        elif isinstance(existing, list) and isinstance(value, list):
            _merge_lists(existing, value, schema)
        else:
            target[key] = value


def _merge_lists(existing: list[Any], value: list[Any], schema: GraphQLSchema) -> None:
    """Item by item; items only one side has are kept (a shorter answer must not drop what a later fetch
    reads from the longer one)."""
    for index, item in enumerate(value):
        if index >= len(existing):
            existing.append(item)
        elif isinstance(existing[index], dict) and isinstance(item, dict):
            _merge(existing[index], item, schema)
        elif isinstance(existing[index], list) and isinstance(item, list):
            _merge_lists(existing[index], item, schema)
        else:
            existing[index] = item


def batched_plan(node: PlanNode) -> PlanNode | None:
    """`node` (entity fetches of a subscription's plan) over a list of events: every path gets a leading `@`.
    None when a fetch reads `@fromContext` values (their ancestor depths count from the root)."""
    if isinstance(node, SequenceNode | ParallelNode):
        children = [batched_plan(child) for child in node.nodes]
        if any(child is None for child in children):
            return None
        return type(node)([c for c in children if c is not None])
    if isinstance(node, FlattenNode):
        fetch = _batched_fetch(node.node)
        return None if fetch is None else FlattenNode(("@", *node.path), fetch)
    if isinstance(node, BatchNode):
        members = [_batched_fetch(m.node) for m in node.nodes]
        if any(m is None for m in members):
            return None
        return dataclasses.replace(
            node,
            nodes=[FlattenNode(("@", *m.path), f) for m, f in zip(node.nodes, members, strict=True) if f],
        )
    return None  # a root fetch: not part of a subscription's per-event plan


def _batched_fetch(fetch: FetchNode) -> FetchNode | None:
    if fetch.context_inputs or not fetch.entity:
        return None
    return dataclasses.replace(fetch, merge_at=("@", *fetch.merge_at))
