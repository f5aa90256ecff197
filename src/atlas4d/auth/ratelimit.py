"""Request rate and concurrency limits per principal: fixed one-minute windows and an in-flight counter,
in Redis when `ATLAS4D_REDIS_URL` is set (shared by every worker and replica), in this process otherwise.

If Redis cannot be reached the process falls back to its own counters (and logs it) rather than refusing
every request: a limiter must not become the outage it guards against."""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("atlas4d.auth")
WINDOW_S = 60


class MemoryLimiter:
    def __init__(self, per_minute: int, concurrent: int) -> None:
        self.per_minute = per_minute
        self.concurrent = concurrent
        self._windows: dict[str, tuple[int, int]] = {}
        self._in_flight: dict[str, int] = {}

    async def hit(self, key: str) -> float | None:
        """None when allowed, else seconds until the next window (Retry-After)."""
        if self.per_minute <= 0:
            return None
        now = time.time()
        window = int(now // WINDOW_S)
        start, count = self._windows.get(key, (window, 0))
        if start != window:
            count = 0
            if len(self._windows) > 100_000:
                self._windows = {k: v for k, v in self._windows.items() if v[0] == window}
        if count >= self.per_minute:
            return (window + 1) * WINDOW_S - now
        self._windows[key] = (window, count + 1)
        return None

    async def enter(self, key: str) -> bool:
        if self.concurrent <= 0:
            return True
        n = self._in_flight.get(key, 0)
        if n >= self.concurrent:
            return False
        self._in_flight[key] = n + 1
        return True

    async def leave(self, key: str) -> None:
        if self.concurrent <= 0:
            return
        n = self._in_flight.get(key, 0) - 1
        if n > 0:
            self._in_flight[key] = n
        else:
            self._in_flight.pop(key, None)

    async def aclose(self) -> None:
        return None


class RedisLimiter(MemoryLimiter):
    """The same limits kept in Redis: INCR of `atlas4d:rate:<key>:<window>` (expires after two windows) and
    of `atlas4d:inflight:<key>` (expires after an hour, should a process die with requests in flight)."""

    def __init__(self, url: str, per_minute: int, concurrent: int) -> None:
        super().__init__(per_minute, concurrent)
        import redis.asyncio as redis

        self.redis: Any = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    async def hit(self, key: str) -> float | None:
        if self.per_minute <= 0:
            return None
        now = time.time()
        window = int(now // WINDOW_S)
        name = f"atlas4d:rate:{key}:{window}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(name).expire(name, 2 * WINDOW_S).execute()
        except Exception as exc:
            log.warning("rate limit: Redis unavailable (%s); counting in this process", type(exc).__name__)
            return await super().hit(key)
        return (window + 1) * WINDOW_S - now if int(count) > self.per_minute else None

    async def enter(self, key: str) -> bool:
        if self.concurrent <= 0:
            return True
        name = f"atlas4d:inflight:{key}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                count, _ = await pipe.incr(name).expire(name, 3600).execute()
            if int(count) > self.concurrent:
                await self.redis.decr(name)
                return False
            return True
        except Exception as exc:
            log.warning(
                "concurrency limit: Redis unavailable (%s); counting in this process", type(exc).__name__
            )
            return await super().enter(key)

    async def leave(self, key: str) -> None:
        if self.concurrent <= 0:
            return
        if key in self._in_flight:  # entered through the fallback
            await super().leave(key)
            return
        try:
            await self.redis.decr(f"atlas4d:inflight:{key}")
        except Exception:
            log.warning("concurrency limit: Redis unavailable on release")

    async def aclose(self) -> None:
        await self.redis.aclose()


def limiter_for(redis_url: str | None, per_minute: int, concurrent: int) -> MemoryLimiter:
    if redis_url:
        return RedisLimiter(redis_url, per_minute, concurrent)
    return MemoryLimiter(per_minute, concurrent)
