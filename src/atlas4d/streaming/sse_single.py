"""GraphQL over Server-Sent Events, the graphql-sse protocol's "single connection mode": one event stream carries
the results of every operation a client runs, and plain HTTP requests steer it (browsers open at most six
HTTP/1.1 connections per site; one stream for many subscriptions stays within that).

    PUT    /graphql                          -> 201, body: a stream token (the reservation)
    GET    /graphql  (Accept: text/event-stream, token)  -> the event stream (one per reservation)
    POST   /graphql  (token, body {query, variables, operationName, extensions: {operationId}})
                                             -> 202; results arrive on the stream:
           event: next      data: {"id": "<operationId>", "payload": <ExecutionResult>}
           event: complete  data: {"id": "<operationId>"}
    DELETE /graphql?operationId=…  (token)   -> 200; the operation stops (no further events for it)

The token travels in the `X-GraphQL-Event-Stream-Token` header or the `token` query parameter. Every request
is authenticated by the HTTP layer as usual, and a reservation answers only to the principal that made it
(anyone else gets `STREAM_NOT_FOUND`, as for an unknown token). Operations may be posted before the stream is
opened: their events wait in the reservation's queue. A reservation whose stream is not opened within
`RESERVATION_TTL_S` is dropped with its operations; when the stream closes, its operations stop and the token
is void (the graphql-sse client reserves anew when it reconnects).

Same machinery as the other faces (service.py): parse/validation caches, limits, cost, field authorization,
tenancy, `ATLAS4D_MAX_SUBSCRIPTIONS_PER_CONNECTION` counted per stream. The stream has one bounded outbox for
all its operations (`ATLAS4D_STREAM_QUEUE_SIZE`; `coalesce` replaces per operation and entity). A slow reader
(`close` policy) or missed change notices end the stream: each live operation gets a last `next` whose error
code is `SLOW_CONSUMER` or `MISSED_NOTICES`, then `complete` (a stream not opened yet keeps them for its GET).
A request refused before execution (bad JSON, validation, limits, authorization) is answered by the POST
itself — status 400 with `{"errors": […]}`, as GraphQL over HTTP has it — and nothing is streamed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from atlas4d.auth.principal import Principal
from atlas4d.errors import Atlas4DError
from atlas4d.settings import Settings
from atlas4d.streaming.outbox import Outbox, SlowConsumer
from atlas4d.streaming.service import Live, LiveService, Refused, Single, Subscriber, TooManySubscriptions
from atlas4d.streaming.sse import END_OF_STREAM, EVENT_STREAM, HEADERS, event_stream, wants_event_stream

TOKEN_HEADER = "x-graphql-event-stream-token"
TOKEN_PARAMETER = "token"
RESERVATION_TTL_S = 30.0
MAX_UNOPENED = 1_000  # reservations whose stream is not open yet, per process


class StreamNotFound(Atlas4DError):
    code = "STREAM_NOT_FOUND"
    http_status = 404


class StreamConflict(Atlas4DError):
    code = "STREAM_CONFLICT"
    http_status = 409


def stream_token(request: Request) -> str | None:
    token = request.headers.get(TOKEN_HEADER)
    if token or not request.scope.get("query_string"):  # asked of every POST /graphql: no query, no parsing
        return token or None
    return request.query_params.get(TOKEN_PARAMETER)


def _owner(principal: Principal | None) -> tuple[str, str | None] | None:
    """Who a reservation belongs to: the credentials' subject and tenant (None: no security layer)."""
    return (principal.rate_key, principal.tenant) if principal is not None else None


def _refused(error: Atlas4DError) -> Response:
    body = {"errors": [{"message": error.message, "extensions": dict(error.extensions)}]}
    return JSONResponse(body, status_code=error.http_status)


def _event(kind: str, data: bytes | str) -> str:
    text = data.decode() if isinstance(data, bytes) else data
    return f"event: {kind}\ndata: {text}\n\n"


@dataclass(eq=False)
class Reservation:
    token: str
    owner: tuple[str, str | None] | None
    outbox: Outbox
    operations: dict[str, Live | None] = field(default_factory=dict)  # None: being started
    open: bool = False
    ended: bool = False
    expiry: asyncio.TimerHandle | None = None
    missed: Callable[[str], None] | None = None

    def live_count(self) -> int:
        return sum(1 for live in self.operations.values() if live is not None)


class SingleConnections:
    def __init__(self, service: LiveService, settings: Settings) -> None:
        self.service = service
        self.settings = settings
        self.reservations: dict[str, Reservation] = {}

    @staticmethod
    def claims(request: Request) -> bool:
        """Whether a request on the GraphQL route belongs to this mode (distinct connections carry no token)."""
        return request.method in ("PUT", "DELETE") or stream_token(request) is not None

    async def handle(self, request: Request) -> Response:
        self.service.bind(request.app.state)
        state = request.scope.get("state") or {}
        principal = state.get("principal")
        principal = principal if isinstance(principal, Principal) else None
        tenant = principal.tenant if principal is not None and self.settings.tenancy else None
        if request.method == "PUT":
            return self._reserve(_owner(principal))
        token = stream_token(request)
        reservation = self.reservations.get(token) if token else None
        opening = request.method == "GET" and wants_event_stream(request)
        if (
            reservation is None
            or reservation.owner != _owner(principal)
            # ended by the server: only a stream never opened may still be opened, to read why
            or (reservation.ended and (reservation.open or not opening))
        ):
            return _refused(StreamNotFound("no event stream is reserved with this token; reserve one (PUT)"))
        if request.method == "DELETE":
            return self._stop(reservation, request.query_params.get("operationId"))
        if opening:
            return self._open(reservation)
        if request.method == "POST":
            request_id = str(state.get("request_id") or uuid4().hex[:16])
            return await self._execute(
                request, reservation, Subscriber(request, principal, tenant), request_id
            )
        return Response(status_code=405, headers={"allow": "GET, POST, PUT, DELETE"})

    def _reserve(self, owner: tuple[str, str | None] | None) -> Response:
        unopened = sum(1 for r in self.reservations.values() if not r.open)
        if unopened >= MAX_UNOPENED:
            return _refused(
                TooManySubscriptions(
                    f"{MAX_UNOPENED} event stream reservations are waiting to be opened; open or drop yours",
                    maximum=MAX_UNOPENED,
                )
            )
        token = secrets.token_urlsafe(24)
        outbox = Outbox(self.settings.stream_queue_size, self.settings.stream_slow_consumer)
        reservation = Reservation(token, owner, outbox)
        reservation.expiry = asyncio.get_running_loop().call_later(
            RESERVATION_TTL_S, self._expire, reservation
        )

        def missed(reason: str) -> None:
            self._end(
                reservation, "MISSED_NOTICES", f"Missed change notices: {reason}; resubscribe and refetch"
            )

        reservation.missed = missed
        self.service.hub().gap_listeners.add(missed)
        self.reservations[token] = reservation
        return Response(token, status_code=201, media_type="text/plain")

    def _expire(self, reservation: Reservation) -> None:
        if not reservation.open:
            self._close(reservation)
            self._forget(reservation)

    def _forget(self, reservation: Reservation) -> None:
        if reservation.expiry is not None:
            reservation.expiry.cancel()
        if self.reservations.get(reservation.token) is reservation:
            del self.reservations[reservation.token]

    def _close(self, reservation: Reservation) -> None:
        """Stop every operation: no event for this reservation is produced any more."""
        reservation.ended = True
        if reservation.missed is not None:
            with contextlib.suppress(Exception):
                self.service.hub().gap_listeners.discard(reservation.missed)
        for live in reservation.operations.values():
            if live is not None:
                with contextlib.suppress(Exception):
                    self.service.stop(live)
        reservation.operations.clear()

    def _end(self, reservation: Reservation, code: str, message: str) -> None:
        """The server ends the stream: each live operation gets its error and `complete`. A stream not open yet
        keeps its reservation until opened (to read them) or expired."""
        if reservation.ended:
            return
        live_ids = [op for op, live in reservation.operations.items() if live is not None]
        self._close(reservation)
        if reservation.open:
            self._forget(reservation)
        error = {"errors": [{"message": message, "extensions": {"code": code}}]}
        for op in live_ids:
            reservation.outbox.put_control(_event("next", orjson.dumps({"id": op, "payload": error})))
            reservation.outbox.put_control(_event("complete", orjson.dumps({"id": op})))
        reservation.outbox.put_control(END_OF_STREAM)

    def _stop(self, reservation: Reservation, operation_id: str | None) -> Response:
        if not operation_id:
            return _refused(Atlas4DError("`operationId` is missing from the query string"))
        live = reservation.operations.pop(operation_id, None)
        if live is not None:
            self.service.stop(live)
        return Response(status_code=200)

    def _open(self, reservation: Reservation) -> Response:
        if reservation.open:
            return _refused(StreamConflict("the event stream of this reservation is already open"))
        reservation.open = True
        if reservation.expiry is not None:
            reservation.expiry.cancel()
        if reservation.ended:  # its last events wait in the queue; the token is spent
            self._forget(reservation)
        return StreamingResponse(self._stream(reservation), media_type=EVENT_STREAM, headers=HEADERS)

    async def _stream(self, reservation: Reservation) -> AsyncIterator[str]:
        try:
            async for text in event_stream(reservation.outbox):
                yield text
        finally:
            if not reservation.ended:
                self._close(reservation)
            self._forget(reservation)

    async def _execute(
        self, request: Request, reservation: Reservation, who: Subscriber, request_id: str
    ) -> Response:
        try:
            params: Any = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _refused(Atlas4DError("the body is not JSON"))
        if not isinstance(params, dict):
            return _refused(Atlas4DError("the body must be a JSON object"))
        extensions = params.get("extensions")
        operation_id = extensions.get("operationId") if isinstance(extensions, dict) else None
        if not isinstance(operation_id, str) or not operation_id:
            return _refused(
                Atlas4DError("`extensions.operationId` is missing: it names the operation's events")
            )
        if operation_id in reservation.operations:
            return _refused(
                StreamConflict(f"operation {operation_id[:64]!r} is already running on this stream")
            )
        reservation.operations[operation_id] = None  # taken while it starts
        started = await self.service.start(params, request_id, who, reservation.live_count())
        if reservation.ended or operation_id not in reservation.operations:  # stopped while it started
            if isinstance(started, Live):
                self.service.stop(started)
            return Response(status_code=204)
        if isinstance(started, Refused):
            del reservation.operations[operation_id]
            return JSONResponse({"errors": started.errors}, status_code=400)
        frame = orjson.dumps(operation_id).decode()
        if isinstance(started, Single):
            del reservation.operations[operation_id]
            reservation.outbox.put_control(_event("next", f'{{"id":{frame},"payload":{started.payload}}}'))
            reservation.outbox.put_control(_event("complete", f'{{"id":{frame}}}'))
            return Response(status_code=202)
        reservation.operations[operation_id] = started
        started.feed.sink = self._sink(reservation, operation_id, frame)
        started.feed.end = self._ended(reservation, operation_id, frame)
        return Response(status_code=202)

    @staticmethod
    def _ended(
        reservation: Reservation, operation_id: str, frame: str
    ) -> Callable[[list[dict[str, Any]]], None]:
        """The operation's source ended by itself (a gateway's upstream): its errors, then `complete`."""

        def end(errors: list[dict[str, Any]]) -> None:
            if reservation.operations.pop(operation_id, None) is None:
                return  # stopped meanwhile
            if errors:
                payload = orjson.dumps({"errors": errors}).decode()
                reservation.outbox.put_control(_event("next", f'{{"id":{frame},"payload":{payload}}}'))
            reservation.outbox.put_control(_event("complete", f'{{"id":{frame}}}'))

        return end

    def _sink(
        self, reservation: Reservation, operation_id: str, frame: str
    ) -> Callable[[list[tuple[Hashable, str]]], None]:
        def sink(items: list[tuple[Hashable, str]]) -> None:
            try:
                reservation.outbox.put_batch(
                    [
                        (
                            (operation_id, entity),
                            f'event: next\ndata: {{"id":{frame},"payload":{payload}}}\n\n',
                        )
                        for entity, payload in items
                    ]
                )
            except SlowConsumer as exc:
                self._end(reservation, "SLOW_CONSUMER", f"Slow consumer: {exc}")

        return sink
