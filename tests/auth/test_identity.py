"""Identity: JWT bearer tokens (HS, RS and ES; JWKS with rotation; OIDC discovery; iss/aud/exp/nbf with
clock skew), API keys stored hashed, the anonymous role, and 401 with a WWW-Authenticate challenge."""

from __future__ import annotations

import asyncio
import hashlib
import time

from auth_helpers import QUERY, SECRET, bearer, gql, serve, token
from cryptography.hazmat.primitives import serialization

from atlas4d.auth.api_keys import create_key, list_keys, revoke_key
from atlas4d.settings import Settings

PROD = {"anonymous_role": ""}


async def test_no_token_is_401_with_a_challenge_when_anonymous_is_off(
    settings: Settings, database_url: str
) -> None:
    async with serve(settings, database_url, **PROD, jwt_secret=SECRET) as client:
        r = await gql(client)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="atlas4d"'
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        for path in ("/api/observations", "/api/stats", "/subgraphs/core/graphql?query=%7B__typename%7D"):
            assert (await client.get(path)).status_code == 401, path
        r = await client.post(
            "/ingest/observations", content=b"{}", headers={"content-type": "application/x-ndjson"}
        )
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "UNAUTHENTICATED"  # REST shape on REST routes
        assert (await client.get("/health")).status_code == 200


async def test_dev_default_anonymous_has_full_rights(settings: Settings, database_url: str) -> None:
    """`make demo` keeps working without a token: the anonymous role is admin unless configured."""
    async with serve(settings, database_url) as client:
        r = await gql(client)
        assert r.status_code == 200 and "errors" not in r.json()
        r = await gql(client, 'mutation { createEntities(entities: [{kind: "car", name: "a"}]) { id } }')
        assert "errors" not in r.json(), r.json()


async def test_hs256_token_accepted_and_claims_checked(settings: Settings, database_url: str) -> None:
    async with serve(
        settings, database_url, **PROD, jwt_secret=SECRET, jwt_issuer="https://issuer", jwt_audience="atlas4d"
    ) as client:
        good = token(roles=["reader"], iss="https://issuer", aud="atlas4d")
        assert (await gql(client, **bearer(good))).status_code == 200
        cases = {
            "expired": token(roles=["reader"], iss="https://issuer", aud="atlas4d", ttl=-120),
            "another issuer": token(roles=["reader"], iss="https://evil", aud="atlas4d"),
            "another audience": token(roles=["reader"], iss="https://issuer", aud="other"),
            "not valid yet": token(
                roles=["reader"], iss="https://issuer", aud="atlas4d", nbf=int(time.time()) + 300
            ),
            "wrong secret": token(
                "another-secret-that-is-also-long-enough!!",
                roles=["reader"],
                iss="https://issuer",
                aud="atlas4d",
            ),
            "garbage": "not.a.jwt",
        }
        for name, bad in cases.items():
            r = await gql(client, **bearer(bad))
            assert r.status_code == 401, name
            challenge = r.headers["www-authenticate"]
            assert challenge.startswith('Bearer realm="atlas4d", error="invalid_token"'), (name, challenge)
        r = await client.post(
            "/graphql", json={"query": QUERY}, headers={"authorization": "Basic dXNlcjpwYXNz"}
        )
        assert r.status_code == 401 and 'error="invalid_request"' in r.headers["www-authenticate"]


async def test_clock_skew_is_allowed_up_to_the_leeway(settings: Settings, database_url: str) -> None:
    async with serve(settings, database_url, **PROD, jwt_secret=SECRET, jwt_leeway_s=60) as client:
        assert (await gql(client, **bearer(token(roles=["reader"], ttl=-20)))).status_code == 200
        assert (
            await gql(client, **bearer(token(roles=["reader"], nbf=int(time.time()) + 20)))
        ).status_code == 200
        assert (await gql(client, **bearer(token(roles=["reader"], ttl=-90)))).status_code == 401


async def test_a_public_key_token_cannot_be_forged_with_hmac(
    settings: Settings, database_url: str, rsa_key
) -> None:  # type: ignore[no-untyped-def]
    """Algorithm confusion: with a public key configured, an HS256 token signed with that key's PEM is refused."""
    pem = (
        rsa_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    async with serve(settings, database_url, **PROD, jwt_public_key=pem) as client:
        assert (await gql(client, **bearer(token(rsa_key, roles=["reader"])))).status_code == 200
        import base64
        import hmac
        import json

        head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(b"=")
        body = base64.urlsafe_b64encode(
            json.dumps({"sub": "x", "exp": int(time.time()) + 60, "roles": ["admin"]}).encode()
        ).rstrip(b"=")
        sig = base64.urlsafe_b64encode(
            hmac.new(pem.encode(), head + b"." + body, hashlib.sha256).digest()
        ).rstrip(b"=")
        forged = (head + b"." + body + b"." + sig).decode()
        assert (await gql(client, **bearer(forged))).status_code == 401


async def test_jwks_keys_are_cached_and_rotation_is_picked_up(  # type: ignore[no-untyped-def]
    settings: Settings, database_url: str, key_server, rsa_key, rsa_key_2, ec_key
) -> None:
    key_server.publish(("k1", rsa_key), ("e1", ec_key))
    async with serve(
        settings, database_url, **PROD, jwt_jwks_url=f"{key_server.url}/jwks.json", jwks_cache_s=300
    ) as client:
        for _ in range(3):
            assert (
                await gql(client, **bearer(token(rsa_key, kid="k1", roles=["reader"])))
            ).status_code == 200
        assert (
            await gql(client, **bearer(token(ec_key, kid="e1", roles=["reader"])))
        ).status_code == 200  # ES256
        assert key_server.hits["/jwks.json"] == 1  # cached
        # the issuer rotates: k2 replaces k1
        key_server.publish(("k2", rsa_key_2))
        await asyncio.sleep(1.1)  # unknown key ids refetch at most once a second
        assert (await gql(client, **bearer(token(rsa_key_2, kid="k2", roles=["reader"])))).status_code == 200
        assert key_server.hits["/jwks.json"] == 2
        await asyncio.sleep(1.1)
        r = await gql(client, **bearer(token(rsa_key, kid="k1", roles=["reader"])))
        assert r.status_code == 401  # the retired key no longer verifies
        r = await gql(client, **bearer(token(rsa_key_2, kid="k1", roles=["reader"])))
        assert r.status_code == 401  # a token claiming k1 but signed by another key


async def test_oidc_discovery_gives_keys_and_issuer(
    settings: Settings, database_url: str, key_server, rsa_key
) -> None:  # type: ignore[no-untyped-def]
    key_server.publish(("k1", rsa_key))
    async with serve(settings, database_url, **PROD, oidc_issuer=key_server.url) as client:
        ok = token(rsa_key, kid="k1", roles=["reader"], iss=key_server.url)
        assert (await gql(client, **bearer(ok))).status_code == 200
        assert key_server.hits["/.well-known/openid-configuration"] == 1
        other = token(rsa_key, kid="k1", roles=["reader"], iss="https://somewhere-else")
        assert (await gql(client, **bearer(other))).status_code == 401


async def test_unreachable_jwks_is_503_not_500(settings: Settings, database_url: str, rsa_key) -> None:  # type: ignore[no-untyped-def]
    async with serve(settings, database_url, **PROD, jwt_jwks_url="http://127.0.0.1:9/jwks.json") as client:
        r = await gql(client, **bearer(token(rsa_key, kid="k1", roles=["reader"])))
        assert r.status_code == 503 and r.json()["errors"][0]["extensions"]["code"] == "AUTH_UNAVAILABLE"


async def test_api_keys_are_stored_hashed_and_can_be_revoked(settings: Settings, database_url: str) -> None:
    async with serve(settings, database_url, **PROD) as client:
        pool = client.app.state.pool  # type: ignore[attr-defined]
        async with pool.acquire() as conn:
            secret_token, key = await create_key(conn, "ci reader", ["reader"])
            stored = await conn.fetchval("SELECT secret_sha256 FROM atlas4d.api_keys WHERE id = $1", key.id)
            dump = str(await conn.fetch("SELECT * FROM atlas4d.api_keys"))
        secret = secret_token.split("_", 2)[2]
        assert stored == hashlib.sha256(secret.encode()).hexdigest() and secret not in dump
        assert (await gql(client, **bearer(secret_token))).status_code == 200
        assert (await gql(client, **{"x-api-key": secret_token})).status_code == 200
        assert (await gql(client, **bearer(secret_token[:-2] + "xx"))).status_code == 401
        async with pool.acquire() as conn:
            assert key.id in [k.id for k in await list_keys(conn)]
            assert await revoke_key(conn, key.id)
        from atlas4d.auth import api_keys

        api_keys_cache_s = api_keys.CACHE_S
        try:
            api_keys.CACHE_S = 0.0
            assert (await gql(client, **bearer(secret_token))).status_code == 401
        finally:
            api_keys.CACHE_S = api_keys_cache_s


async def test_websockets_are_authenticated_at_the_upgrade() -> None:
    """Subscriptions (later) get the same Principal; no credentials (anonymous off) refuses the upgrade.
    Driven as raw ASGI messages (the upgrade is the first exchange)."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from atlas4d.auth.http import security_middleware

    async def who(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(ws.scope["state"]["principal"].subject)
        await ws.close()

    settings = Settings(anonymous_role="", jwt_secret=SECRET, gc_freeze=False)
    middleware, _ = security_middleware(settings)
    app = Starlette(routes=[WebSocketRoute("/ws", who)], middleware=[middleware])

    async def upgrade(headers: dict[str, str]) -> list[dict[str, object]]:
        scope = {
            "type": "websocket", "path": "/ws", "raw_path": b"/ws", "query_string": b"", "root_path": "",
            "headers": [(k.encode(), v.encode()) for k, v in headers.items()], "scheme": "ws",
            "server": ("testserver", 80), "client": ("127.0.0.1", 1), "subprotocols": [], "app": app,
        }  # fmt: skip
        inbox = [{"type": "websocket.connect"}]
        sent: list[dict[str, object]] = []

        async def receive() -> dict[str, object]:
            if inbox:
                return inbox.pop(0)
            return {"type": "websocket.disconnect", "code": 1000}

        async def send(message: dict[str, object]) -> None:
            sent.append(message)

        await app(scope, receive, send)  # type: ignore[arg-type]
        return sent

    accepted = await upgrade(bearer(token(sub="ws-user")))
    assert [m["type"] for m in accepted][:2] == ["websocket.accept", "websocket.send"]
    assert accepted[1]["text"] == "ws-user"
    for headers in ({}, bearer("garbage")):
        refused = await upgrade(headers)
        assert refused == [{"type": "websocket.close", "code": 4401}]


async def test_verified_tokens_are_remembered_only_until_they_expire() -> None:
    from atlas4d.auth.errors import Unauthenticated
    from atlas4d.auth.jwt import JWTVerifier

    verifier = JWTVerifier(Settings(jwt_secret=SECRET, jwt_leeway_s=0, gc_freeze=False))
    short = token(roles=["reader"], ttl=1.2)
    first = await verifier.verify(short)
    assert await verifier.verify(short) is first  # the second time is a lookup
    await asyncio.sleep(1.5)
    try:
        await verifier.verify(short)
        raise AssertionError("an expired token was accepted from the cache")
    except Unauthenticated as exc:
        assert "expired" in exc.message


async def test_production_needs_a_token_for_every_read_and_write(
    settings: Settings, database_url: str
) -> None:
    """ATLAS4D_ENV=production with nothing else set: no anonymous role, so every data route answers 401."""
    async with serve(settings, database_url, env="production", jwt_secret=SECRET) as client:
        assert (await gql(client)).status_code == 401
        assert (
            await gql(client, 'mutation { createEntities(entities: [{kind: "x"}]) { id } }')
        ).status_code == 401
        assert (await client.get("/api/observations")).status_code == 401
        assert (await client.post("/api/observations", json={"lat": 1, "lon": 1})).status_code == 401
        assert (await gql(client, **bearer(token(roles=["reader"])))).status_code == 200
