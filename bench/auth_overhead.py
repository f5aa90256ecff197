"""`python -m bench.auth_overhead`: CPU time per request that security adds, in process (ASGI, real PostGIS).

The same small query (`entities(first: 10)`) in interleaved rounds under: anonymous (dev default), an HS256
JWT, an RS256 JWT (JWKS fetched once, then cached), an API key (cached after the first lookup), and tenancy
on (pool role under RLS, tenant set per transaction). Prints µs of process CPU per request; the difference to
`anonymous` is what each adds. Needs the embedded cluster (`atlas4d db start`) or ATLAS4D_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import asyncpg
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from atlas4d.app import create_app
from atlas4d.auth.api_keys import create_key
from atlas4d.settings import Settings
from bench.prepare import scratch_database

SECRET = "bench-secret-bench-secret-bench-secret!!"
QUERY = {"query": "{ entities(first: 10) { nodes { id kind name } } }"}
BENCH_DB = "atlas4d_bench_auth"
REQUESTS = 400
ROUNDS = 3


def _jwks_server(key: rsa.RSAPrivateKey) -> tuple[ThreadingHTTPServer, str]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"


async def _cpu_per_request(app: Any, headers: dict[str, str]) -> float:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client:
        for _ in range(20):
            assert (await client.post("/graphql", json=QUERY, headers=headers)).status_code == 200
        start = time.process_time()
        for _ in range(REQUESTS):
            await client.post("/graphql", json=QUERY, headers=headers)
        return (time.process_time() - start) / REQUESTS * 1e6


async def _components(settings: Settings, url: str, hs: str, api_key: str) -> None:
    """The security layer's own steps, timed alone (best of 5 x 2,000 calls): less noisy than whole requests."""
    from graphql import parse

    from atlas4d.auth.http import Authenticator
    from atlas4d.auth.operations import OperationGuard
    from atlas4d.auth.policy import Policy
    from atlas4d.core.schema import build_core_schema
    from atlas4d.db.pool import create_pool

    policy = Policy()
    auth = Authenticator(settings.model_copy(update={"jwt_secret": SECRET}), policy)
    pool = await create_pool(settings, url)
    try:
        for name, headers in (
            ("no credentials", {}),
            ("HS256 JWT (verified once)", {"authorization": f"Bearer {hs}"}),
            ("API key (looked up once)", {"authorization": f"Bearer {api_key}"}),
        ):
            principal = await auth.authenticate(headers, pool)
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(2000):
                    await auth.authenticate(headers, pool)
                best = min(best, (time.perf_counter() - start) / 2000 * 1e6)
            print(f"authenticate: {name:28s} {best:6.1f} µs")
        guard = OperationGuard(build_core_schema()._schema, policy)
        document = parse(QUERY["query"])
        assert principal is not None
        guard.decide(document, None, principal)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(2000):
                guard.decide(document, None, principal)
            best = min(best, (time.perf_counter() - start) / 2000 * 1e6)
        print(f"authorize the document (cached decision)   {best:6.1f} µs")
    finally:
        await pool.close()


async def main() -> None:
    settings = Settings(gc_freeze=False)
    # a database of its own (created and dropped here), migrated before anything is written to it
    admin, url = await scratch_database(settings, BENCH_DB)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server, jwks = _jwks_server(key)
    claims = {"sub": "bench", "exp": int(time.time()) + 3600, "roles": ["reader"], "tenant": "bench"}
    hs = jwt.encode(claims, SECRET, algorithm="HS256")
    rs = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    conn = await asyncpg.connect(url)
    try:
        api_key, _ = await create_key(conn, "bench", ["reader"], tenant="bench")
    finally:
        await conn.close()
    cases = {
        "anonymous (dev)": ({}, {}),
        "HS256 JWT": ({"jwt_secret": SECRET}, {"authorization": f"Bearer {hs}"}),
        "RS256 JWT (JWKS)": ({"jwt_jwks_url": jwks}, {"authorization": f"Bearer {rs}"}),
        "API key": ({}, {"authorization": f"Bearer {api_key}"}),
        "HS256 JWT + tenancy": ({"jwt_secret": SECRET, "tenancy": True}, {"authorization": f"Bearer {hs}"}),
    }
    await _components(settings, url, hs, api_key)
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (changes, headers) in cases.items():
            app = create_app(settings.model_copy(update=changes), dsn=url, modules=[])
            async with app.router.lifespan_context(app):
                results[name].append(await _cpu_per_request(app, headers))
    server.shutdown()
    await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    await admin.close()
    base = min(results["anonymous (dev)"])
    for name, values in results.items():
        best = min(values)
        print(f"{name:24s} {best:8.0f} µs CPU/request  (+{best - base:5.0f})")


if __name__ == "__main__":
    asyncio.run(main())
