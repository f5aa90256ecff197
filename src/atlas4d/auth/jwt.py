"""Bearer JWT verification with PyJWT: a shared secret (HS*), a PEM public key, a JWKS URL or an OIDC issuer.

Keys from a JWKS URL are cached for `jwks_cache_s`; a token signed by a key id we have not seen makes one
refetch (at most one per `MIN_REFETCH_S`, single-flight), which is how key rotation reaches us without a
restart. Fetches are async (httpx): PyJWT's own `PyJWKClient` blocks the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from atlas4d.auth.errors import AuthUnavailable, Unauthenticated
from atlas4d.settings import Settings

MIN_REFETCH_S = 1.0
# A verified token is remembered until it expires, for at most this long: PyJWT spends ~250 µs parsing and
# checking one (measured: header 105 µs, decode 140 µs), a dictionary lookup ~0.1 µs. A key retired by
# rotation stops verifying its tokens within this time.
VERIFIED_CACHE_S = 60.0
VERIFIED_CACHE_SIZE = 10_000
FETCH_TIMEOUT_S = 5.0
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
PUBLIC_KEY_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
)  # fmt: skip


class KeySet:
    """The signing keys of one JWKS URL (or of an OIDC issuer, found by discovery)."""

    def __init__(
        self,
        jwks_url: str | None,
        oidc_issuer: str | None,
        cache_s: float,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.jwks_url = jwks_url
        self.oidc_issuer = oidc_issuer.rstrip("/") if oidc_issuer else None
        self.discovered_issuer: str | None = None
        self.cache_s = cache_s
        self._client = client
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def _get(self, url: str) -> Any:
        client = self._client or httpx.AsyncClient(timeout=FETCH_TIMEOUT_S)
        try:
            response = await client.get(url, headers={"accept": "application/json"})
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthUnavailable("the token issuer's signing keys cannot be fetched; try again") from exc
        finally:
            if self._client is None:
                await client.aclose()

    async def _discover(self) -> str:
        if self.jwks_url is not None:
            return self.jwks_url
        assert self.oidc_issuer is not None
        config = await self._get(f"{self.oidc_issuer}/.well-known/openid-configuration")
        if not isinstance(config, dict) or not isinstance(config.get("jwks_uri"), str):
            raise AuthUnavailable("the OIDC issuer's discovery document has no jwks_uri")
        issuer = config.get("issuer")
        self.discovered_issuer = issuer if isinstance(issuer, str) else self.oidc_issuer
        self.jwks_url = config["jwks_uri"]
        return self.jwks_url

    async def _refresh(self) -> None:
        self.fetches += 1
        document = await self._get(await self._discover())
        try:
            keyset = jwt.PyJWKSet.from_dict(document)
        except jwt.PyJWTError as exc:
            raise AuthUnavailable("the token issuer's JWKS has no usable key") from exc
        self._keys = {k.key_id or "": k for k in keyset.keys}
        self._fetched_at = time.monotonic()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        age = time.monotonic() - self._fetched_at
        if age > self.cache_s or (kid or "") not in self._keys:
            async with self._lock:  # one fetch for all requests waiting on it
                age = time.monotonic() - self._fetched_at
                stale = age > self.cache_s
                unknown = (kid or "") not in self._keys and age > MIN_REFETCH_S
                if stale or unknown:
                    try:
                        await self._refresh()
                    except AuthUnavailable:
                        if not self._keys:
                            raise  # else keep serving with the keys we have
        found = self._keys.get(kid or "")
        if found is None and kid is None and len(self._keys) == 1:
            found = next(iter(self._keys.values()))
        if found is None:
            raise Unauthenticated("the token is signed by an unknown key", reason="invalid_token")
        return found


@dataclass
class Claims:
    subject: str
    roles: frozenset[str]
    scopes: frozenset[str]
    tenant: str | None


def _strings(value: Any) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(v for v in value if isinstance(v, str))
    return frozenset()


class JWTVerifier:
    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.keyset: KeySet | None = None
        if settings.jwt_jwks_url or settings.oidc_issuer:
            self.keyset = KeySet(settings.jwt_jwks_url, settings.oidc_issuer, settings.jwks_cache_s, client)
        if settings.jwt_algorithms:
            self.algorithms = [a.strip() for a in settings.jwt_algorithms.split(",") if a.strip()]
        elif settings.jwt_secret and not (self.keyset or settings.jwt_public_key):
            self.algorithms = list(HMAC_ALGORITHMS)
        else:
            self.algorithms = list(PUBLIC_KEY_ALGORITHMS)
        self.audience = [a.strip() for a in (settings.jwt_audience or "").split(",") if a.strip()] or None
        self._verified: dict[str, tuple[float, Claims]] = {}

    @property
    def configured(self) -> bool:
        s = self.settings
        return bool(s.jwt_secret or s.jwt_public_key or s.jwt_jwks_url or s.oidc_issuer)

    async def _key(self, header: Mapping[str, Any]) -> Any:
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise Unauthenticated(f"tokens signed with {alg!r} are not accepted", reason="invalid_token")
        if alg in HMAC_ALGORITHMS:
            if not self.settings.jwt_secret:
                raise Unauthenticated("HMAC-signed tokens are not accepted", reason="invalid_token")
            return self.settings.jwt_secret
        if self.keyset is not None:
            kid = header.get("kid")
            return (await self.keyset.key(kid if isinstance(kid, str) else None)).key
        if self.settings.jwt_public_key:
            return self.settings.jwt_public_key
        raise Unauthenticated("no key is configured for this token", reason="invalid_token")

    async def verify(self, token: str) -> Claims:
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[0]:
            return cached[1]
        claims = await self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (min(claims[1], time.time() + VERIFIED_CACHE_S), claims[0])
        return claims[0]

    async def _verify(self, token: str) -> tuple[Claims, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT", reason="invalid_token") from None
        key = await self._key(header)
        issuer = self.settings.jwt_issuer or (self.keyset.discovered_issuer if self.keyset else None)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=issuer,
                leeway=self.settings.jwt_leeway_s,
                options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired", reason="invalid_token") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf)", reason="invalid_token") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is for another audience", reason="invalid_token") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer", reason="invalid_token") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the token is invalid: {exc}", reason="invalid_token") from None
        tenant = claims.get(self.settings.jwt_tenant_claim)
        verified = Claims(
            subject=str(claims["sub"]),
            roles=_strings(claims.get(self.settings.jwt_roles_claim)),
            scopes=_strings(claims.get("scope")) | _strings(claims.get("scp")),
            tenant=str(tenant) if isinstance(tenant, str | int) else None,
        )
        return verified, float(claims["exp"])
