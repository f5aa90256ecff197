"""Subscriptions through the gateway: planned like queries, each event run through the rest of the plan.

    client ─subscribe─► gateway: plan (the query planner, its cache) = root fetch + entity fetches
    root fetch ─► the subgraph owning the root field, as a subscription:
        in-process subgraph on this server's hub  → its feed, rendered by `PlannedOperation` (per hub batch)
        other in-process subgraph (async iterator) → iterated by `_pump`
        remote subgraph                            → graphql-transport-ws (upstream_ws.py), iterated by `_pump`
    each event ─► PlanExecutor.execute_event: `_entities` per subgraph, @requires…, shaped to the selection ─►
        the client's outbox (the protocol faces of atlas4d.streaming: ws.py, sse.py — same limits and auth)

A subscription one in-process subgraph serves whole (its schema agrees with the API's) keeps the direct path of
`LiveService` (no planning per event), as a single-fetch query does (platform.py).

Errors: an entity fetch failing gives that event with `errors` and partial data (as a query would), the stream
goes on. The upstream subgraph closing its socket, or refusing the subscription, ends the client's subscription
with a last `next` carrying the typed error naming the subgraph (`SUBGRAPH_UNAVAILABLE`…), then `complete`. The
client completing (or going away) stops the upstream subscription and closes its socket (`upstreams` holds the
running ones; tests assert it empties).

Identical subscriptions to a remote subgraph (operation, variables, tenant, and the headers forwarded — so what
the subgraphs answer cannot differ) share one upstream subscription, and each event's plan runs once for all of
them (`shared`; Apollo Router deduplicates the same way). The upstream stops when its last client does.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import DocumentNode, ExecutionResult
from graphql.execution.execute import create_source_event_stream
from graphql.execution.executor import Executor

from atlas4d.federation.executor import internal_error, request_id_of
from atlas4d.federation.gateway import Gateway, PlannedSubscription
from atlas4d.federation.transport import (
    JSON,
    LocalSubgraph,
    RemoteSubgraph,
    SubgraphFailure,
    SubgraphResponse,
    forwarded_headers,
)
from atlas4d.federation.upstream_ws import UpstreamSubscription, websocket_url
from atlas4d.observe import metrics
from atlas4d.settings import Settings
from atlas4d.streaming.execution import LiveExecutor, LiveOperation, request_errors
from atlas4d.streaming.hub import Feed, Hub
from atlas4d.streaming.service import Live, LiveService, Refused, Router, Single, Subscriber
from atlas4d.web.errors import format_graphql_error
from atlas4d.web.graphql_http import GraphQLEndpoint

log = logging.getLogger("atlas4d.federation")
_keys = itertools.count()
QUEUED_EVENTS = 1_000  # upstream events read ahead of the plan runs, per upstream subscription
BATCH_EVENTS = 100  # events whose entity fetches share one request


def _failure_message(service: str, code: str) -> JSON:
    text = {
        "SUBGRAPH_UNAVAILABLE": f'Subgraph "{service}" could not be reached or closed the subscription.',
        "SUBGRAPH_TIMEOUT": f'Subgraph "{service}" did not accept the subscription in time.',
    }.get(code, f'Subgraph "{service}" answered the subscription with something that is not graphql-ws.')
    return {"message": text, "extensions": {"code": code, "serviceName": service}}


class PlannedOperation(LiveOperation):
    """Renders hub events of a planned subscription: the root fetch's selection on the owning in-process
    subgraph, then the rest of the plan on each event (events of one hub batch concurrently, one context: the
    in-process subgraphs' DataLoaders batch across them)."""

    def __init__(
        self,
        template: Executor[Any],
        context_factory: Callable[[], Any],
        request_id: str,
        gateway: Gateway,
        planned: PlannedSubscription,
        subgraph: LocalSubgraph,
    ) -> None:
        super().__init__(template, context_factory, request_id)
        self.gateway = gateway
        self.planned = planned
        self.subgraph = subgraph

    async def render(self, events: Sequence[Any]) -> list[str]:
        context = self.context_factory()
        results = await self.execute(events, context)
        p = self.planned
        fmt = self.subgraph.format_error

        responses = [
            SubgraphResponse(r.data, [fmt(e, context) if fmt else dict(e.formatted) for e in r.errors or ()])
            for r in results
        ]
        outs = await self.gateway.executor.execute_events(
            p.plan, p.root, p.rest, p.batched, responses, p.variables, p.coerced, context
        )
        return [orjson.dumps(out).decode() for out in outs]


class _UpstreamFeed(Feed):
    """The feed of an upstream subscription: not attached to the hub; `ready` once the face set its sink."""

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "sink" and value is not None:
            self.ready.set()

    @property
    def ready(self) -> asyncio.Event:
        event: asyncio.Event | None = self.__dict__.get("_ready")
        if event is None:
            event = self.__dict__["_ready"] = asyncio.Event()
        return event


@dataclass(eq=False)
class _Shared:
    """One upstream subscription and the client subscriptions it feeds."""

    key: Hashable | None  # what identical subscriptions share it by (None: not shared)
    lives: list[Upstream] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Upstream(Live):
    """A client subscription fed by an upstream subscription (remote, or an in-process async iterator)."""

    shared: _Shared = field(default_factory=lambda: _Shared(None))
    stopped: bool = False


class _NoHub(Hub):
    """A gateway serving no database of its own has no hub; the faces only register gap listeners on it."""

    def __init__(self) -> None:
        self.gap_listeners = set()


class PlannedLiveService(LiveService):
    """`LiveService` for a gateway's endpoint: subscriptions planned by the gateway's planner."""

    def __init__(
        self,
        endpoint: GraphQLEndpoint,
        settings: Settings,
        gateway: Gateway,
        make_context: Callable[[Any, str], Any],
        route: Router | None = None,
    ) -> None:
        """`route`: where a subscription one in-process subgraph serves whole goes directly (str: none)."""
        super().__init__(endpoint, settings, make_context, route or (lambda _d: "planned"))
        self.gateway = gateway
        self.upstreams: set[asyncio.Task[None]] = set()  # running upstream subscriptions
        self.shared: dict[Hashable, _Shared] = {}
        self._no_hub = _NoHub()
        self._propagate = tuple(h.strip().lower() for h in settings.propagate_headers.split(",") if h.strip())

    def hub(self) -> Hub:
        hub = getattr(self.state, "stream_hub", None)
        return hub if isinstance(hub, Hub) else self._no_hub

    def context_factory(self, request_id: str) -> Any:
        return self.make_context(getattr(self.state, "pool", None), request_id)

    async def subscribe(
        self,
        document: DocumentNode,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        request_id: str,
        who: Subscriber,
    ) -> Refused | Single | Live:
        direct = self.route(document)
        if not isinstance(direct, str):
            return await super().subscribe(document, query, variables, operation_name, request_id, who)
        context = self.context_factory(request_id)
        planned = self.gateway.plan_subscription(query, document, operation_name, variables, context)
        if isinstance(planned, list):
            return Refused(planned)
        subgraph = self.gateway.subgraphs.get(planned.root.service)
        if isinstance(subgraph, LocalSubgraph):
            return await self._local(
                subgraph, planned, document, query, operation_name, request_id, who, context
            )
        if isinstance(subgraph, RemoteSubgraph):
            return await self._remote(subgraph, planned, query, operation_name, request_id, who, context)
        return Single(
            orjson.dumps(
                {"errors": [_failure_message(planned.root.service, "SUBGRAPH_UNAVAILABLE")]}
            ).decode()
        )

    # --- in-process root subgraph ---------------------------------------------------------------------------
    async def _local(
        self,
        subgraph: LocalSubgraph,
        planned: PlannedSubscription,
        document: DocumentNode,
        query: str,
        operation_name: str | None,
        request_id: str,
        who: Subscriber,
        context: Any,
    ) -> Refused | Single | Live:
        root = planned.root
        name = root.document.definitions[0].name  # type: ignore[attr-defined]
        built = LiveExecutor.build(
            subgraph.schema,
            root.document,
            context_value=context,
            raw_variable_values=planned.root_variables,
            operation_name=name.value if name else None,
            hide_suggestions=not self.settings.suggestions,
        )
        if isinstance(built, list):
            return Refused(request_errors(built, request_id))
        stream = create_source_event_stream(built)
        if inspect.isawaitable(stream):
            stream = await stream
        if isinstance(stream, ExecutionResult):
            errors = [format_graphql_error(e, request_id) for e in stream.errors or ()]
            out = await self.gateway.executor.execute_event(
                planned.plan, root, None, SubgraphResponse(None, errors), {}, {}, context
            )
            return Single(orjson.dumps(out).decode())
        if isinstance(stream, Feed):
            return await self._on_hub(
                stream, built, subgraph, planned, document, query, operation_name, request_id, who
            )
        events = _local_events(built, stream, subgraph, context)
        return self._start_upstream(events, planned, who, context)

    async def _on_hub(
        self,
        feed: Feed,
        template: Executor[Any],
        subgraph: LocalSubgraph,
        planned: PlannedSubscription,
        document: DocumentNode,
        query: str,
        operation_name: str | None,
        request_id: str,
        who: Subscriber,
    ) -> Live:
        # shared as LiveService shares its renderers: per selection (the root field's arguments only pick the
        # events) and tenant
        variables = self.relevant_variables(document, operation_name, planned.variables)
        key = ("planned", query, operation_name, variables, who.tenant)
        return await self.attach(
            feed,
            key,
            lambda: PlannedOperation(
                template,
                lambda: self.context_factory(request_id),
                request_id,
                self.gateway,
                planned,
                subgraph,
            ),
            who,
        )

    # --- remote root subgraph -------------------------------------------------------------------------------
    def _client_headers(self, who: Subscriber) -> dict[str, str]:
        """What subgraphs see of the client (`ATLAS4D_PROPAGATE_HEADERS`): from its upgrade or SSE request, and
        the credentials of its connection_init."""
        headers = {k: v for k, v in who.connection.headers.items() if k.lower() in self._propagate}
        headers.update(
            {k: v for k, v in (forwarded_headers.get() or {}).items() if k.lower() in self._propagate}
        )
        state = who.connection.scope.get("state") or {}
        offered = state.get("init_credentials")
        if isinstance(offered, dict):
            headers.update({k: v for k, v in offered.items() if k.lower() in self._propagate})
        return headers

    async def _remote(
        self,
        subgraph: RemoteSubgraph,
        planned: PlannedSubscription,
        query: str,
        operation_name: str | None,
        request_id: str,
        who: Subscriber,
        context: Any,
    ) -> Refused | Single | Live:
        root = planned.root
        client = self._client_headers(who)
        # identical subscriptions (operation, variables, what the subgraphs see of the client) share one
        # upstream subscription, and each event's plan runs once for all of them (Apollo Router's dedup)
        key = (
            root.service,
            query,
            operation_name,
            orjson.dumps(planned.variables, option=orjson.OPT_SORT_KEYS),
            orjson.dumps(client, option=orjson.OPT_SORT_KEYS),
            who.tenant,
        )
        shared = self.shared.get(key)
        if shared is not None:
            return self._join(shared, who)
        url = subgraph.subscription_url or websocket_url(subgraph.url)
        headers = {**client, **subgraph.headers}  # the gateway's own (the subgraph secret) win
        name = root.document.definitions[0].name  # type: ignore[attr-defined]
        try:
            upstream = await UpstreamSubscription.open(
                url,
                headers,
                dict(headers),
                root.operation,
                planned.root_variables,
                name.value if name else None,
                self.gateway.timeout,
            )
        except SubgraphFailure as exc:
            log.warning(
                "request %s: subscribing to subgraph %s failed: %s (%s)",
                request_id,
                root.service,
                exc.code,
                exc.detail,
            )
            return Single(
                orjson.dumps({"errors": [_failure_message(root.service, exc.code)], "data": None}).decode()
            )
        subgraph.requests += 1
        shared = self.shared.get(key)
        if shared is not None:  # another client opened the same one meanwhile
            await upstream.aclose()
            return self._join(shared, who)
        return self._start_upstream(_closing(upstream), planned, who, context, key)

    # --- upstream streams (remote, or an in-process async iterator) ----------------------------------------
    def _start_upstream(
        self,
        events: AsyncIterator[SubgraphResponse],
        planned: PlannedSubscription,
        who: Subscriber,
        context: Any,
        key: Hashable | None = None,
    ) -> Upstream:
        shared = _Shared(key)
        live = self._join(shared, who)
        # the task's entity fetches forward the client's headers, as a query's fetches do (transport.py)
        token = forwarded_headers.set(self._client_headers(who))
        try:
            task = asyncio.get_running_loop().create_task(self._pump(events, shared, planned, context))
        finally:
            forwarded_headers.reset(token)
        shared.task = task
        self.upstreams.add(task)
        task.add_done_callback(self.upstreams.discard)
        if key is not None:
            self.shared[key] = shared
        return live

    def _join(self, shared: _Shared, who: Subscriber) -> Upstream:
        principal = who.key
        if principal is not None:
            self.per_principal[principal] = self.per_principal.get(principal, 0) + 1
        feed = _UpstreamFeed(topic="upstream", spec=None, tenant=who.tenant)
        feed.__dict__["_ready"] = shared.ready  # any of its clients attached: events may flow
        live = Upstream(feed, None, ("upstream", next(_keys)), principal, shared)
        shared.lives.append(live)
        metrics.subscription_started("all")
        return live

    async def _pump(
        self,
        events: AsyncIterator[SubgraphResponse],
        shared: _Shared,
        planned: PlannedSubscription,
        context: Any,
    ) -> None:
        """Each upstream event through the rest of the plan (once), to every client of it; the end (or the
        failure) told to each."""
        service = planned.root.service
        errors: list[JSON] = []
        queue: asyncio.Queue[SubgraphResponse | BaseException | None] = asyncio.Queue(QUEUED_EVENTS)
        reader = asyncio.get_running_loop().create_task(_read(events, queue))
        try:
            await shared.ready.wait()
            ended = False
            while not ended:
                # the events that arrived while the previous ones ran: one plan run for them all
                batch: list[SubgraphResponse] = []
                item = await queue.get()
                while True:
                    if item is None:
                        ended = True
                        break
                    if isinstance(item, BaseException):
                        await self._deliver(shared, planned, batch, context)
                        raise item
                    batch.append(item)
                    if queue.empty() or len(batch) >= BATCH_EVENTS:
                        break
                    item = queue.get_nowait()
                await self._deliver(shared, planned, batch, context)
        except SubgraphFailure as exc:
            log.warning("subscription from subgraph %s ended: %s (%s)", service, exc.code, exc.detail)
            errors = [_failure_message(service, exc.code)]
        except asyncio.CancelledError:
            raise
        except Exception:
            request_id = request_id_of(context)
            log.exception("request %s: a subscription from subgraph %s failed", request_id, service)
            errors = [internal_error(request_id, service)]
        finally:
            if shared.key is not None and self.shared.get(shared.key) is shared:
                del self.shared[shared.key]  # a client subscribing from now on gets a new upstream
            reader.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.shield(reader)  # its cancellation closes the upstream (`_closing`)
        for live in list(shared.lives):  # the upstream ended by itself: each released, then told
            end = live.feed.end if live.feed.sink is not None else None
            self.stop(live)
            if end is not None:
                end(errors)

    async def _deliver(
        self, shared: _Shared, planned: PlannedSubscription, batch: list[SubgraphResponse], context: Any
    ) -> None:
        if not batch:
            return
        outs = await self.gateway.executor.execute_events(
            planned.plan,
            planned.root,
            planned.rest,
            planned.batched,
            batch,
            planned.variables,
            planned.coerced,
            context,
        )
        texts = [orjson.dumps(out).decode() for out in outs]
        for live in list(shared.lives):
            sink = live.feed.sink
            if sink is not None:  # never coalesced: no entity is known here
                sink([(("upstream", next(_keys)), text) for text in texts])
                live.feed.delivered += len(texts)

    def stop(self, live: Live) -> None:
        if not isinstance(live, Upstream):
            super().stop(live)
            return
        if live.stopped:
            return
        live.stopped = True
        shared = live.shared
        shared.lives.remove(live)
        if not shared.lives:
            if shared.key is not None and self.shared.get(shared.key) is shared:
                del self.shared[shared.key]
            if shared.task is not None and shared.task is not asyncio.current_task():
                shared.task.cancel()
        live.feed.sink = None
        live.feed.end = None
        metrics.subscription_ended("all")
        if live.principal is not None:
            left = self.per_principal.get(live.principal, 1) - 1
            if left > 0:
                self.per_principal[live.principal] = left
            else:
                self.per_principal.pop(live.principal, None)

    async def aclose(self) -> None:
        """Stop every upstream subscription (server shutdown)."""
        tasks = list(self.upstreams)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


async def _read(
    events: AsyncIterator[SubgraphResponse],
    queue: asyncio.Queue[SubgraphResponse | BaseException | None],
) -> None:
    """Upstream events into the pump's queue, then None (the end) or the failure. A full queue stops the
    reading, and the socket's own bounded buffer then slows the subgraph down (TCP backpressure)."""
    try:
        async for event in events:
            await queue.put(event)
        await queue.put(None)
    except asyncio.CancelledError:
        raise
    except BaseException as exc:  # handed to the pump, which reports it
        await queue.put(exc)
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


async def _closing(upstream: UpstreamSubscription) -> AsyncIterator[SubgraphResponse]:
    """The upstream's events; its socket closed however the iteration ends (cancelled included)."""
    try:
        async for event in upstream:
            yield event
    finally:
        await asyncio.shield(upstream.aclose())


async def _local_events(
    template: Executor[Any], stream: Any, subgraph: LocalSubgraph, context: Any
) -> AsyncIterator[SubgraphResponse]:
    """An in-process subgraph's own event stream (an async iterator from its subscribe resolver), each event
    executed on its schema as the root fetch's result."""
    fmt = subgraph.format_error
    try:
        async for event in stream:
            executor = template.build_per_event_executor(event)
            result = executor.execute_operation(False)
            if inspect.isawaitable(result):
                result = await result
            assert isinstance(result, ExecutionResult)
            errors = [fmt(e, context) if fmt else dict(e.formatted) for e in result.errors or ()]
            yield SubgraphResponse(result.data, errors)
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
