"""Rate and concurrency limits per principal: 429 with Retry-After, in memory and in Redis (the one on
127.0.0.1:6379, shared by two app instances as by two workers)."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as redis
from auth_helpers import SECRET, bearer, gql, serve, token

from atlas4d.auth.ratelimit import MemoryLimiter, RedisLimiter
from atlas4d.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_requests_per_minute_per_principal(settings: Settings, database_url: str) -> None:
    async with serve(settings, database_url, jwt_secret=SECRET, rate_limit_per_minute=3) as client:
        alice = bearer(token(roles=["reader"], sub=f"alice-{uuid.uuid4()}"))
        bob = bearer(token(roles=["reader"], sub=f"bob-{uuid.uuid4()}"))
        answers = [await gql(client, **alice) for _ in range(5)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429, 429]
        limited = answers[3]
        assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert (await gql(client, **bob)).status_code == 200  # per principal
        r = await client.get("/api/stats", headers=alice)
        assert r.status_code == 429 and r.json()["error"]["code"] == "RATE_LIMITED"


async def test_limits_are_shared_through_redis(settings: Settings, database_url: str) -> None:
    who = bearer(token(roles=["reader"], sub=f"shared-{uuid.uuid4()}"))
    options = {"jwt_secret": SECRET, "rate_limit_per_minute": 4, "redis_url": REDIS_URL}
    async with (
        serve(settings, database_url, **options) as one,
        serve(settings, database_url, **options) as two,
    ):
        codes = [(await gql(c, **who)).status_code for c in (one, two, one, two, one, two)]
    assert codes == [200, 200, 200, 200, 429, 429]
    r = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in r.scan_iter("atlas4d:rate:jwt:shared-*")]
        ttls = [await r.ttl(k) for k in keys]
        assert ttls and all(0 < t <= 120 for t in ttls)
    finally:
        await r.aclose()


async def test_concurrency_limit(settings: Settings, database_url: str) -> None:
    for limiter in (MemoryLimiter(0, 2), RedisLimiter(REDIS_URL, 0, 2)):
        key = f"jwt:c-{uuid.uuid4()}"
        assert await limiter.enter(key) and await limiter.enter(key)
        assert not await limiter.enter(key)
        await limiter.leave(key)
        assert await limiter.enter(key)
        await limiter.aclose()
    # through HTTP: a slow request holds its slot
    async with serve(settings, database_url, jwt_secret=SECRET, max_concurrent_per_principal=1) as client:
        who = bearer(token(roles=["reader"], sub=f"slow-{uuid.uuid4()}"))
        slow = '{ observations(first: 1, filter: {time: {last: "PT1H"}}) { totalCount } }'
        results = await asyncio.gather(*(gql(client, slow, **who) for _ in range(6)))
        codes = sorted(r.status_code for r in results)
        assert codes[0] == 200 and set(codes) <= {200, 429}


async def test_unreachable_redis_falls_back_to_local_counts() -> None:
    limiter = RedisLimiter("redis://127.0.0.1:9/0", 2, 0)
    key = f"jwt:{uuid.uuid4()}"
    assert [await limiter.hit(key) is None for _ in range(3)] == [True, True, False]
    await limiter.aclose()
