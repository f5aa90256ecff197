"""Cancelling everything a request started: its own task and every task created on its behalf.

Cancelling the request's task alone is not enough: DataLoader batches (aiodataloader), `asyncio.gather` children
and the gateway's parallel fetches run in tasks of their own, and a batch whose resolvers were cancelled would
keep its SQL running to the statement timeout (issue 12: a client gone at 5 s, the server busy for 38 s more).
So every task created while a request's `RequestTasks` is current (a context variable, which tasks and
`call_soon` callbacks inherit) is recorded through the event loop's task factory, and `cancel()` cancels them
all. asyncpg answers a cancelled query by sending PostgreSQL a cancel request, so the statement stops too.

The task factory is installed on the running loop the first time it is needed and chains to any factory
already there; outside a request it only looks a context variable up.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from collections.abc import Coroutine, Generator
from typing import Any

_current: contextvars.ContextVar[RequestTasks | None] = contextvars.ContextVar(
    "atlas4d_request_tasks", default=None
)
_FACTORIES: weakref.WeakSet[Any] = weakref.WeakSet()  # ours, to know a loop has one (uvloop has no __dict__)


class RequestTasks:
    """The tasks of one request (weakly held: finished ones drop out)."""

    def __init__(self) -> None:
        self.tasks: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()
        self.cancelled = False

    def cancel(self) -> int:
        """Cancel every unfinished task of the request; returns how many."""
        self.cancelled = True
        count = 0
        for task in list(self.tasks):
            if not task.done():
                task.cancel()
                count += 1
        return count


def current() -> RequestTasks | None:
    return _current.get()


def enter() -> contextvars.Token[RequestTasks | None]:
    """Make a new `RequestTasks` current in this context (install the task factory first)."""
    install(asyncio.get_running_loop())
    return _current.set(RequestTasks())


def leave(token: contextvars.Token[RequestTasks | None]) -> None:
    _current.reset(token)


def _driver_cleanup(coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any]) -> bool:
    """A task asyncpg starts to put a connection back in order: the shielded return of a connection to its pool
    (reset, then release) and the cancel request for an interrupted query, which that return waits for. They
    are not the request's work but the clean-up of it; cancelled with the request, a connection was left
    neither reset nor released — lost to its pool for good, and `pool.close()` at shutdown waited for it
    forever (seen under load: a few connections lost each time a batch of clients went away)."""
    frame = getattr(coro, "cr_frame", None)
    return frame is not None and str(frame.f_globals.get("__name__", "")).startswith("asyncpg.")


def install(loop: asyncio.AbstractEventLoop) -> None:
    if loop.get_task_factory() in _FACTORIES:
        return
    previous = loop.get_task_factory()

    def factory(
        loop: asyncio.AbstractEventLoop,
        coro: Coroutine[Any, Any, Any] | Generator[Any, None, Any],
        **kwargs: Any,
    ) -> asyncio.Future[Any]:
        if previous is not None:
            task = previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        context = kwargs.get("context")
        owner = context.get(_current) if context is not None else _current.get()
        if owner is not None and not _driver_cleanup(coro):
            owner.tasks.add(task)
        return task

    _FACTORIES.add(factory)
    loop.set_task_factory(factory)
