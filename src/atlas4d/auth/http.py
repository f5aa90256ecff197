"""The one place credentials are verified: an ASGI middleware in front of every route.

It reads `Authorization: Bearer <JWT or API key>` (or `X-API-Key`), builds the `Principal` once and puts it in
`request.state.principal`; refuses bad credentials with 401 and a `WWW-Authenticate` challenge; checks the
route-level permission of REST and bulk routes (403); applies rate and concurrency limits (429 with
`Retry-After`); sets the tenant the pool's connections apply (tenancy on) and the headers the gateway forwards
to remote subgraphs; and records REST and bulk writes in the audit trail. GraphQL fields are authorized on
the parsed document (`atlas4d.auth.graphql`). Nothing downstream re-parses a token.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import asyncpg
import orjson

from atlas4d.auth import audit
from atlas4d.auth.api_keys import ApiKeyVerifier, looks_like_key
from atlas4d.auth.errors import AuthUnavailable, Forbidden, RateLimited, TenantRequired, Unauthenticated
from atlas4d.auth.jwt import JWTVerifier
from atlas4d.auth.policy import Policy, load_policy
from atlas4d.auth.principal import TENANT_PATTERN, Principal, current_tenant
from atlas4d.auth.ratelimit import MemoryLimiter, limiter_for
from atlas4d.errors import Atlas4DError, DatabaseUnavailable
from atlas4d.federation.transport import forwarded_headers
from atlas4d.settings import Settings
from atlas4d.web.errors import domain_error

log = logging.getLogger("atlas4d.auth")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REALM = 'Bearer realm="atlas4d"'
GRAPHQL_PREFIXES = ("/graphql", "/subgraphs/")
REST_PREFIXES = ("/api/", "/ingest/")
# probes and the metrics scrape: answered without credentials (keep them off the public ingress; docs/deploy.md)
OPEN_PATHS = frozenset({"/health", "/ready", "/metrics"})
AUDIT_BODY_LIMIT = 65_536


def anonymous_role(settings: Settings) -> str | None:
    """`ATLAS4D_ANONYMOUS_ROLE`; unset: `admin` in development, none in production."""
    if settings.anonymous_role is not None:
        return settings.anonymous_role.strip() or None
    production = str(getattr(settings, "env", "development")).lower() == "production"
    return None if production else "admin"


def anonymous_principal(settings: Settings, policy: Policy) -> Principal | None:
    role = anonymous_role(settings)
    if role is None:
        return None
    return Principal(
        "anonymous", frozenset({role}), kind="anonymous", permissions=policy.permissions_of([role])
    )


def route_permission(method: str, path: str) -> str | None:
    """What a REST or bulk route needs; GraphQL routes are checked per field."""
    if path.startswith("/ingest/"):
        return "ingest"
    if path.startswith("/api/"):
        return "read" if method in ("GET", "HEAD") else "ingest"
    return None


def needs_principal(method: str, path: str, query_string: bytes) -> bool:
    if path.startswith(REST_PREFIXES):
        return True
    if path.startswith(GRAPHQL_PREFIXES):
        # the GraphiQL page itself (GET without a query) holds no data; browsers cannot send a token with it
        return not (method == "GET" and b"query=" not in query_string)
    return False


class Authenticator:
    def __init__(self, settings: Settings, policy: Policy) -> None:
        self.settings = settings
        self.policy = policy
        self.jwt = JWTVerifier(settings)
        self.keys = ApiKeyVerifier()
        self.anonymous = anonymous_principal(settings, policy)

    async def authenticate(self, headers: dict[str, str], pool: asyncpg.Pool | None) -> Principal | None:
        """The caller, or the anonymous principal (None when anonymous access is off)."""
        token = headers.get("x-api-key")
        authorization = headers.get("authorization")
        if token is None and authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthenticated("use `Authorization: Bearer <token>`", reason="invalid_request")
            token = value.strip()
        if token is None:
            return self.anonymous
        if looks_like_key(token):
            if pool is None:
                raise Unauthenticated("API keys are not accepted by this server", reason="invalid_token")
            key = await self.keys.verify(pool, token)
            return self._principal(
                f"key:{key.id}", frozenset(key.roles), frozenset(key.scopes), key.tenant, "api_key"
            )
        if not self.jwt.configured:
            raise Unauthenticated("this server accepts no JWTs (no key configured)", reason="invalid_token")
        claims = await self.jwt.verify(token)
        return self._principal(claims.subject, claims.roles, claims.scopes, claims.tenant, "jwt")

    def _principal(
        self, subject: str, roles: frozenset[str], scopes: frozenset[str], tenant: str | None, kind: str
    ) -> Principal:
        if tenant is not None and not TENANT_PATTERN.match(tenant):
            raise Unauthenticated("the credentials name a malformed tenant", reason="invalid_token")
        return Principal(subject, roles, scopes, tenant, kind, self.policy.permissions_of(roles))


def _graphql_body(error: Atlas4DError) -> dict[str, Any]:
    return {"errors": [{"message": error.message, "extensions": {"code": error.code}}]}


def _rest_body(error: Atlas4DError, status: int) -> dict[str, Any]:
    return {
        "error": {"message": error.message, "code": error.code},
        "detail": error.message,
        "status_code": status,
    }


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        policy: Policy | None = None,
        limiter: MemoryLimiter | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.policy = policy or load_policy(settings.policy_file)
        self.authenticator = Authenticator(settings, self.policy)
        self.limiter = limiter or limiter_for(
            settings.redis_url, settings.rate_limit_per_minute, settings.max_concurrent_per_principal
        )
        self.forward = tuple(h.strip().lower() for h in settings.propagate_headers.split(",") if h.strip())

    async def _refuse(self, send: Send, path: str, error: Atlas4DError, extra: dict[str, str]) -> None:
        status = error.http_status
        body = _rest_body(error, status) if path.startswith(REST_PREFIXES) else _graphql_body(error)
        headers = [(b"content-type", b"application/json")]
        headers += [(k.encode(), v.encode()) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": orjson.dumps(body)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        state = scope.setdefault("state", {})
        app = scope.get("app")
        pool = getattr(getattr(app, "state", None), "pool", None)
        try:
            principal = await self.authenticator.authenticate(headers, pool)
        except Unauthenticated as exc:
            reason = exc.extensions.get("reason", "invalid_token")
            challenge = f'{REALM}, error="{reason}", error_description="{exc.message}"'
            await self._refuse(send, path, exc, {"www-authenticate": challenge})
            return
        except AuthUnavailable as exc:
            await self._refuse(send, path, exc, {"retry-after": "5"})
            return
        except (Atlas4DError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # an API key cannot be looked up: the database is down (degraded start) or failing
            known = exc if isinstance(exc, Atlas4DError) else domain_error(exc)
            failure = known or DatabaseUnavailable("the database is unavailable; try again shortly")
            await self._refuse(send, path, failure, {"retry-after": "5"})
            return
        if principal is None:
            if needs_principal(method, path, scope.get("query_string", b"")):
                missing = Unauthenticated(
                    "this server needs credentials: send `Authorization: Bearer <token>`"
                )
                await self._refuse(send, path, missing, {"www-authenticate": REALM})
                return
            await self.app(scope, receive, send)
            return
        needed = route_permission(method, path)
        if needed is not None and not principal.can(needed):
            if needed != "read":
                await self._audit(pool, principal, path, "denied", None, headers.get("x-request-id"))
            await self._refuse(send, path, Forbidden(f"this route needs the `{needed}` permission"), {})
            return
        if (
            self.settings.tenancy
            and principal.tenant is None
            and path.startswith(GRAPHQL_PREFIXES + REST_PREFIXES)
        ):
            await self._refuse(
                send, path, TenantRequired("tenancy is on and the credentials name no tenant"), {}
            )
            return
        retry = await self.limiter.hit(principal.rate_key)
        if retry is not None:
            seconds = str(max(1, int(retry + 0.999)))
            await self._refuse(
                send, path, RateLimited(f"too many requests; retry in {seconds} s"), {"retry-after": seconds}
            )
            return
        if not await self.limiter.enter(principal.rate_key):
            busy = RateLimited("too many concurrent requests for these credentials")
            await self._refuse(send, path, busy, {"retry-after": "1"})
            return
        state["principal"] = principal
        state["policy"] = self.policy
        tenant_token = current_tenant.set(principal.tenant if self.settings.tenancy else None)
        forwarded = {h: headers[h] for h in self.forward if h in headers}
        forward_token = forwarded_headers.set(forwarded)
        captured: dict[str, Any] = {"status": 0, "body": b""}
        audited = needed in ("ingest", "write") and self.settings.audit

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for k, v in message.get("headers", ()):
                    if k.lower() == b"x-request-id":
                        captured["request_id"] = v.decode("latin-1")
            elif message["type"] == "http.response.body" and len(captured["body"]) < AUDIT_BODY_LIMIT:
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, watch if audited else send)
        finally:
            await self.limiter.leave(principal.rate_key)
            if audited:
                request_id = captured.get("request_id") or headers.get("x-request-id")
                await self._audit(
                    pool, principal, path, _outcome(captured["status"]), captured["body"], request_id
                )
            forwarded_headers.reset(forward_token)
            current_tenant.reset(tenant_token)

    async def websocket_principal(self, headers: dict[str, str], pool: Any) -> Principal:
        """The principal of a WebSocket or of its `connection_init` payload (credentials as headers), or
        Unauthenticated / TenantRequired."""
        principal = await self.authenticator.authenticate(headers, pool)
        if principal is None:
            raise Unauthenticated(
                "this server needs credentials: send `Authorization: Bearer <token>` with the upgrade "
                "request or in the connection_init payload"
            )
        if self.settings.tenancy and principal.tenant is None:
            raise TenantRequired("tenancy is on and the credentials name no tenant")
        return principal

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket (subscriptions) is authenticated from its upgrade request's headers, or — browsers
        cannot set headers on an upgrade — from its `connection_init` payload (atlas4d.streaming.ws calls
        `state["authenticate"]` with it). Bad credentials in the headers refuse the upgrade (4401, before
        any message); none at all let a GraphQL endpoint's upgrade through without a principal, and that
        endpoint then requires them in connection_init. The tenant holds for the connection's whole life."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        pool = getattr(getattr(scope.get("app"), "state", None), "pool", None)
        state = scope.setdefault("state", {})
        offered = "authorization" in headers or "x-api-key" in headers
        principal: Principal | None
        try:
            principal = await self.websocket_principal(headers, pool)
        except (Atlas4DError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            principal = None
        if principal is None and (offered or not scope["path"].startswith(GRAPHQL_PREFIXES)):
            await send({"type": "websocket.close", "code": 4401})
            return
        state["principal"] = principal
        state["policy"] = self.policy

        async def authenticate(init_headers: dict[str, str]) -> Principal:
            return await self.websocket_principal(init_headers, pool)

        state["authenticate"] = authenticate
        tenant = principal.tenant if principal is not None and self.settings.tenancy else None
        token = current_tenant.set(tenant)
        try:
            await self.app(scope, receive, send)
        finally:
            current_tenant.reset(token)

    async def _audit(
        self,
        pool: Any,
        principal: Principal,
        path: str,
        outcome: str,
        body: bytes | None,
        request_id: str | None,
    ) -> None:
        if pool is None or not self.settings.audit:
            return
        rows = None
        if body and outcome == "ok":
            try:
                rows = audit.rows_in(orjson.loads(body))
            except orjson.JSONDecodeError:
                rows = None
        entry = audit.AuditEntry(
            principal=principal.rate_key,
            tenant=principal.tenant,
            action="bulk" if path.startswith("/ingest/") else "rest",
            outcome=outcome,
            operation_name=path,
            rows_affected=rows,
            request_id=request_id,
        )
        await audit.record(pool, entry)


def security_middleware(settings: Settings) -> tuple[Any, MemoryLimiter]:
    """Starlette's `Middleware` entry for an app, and the limiter its lifespan closes."""
    from starlette.middleware import Middleware

    policy = load_policy(settings.policy_file)
    limiter = limiter_for(
        settings.redis_url, settings.rate_limit_per_minute, settings.max_concurrent_per_principal
    )
    return Middleware(SecurityMiddleware, settings=settings, policy=policy, limiter=limiter), limiter


def _outcome(status: int) -> str:
    if status in (401, 403):
        return "denied"
    return "ok" if 200 <= status < 300 else "error"
