"""GraphQL over Server-Sent Events: the graphql-sse protocol's "distinct connections mode" (one HTTP request per
operation), on the same route as the endpoint's GraphQL over HTTP face (the "single connection mode" is
sse_single.py). A request whose `Accept` names `text/event-stream` (what graphql-sse's client and EventSource
send) is answered with an event stream:

    event: next        data: <ExecutionResult>     (each event of a subscription; once for a query/mutation)
    event: complete    data:                       (a query, mutation or refused operation is done)

Request errors (parse, validation, limits, authorization) are `next` events with `errors`, then `complete`, as
the protocol asks (a 400 would make EventSource fail without a reason). A subscription ends when the client
closes the request. Queries are POST (JSON body) or GET (`query`, `variables`, `operationName` parameters).

Same machinery as the WebSocket face: the principal and tenant the HTTP layer verified, the same limits and
authorization (service.py), the same bounded outbox (outbox.py). A slow reader cannot be closed with a code
here: with the `close` policy it gets a last `next` carrying a `SLOW_CONSUMER` error and the stream ends;
when the server misses change notices the stream ends after a `next` with `MISSED_NOTICES`. A comment line
every `KEEPALIVE_S` keeps proxies from timing out an idle stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any
from uuid import uuid4

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from atlas4d.auth.principal import Principal
from atlas4d.settings import Settings
from atlas4d.streaming.outbox import Outbox, SlowConsumer
from atlas4d.streaming.service import Live, LiveService, Refused, Single, Subscriber

KEEPALIVE_S = 15.0
METHODS = ["GET", "POST", "PUT", "DELETE"]  # of a route serving GraphQL over HTTP and SSE (both modes)
EVENT_STREAM = "text/event-stream"
HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
END_OF_STREAM = ""  # the outbox item that ends the stream


async def event_stream(outbox: Outbox) -> AsyncIterator[str]:
    """The text of an event stream (both modes): a first comment at once (headers and a first byte out now:
    the client knows its stream is live), then the outbox's items until `END_OF_STREAM`, with a comment every
    `KEEPALIVE_S` while idle."""
    yield ":\n\n"
    while True:
        try:
            text = await asyncio.wait_for(outbox.get(), KEEPALIVE_S)
        except TimeoutError:
            yield ":\n\n"
            continue
        if text == END_OF_STREAM:
            return
        yield text


Handler = Callable[[Request], Awaitable[Response]]


def wants_event_stream(request: Request) -> bool:
    return EVENT_STREAM in request.headers.get("accept", "")


def _next(payload: str) -> str:
    return f"event: next\ndata: {payload}\n\n"


def _error_event(code: str, message: str) -> str:
    return _next(orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).decode())


COMPLETE = "event: complete\ndata:\n\n"


class GraphQLSSE:
    def __init__(self, service: LiveService, settings: Settings) -> None:
        from atlas4d.streaming.sse_single import SingleConnections

        self.service = service
        self.settings = settings
        self.single = SingleConnections(service, settings)  # single connection mode (sse_single.py)

    def claims(self, request: Request) -> bool:
        """Whether this face answers the request (an event stream, or a single-connection-mode request)."""
        return self.single.claims(request) or wants_event_stream(request)

    async def dispatch(self, request: Request) -> Response:
        """Answer a request `claims` accepted."""
        if self.single.claims(request):
            return await self.single.handle(request)
        return await self.handle(request)

    def wrap(self, http: Handler) -> Handler:
        """The route's handler: SSE (both modes) here, everything else to the endpoint's HTTP face. The route
        must take PUT and DELETE too (`METHODS`)."""

        async def route(request: Request) -> Response:
            if self.claims(request):
                return await self.dispatch(request)
            return await http(request)

        return route

    async def _params(self, request: Request) -> dict[str, Any] | str:
        if request.method == "GET":
            q = request.query_params
            params: dict[str, Any] = {"query": q.get("query"), "operationName": q.get("operationName")}
            if q.get("variables"):
                try:
                    params["variables"] = orjson.loads(q["variables"])
                except orjson.JSONDecodeError:
                    return "`variables` is not JSON"
            return params
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return "the body is not JSON"
        return body if isinstance(body, dict) else "the body must be a JSON object"

    async def handle(self, request: Request) -> Response:
        self.service.bind(request.app.state)
        state = request.scope.get("state") or {}
        request_id = str(state.get("request_id") or uuid4().hex[:16])
        params = await self._params(request)
        if isinstance(params, str):
            return self._once([_error_event("BAD_REQUEST", params)])
        principal = state.get("principal")
        principal = principal if isinstance(principal, Principal) else None
        tenant = principal.tenant if principal is not None and self.settings.tenancy else None
        started = await self.service.start(params, request_id, Subscriber(request, principal, tenant), 0)
        if isinstance(started, Refused):
            return self._once([_next(orjson.dumps({"errors": started.errors}).decode())])
        if isinstance(started, Single):
            return self._once([_next(started.payload)])
        return StreamingResponse(
            self._stream(started), media_type=EVENT_STREAM, headers={**HEADERS, "x-request-id": request_id}
        )

    @staticmethod
    def _once(events: list[str]) -> Response:
        return Response("".join(events) + COMPLETE, media_type=EVENT_STREAM, headers=HEADERS)

    async def _stream(self, live: Live) -> AsyncIterator[str]:
        outbox = Outbox(self.settings.stream_queue_size, self.settings.stream_slow_consumer)
        hub = self.service.hub()
        ended = False

        def end(code: str, message: str) -> None:
            nonlocal ended
            if not ended:
                ended = True
                self.service.stop(live)
                outbox.put_control(_error_event(code, message))
                outbox.put_control(END_OF_STREAM)

        def sink(items: list[tuple[Hashable, str]]) -> None:
            try:
                outbox.put_batch([(entity, _next(payload)) for entity, payload in items])
            except SlowConsumer as exc:
                end("SLOW_CONSUMER", f"Slow consumer: {exc}")

        def missed(reason: str) -> None:
            end("MISSED_NOTICES", f"Missed change notices: {reason}; resubscribe and refetch")

        def finished(errors: list[dict[str, Any]]) -> None:  # the source ended (a gateway's upstream)
            nonlocal ended
            if not ended:
                ended = True
                if errors:
                    outbox.put_control(_next(orjson.dumps({"errors": errors}).decode()))
                outbox.put_control(COMPLETE)  # the operation is done, as the protocol says
                outbox.put_control(END_OF_STREAM)

        live.feed.sink = sink
        live.feed.end = finished
        hub.gap_listeners.add(missed)
        try:
            async for text in event_stream(outbox):
                yield text
        finally:
            hub.gap_listeners.discard(missed)
            if not ended:
                with contextlib.suppress(Exception):
                    self.service.stop(live)
