"""Errors of authentication and authorization (codes as Apollo Router and Apollo Server send them)."""

from __future__ import annotations

from atlas4d.errors import Atlas4DError


class Unauthenticated(Atlas4DError):
    """No usable credentials: answered 401 with a `WWW-Authenticate` challenge."""

    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(Atlas4DError):
    code = "FORBIDDEN"
    http_status = 403


class UnauthorizedField(Atlas4DError):
    """A field or type the principal may not see: it is answered null, the rest of the operation runs."""

    code = "UNAUTHORIZED_FIELD_OR_TYPE"
    http_status = 200


class AuthUnavailable(Atlas4DError):
    """The token issuer's keys cannot be fetched (JWKS or OIDC discovery unreachable)."""

    code = "AUTH_UNAVAILABLE"
    http_status = 503


class RateLimited(Atlas4DError):
    code = "RATE_LIMITED"
    http_status = 429


class TenantRequired(Atlas4DError):
    code = "TENANT_REQUIRED"
    http_status = 403
