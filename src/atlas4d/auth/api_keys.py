"""API keys: `a4d_<id>_<secret>`, stored as the SHA-256 of the secret (256 random bits need no slow hash:
nothing can be guessed, and lookups stay cheap). Verified keys are remembered for `CACHE_S` seconds, so a
revocation takes effect within that time on every server process."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from atlas4d.auth.errors import Unauthenticated
from atlas4d.auth.principal import TENANT_PATTERN
from atlas4d.errors import BadInput

PREFIX = "a4d_"
CACHE_S = 10.0


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    roles: tuple[str, ...]
    scopes: tuple[str, ...]
    tenant: str | None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_key(token: str) -> bool:
    return token.startswith(PREFIX)


async def create_key(
    conn: Any,
    name: str,
    roles: list[str],
    scopes: list[str] | None = None,
    tenant: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[str, ApiKey]:
    """A new key: (the token, shown once, and its stored record)."""
    if tenant is not None and not TENANT_PATTERN.match(tenant):
        raise BadInput("a tenant id is 1-128 letters, digits and . _ : @ -", field="tenant")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO atlas4d.api_keys (id, secret_sha256, name, roles, scopes, tenant, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        key_id,
        _digest(secret),
        name,
        roles,
        scopes or [],
        tenant,
        expires_at,
    )
    return f"{PREFIX}{key_id}_{secret}", ApiKey(key_id, name, tuple(roles), tuple(scopes or []), tenant)


async def list_keys(conn: Any) -> list[ApiKey]:
    rows = await conn.fetch(
        "SELECT id, name, roles, scopes, tenant, created_at, expires_at, revoked_at "
        "FROM atlas4d.api_keys ORDER BY created_at, id"
    )
    return [
        ApiKey(
            r["id"],
            r["name"],
            tuple(r["roles"]),
            tuple(r["scopes"]),
            r["tenant"],
            r["created_at"],
            r["expires_at"],
            r["revoked_at"],
        )
        for r in rows
    ]


async def revoke_key(conn: Any, key_id: str) -> bool:
    status = await conn.execute(
        "UPDATE atlas4d.api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", key_id
    )
    return bool(status.endswith(" 1"))


class ApiKeyVerifier:
    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, ApiKey]] = {}

    async def verify(self, pool: asyncpg.Pool, token: str) -> ApiKey:
        parts = token[len(PREFIX) :].split("_", 1)
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise Unauthenticated("the API key is malformed", reason="invalid_token")
        key_id, secret = parts
        digest = _digest(secret)
        cached = self._cache.get(token)
        if cached is not None and time.monotonic() - cached[0] < CACHE_S:
            return cached[1]
        row = await pool.fetchrow(
            "SELECT id, secret_sha256, name, roles, scopes, tenant FROM atlas4d.api_keys "
            "WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            key_id,
        )
        if row is None or not hmac.compare_digest(row["secret_sha256"], digest):
            self._cache.pop(token, None)
            raise Unauthenticated("the API key is unknown, revoked or expired", reason="invalid_token")
        key = ApiKey(row["id"], row["name"], tuple(row["roles"]), tuple(row["scopes"]), row["tenant"])
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (time.monotonic(), key)
        return key
