"""One ASGI middleware around the whole app, for what every route needs whatever it is:

- an `x-request-id` on every response (400s, 413s and 404s included), the caller's when it is a plain token;
  the id is in `scope["state"]["request_id"]` (`request.state.request_id`) for the routes' logs and errors;
- a body read timeout (`ATLAS4D_BODY_TIMEOUT_MS`): a client that sends half a body and stalls is answered 408
  instead of holding a connection and a worker's memory; streaming uploads (bulk ingest) must send a chunk at
  least that often, other bodies must arrive whole within it;
- the request deadline (`ATLAS4D_REQUEST_TIMEOUT_MS`) and the client's disconnect: either cancels the request's
  task and every task it started (`atlas4d.web.deadline`), so resolvers stop and PostgreSQL cancels their
  statements; a request past its deadline is answered 504 `REQUEST_TIMEOUT` when nothing was sent yet.
  An event stream (`Accept: text/event-stream`: GraphQL over SSE subscriptions) has no deadline; the client's
  disconnect still ends it.

Pure ASGI (not Starlette's BaseHTTPMiddleware, which runs the app in a task group of its own and buffers
streaming responses). One task reads the client (the only caller of `receive`, so a disconnect is seen while the
app works); the app reads the body from it through a one-message queue, which keeps backpressure on uploads.
One task per request, that reader: the app runs in the server's own task (a timer and the disconnect's callback
cancel it, then it unwinds in place), the disconnect is a plain future, and a body message already queued is
handed over without a wait (the common case: a small POST arrives whole and the reader queues it before the app
asks) — the gateway's per-request cost (bench/federation) counts tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from starlette.middleware import Middleware

from atlas4d.errors import Atlas4DError, BodyTimeout, RequestTimeout
from atlas4d.settings import Settings
from atlas4d.web import deadline

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# (path, error) -> (status, JSON body) in the shape of the route family (GraphQL errors, REST error object)
ErrorBody = Callable[[str, Atlas4DError], tuple[int, bytes]]

log = logging.getLogger("atlas4d.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def graphql_error_body(_path: str, error: Atlas4DError) -> tuple[int, bytes]:
    body = {"errors": [{"message": error.message, "extensions": dict(error.extensions)}]}
    return error.http_status, orjson.dumps(body)


def request_limits(settings: Settings, error_body: ErrorBody = graphql_error_body) -> Middleware:
    """The middleware for an app, from its settings."""
    return Middleware(
        RequestLimits,
        request_timeout_ms=settings.request_timeout_ms,
        body_timeout_ms=settings.body_timeout_ms,
        error_body=error_body,
    )


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else uuid.uuid4().hex[:16]
    return uuid.uuid4().hex[:16]


class RequestLimits:
    def __init__(
        self,
        app: ASGIApp,
        *,
        request_timeout_ms: int,
        body_timeout_ms: int,
        error_body: ErrorBody,
        streaming_prefixes: tuple[str, ...] = ("/ingest/",),
    ) -> None:
        self.app = app
        self.request_timeout = request_timeout_ms / 1000 if request_timeout_ms > 0 else None
        self.body_timeout = body_timeout_ms / 1000 if body_timeout_ms > 0 else None
        self.error_body = error_body
        self.streaming_prefixes = streaming_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _Request(self, scope, receive, send).run()


class _Request:
    def __init__(self, limits: RequestLimits, scope: Scope, receive: Receive, send: Send) -> None:
        self.limits = limits
        self.scope = scope
        self.client_receive = receive
        self.client_send = send
        self.request_id = request_id_from(scope)
        scope.setdefault("state", {})["request_id"] = self.request_id
        self.path: str = scope.get("path", "")
        self.streaming = self.path.startswith(limits.streaming_prefixes)
        self.long_lived = self.streaming or any(
            name == b"accept" and b"text/event-stream" in value for name, value in scope.get("headers", ())
        )
        self.started = False
        self.finished = False
        self.body_done = False
        self.messages: asyncio.Queue[Message] = asyncio.Queue(maxsize=1)
        self.loop = asyncio.get_running_loop()
        self.gone: asyncio.Future[None] = self.loop.create_future()  # done when the client disconnects
        timeout = limits.body_timeout
        self.body_deadline = None if timeout is None or self.streaming else self.loop.time() + timeout

    async def run(self) -> None:
        """The app runs in this (the server's) task: the deadline and the client's disconnect cancel it and every
        task it started, then it unwinds here and a 504 goes out when nothing was sent yet."""
        reader = asyncio.ensure_future(self._read_client())
        me = asyncio.current_task()
        assert me is not None
        token = deadline.enter()  # tasks the app starts from here on are the request's
        tasks = deadline.current()
        assert tasks is not None
        stop: list[str] = []  # why we cancelled the app: "gone" or "deadline"

        def cancel(reason: str) -> None:
            if stop or app_done:
                return
            if reason == "gone" and self.finished:
                return  # a disconnect after the response is normal
            stop.append(reason)
            count = tasks.cancel()
            me.cancel()
            if reason == "gone":
                log.info("request %s: client went away; cancelled %d task(s)", self.request_id, count + 1)
            else:
                log.warning(
                    "request %s: %s %s passed its deadline; cancelled %d task(s)",
                    self.request_id,
                    self.scope.get("method"),
                    self.path,
                    count + 1,
                )

        app_done = False
        self.gone.add_done_callback(lambda _: cancel("gone"))
        timeout = None if self.long_lived else self.limits.request_timeout
        timer = None if timeout is None else self.loop.call_later(timeout, cancel, "deadline")
        try:
            try:
                await self.limits.app(self.scope, self._receive, self._send)
            except asyncio.CancelledError:
                if (
                    not stop
                ):  # not ours: this request itself was cancelled (a shutdown's grace ran out): so is
                    tasks.cancel()  # its work, which would otherwise keep its pool connection and hold up
                    raise  # the pool's closing
            except Atlas4DError as exc:  # BodyTimeout from `_receive`, or a route's own typed error
                if stop:
                    pass  # the app's answer to being cancelled
                elif self.started:
                    raise
                else:
                    app_done = True
                    await self._error(exc)
            except Exception:
                if not stop:
                    raise  # (after a cancel, whatever the app raised while unwinding is dropped, as before)
            app_done = True
            if stop:
                me.uncancel()
                if stop[0] == "deadline":
                    assert self.limits.request_timeout is not None
                    await self._error(
                        RequestTimeout(
                            f"the request took longer than {self.limits.request_timeout * 1000:.0f} ms and "
                            "was cancelled; ask for less (smaller pages, a narrower filter)"
                        )
                    )
        finally:
            app_done = True
            deadline.leave(token)
            if timer is not None:
                timer.cancel()
            self.gone.cancel()
            reader.cancel()
            await _settle(reader)

    async def _error(self, error: Atlas4DError) -> None:
        if self.started:
            return  # a streaming response already began: the connection just ends
        status, body = self.limits.error_body(self.path, error)
        await self._send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await self._send({"type": "http.response.body", "body": body})

    async def _read_client(self) -> None:
        """The only reader of the client: body messages go to the app, a disconnect sets the event."""
        while True:
            message = await self.client_receive()
            if message["type"] == "http.disconnect":
                if not self.gone.done():
                    self.gone.set_result(None)
                return
            await self.messages.put(message)

    async def _receive(self) -> Message:
        if self.body_done:
            await asyncio.shield(self.gone)  # shielded: the app's cancellation must not read as a disconnect
            return {"type": "http.disconnect"}
        if not self.messages.empty():  # already read by the reader: no wait, no task
            return self._body_message(self.messages.get_nowait())
        if self.gone.done():
            return {"type": "http.disconnect"}
        timeout = self.limits.body_timeout
        if self.body_deadline is not None:
            timeout = max(0.0, self.body_deadline - self.loop.time())
        get = asyncio.ensure_future(self.messages.get())
        waited: set[asyncio.Future[Any]] = {get, self.gone}
        try:
            done, _ = await asyncio.wait(waited, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not get.done():
                get.cancel()
        if get in done:
            return self._body_message(get.result())
        if self.gone in done:
            return {"type": "http.disconnect"}
        assert self.limits.body_timeout is not None
        raise BodyTimeout(
            f"the request body did not arrive within {self.limits.body_timeout * 1000:.0f} ms"
            if not self.streaming
            else f"no part of the request body arrived for {self.limits.body_timeout * 1000:.0f} ms"
        )

    def _body_message(self, message: Message) -> Message:
        if message["type"] == "http.request" and not message.get("more_body", False):
            self.body_done = True
        return message

    async def _send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers = list(message.get("headers", ()))
            if not any(name.lower() == b"x-request-id" for name, _ in headers):
                headers.append((b"x-request-id", self.request_id.encode()))
            message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.finished = True
        await self.client_send(message)


async def _settle(task: asyncio.Future[Any]) -> None:
    """Wait for a cancelled task to unwind (asyncpg sends its cancel request meanwhile)."""
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
