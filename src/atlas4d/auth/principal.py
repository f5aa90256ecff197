"""Who is calling: the `Principal` the HTTP layer builds once per request from verified credentials."""

from __future__ import annotations

import contextvars
import re
from dataclasses import dataclass, field

# what a tenant id may look like: it is echoed in logs and compared in SQL policies, never interpolated
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")

PERMISSIONS = ("read", "write", "ingest", "admin")


@dataclass(frozen=True)
class Principal:
    """A verified caller. `permissions` are the policy's grants for `roles`; `kind` says how it was verified
    (`jwt`, `api_key` or `anonymous`)."""

    subject: str
    roles: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    tenant: str | None = None
    kind: str = "anonymous"
    permissions: frozenset[str] = field(default=frozenset())

    @property
    def authenticated(self) -> bool:
        return self.kind != "anonymous"

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def rate_key(self) -> str:
        return f"{self.kind}:{self.subject}"


# The tenant whose rows the current task may touch; set by the HTTP layer for the request (tenancy on),
# read by the pool's connections (atlas4d.auth.tenancy). Unset: no tenant, so RLS shows no rows.
current_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar("atlas4d_tenant", default=None)
