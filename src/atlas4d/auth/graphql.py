"""The GraphQL endpoints' one call into authorization (`guard_operation`), after parsing and validation and
before any fast path, plan or resolver: the document is filtered for the request's principal, and the answer
completed with nulls and errors for what was removed. Mutations are recorded in the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, OperationDefinitionNode, OperationType, print_ast
from starlette.requests import HTTPConnection
from starlette.responses import Response

from atlas4d.auth import audit
from atlas4d.auth.directives import Requirements, requirements_of_sdl
from atlas4d.auth.errors import Unauthenticated
from atlas4d.auth.http import REALM, anonymous_principal
from atlas4d.auth.operations import Decision, OperationGuard
from atlas4d.auth.policy import Policy, load_policy
from atlas4d.auth.principal import Principal


def _requirements(endpoint: Any) -> Requirements:
    """The supergraph's directives when the endpoint fronts a gateway, else none."""
    supergraph = getattr(getattr(endpoint, "gateway", None), "supergraph", None)
    sdl = getattr(supergraph, "sdl", None)
    return requirements_of_sdl(sdl) if isinstance(sdl, str) else Requirements()


def _guard(endpoint: Any, policy: Policy) -> OperationGuard:
    guard: OperationGuard | None = endpoint.__dict__.get("_atlas4d_guard")
    if guard is None or guard.policy is not policy:
        guard = OperationGuard(endpoint.schema, policy, _requirements(endpoint))
        endpoint.__dict__["_atlas4d_guard"] = guard
    return guard


@dataclass
class Guarded:
    decision: Decision
    guard: OperationGuard | None
    principal: Principal | None
    request: HTTPConnection  # a Request, or a subscription's WebSocket
    query: str  # what runs: the client's text, or the filtered document printed
    source: str  # the client's text (hashed in the audit trail)
    refused: Response | None = None

    @property
    def document(self) -> DocumentNode:
        return self.decision.document

    @property
    def changed(self) -> bool:
        return self.decision.changed

    async def finish(self, result: dict[str, Any], request_id: str) -> dict[str, Any]:
        if self.guard is not None:
            result = self.guard.complete(self.decision, result)
        original = self.decision.original or self.decision.document
        operation = _operation(original, self.decision.operation_name)
        if operation is not None and operation.operation == OperationType.MUTATION:
            await self._audit(operation, result, request_id)
        return result

    async def _audit(
        self, operation: OperationDefinitionNode, result: dict[str, Any], request_id: str
    ) -> None:
        settings = getattr(self.request.app.state, "settings", None)
        pool = getattr(self.request.app.state, "pool", None)
        if pool is None or self.principal is None or not getattr(settings, "audit", False):
            return
        data = result.get("data")
        rows = sum(audit.rows_in(v) for v in data.values()) if isinstance(data, dict) else 0
        outcome = "denied" if self.decision.changed else "error" if result.get("errors") else "ok"
        entry = audit.AuditEntry(
            principal=self.principal.rate_key,
            tenant=self.principal.tenant,
            action="graphql",
            outcome=outcome,
            operation_name=operation.name.value if operation.name else None,
            operation_hash=audit.operation_hash(self.source),
            rows_affected=rows,
            request_id=request_id,
        )
        await audit.record(pool, entry)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode) and (
            name is None or (d.name is not None and d.name.value == name)
        ):
            return d
    return None


def _principal_of(endpoint: Any, request: HTTPConnection) -> tuple[Principal | None, Policy]:
    state = request.scope.get("state") or {}
    policy = state.get("policy")
    if not isinstance(policy, Policy):
        policy = endpoint.__dict__.get("_atlas4d_policy")
        if policy is None:
            policy = load_policy(endpoint.settings.policy_file)
            endpoint.__dict__["_atlas4d_policy"] = policy
    principal = state.get("principal")
    if isinstance(principal, Principal):
        return principal, policy
    # no security middleware in front (an endpoint mounted on its own): the anonymous role's rights
    return anonymous_principal(endpoint.settings, policy), policy


def principal_max_cost(endpoint: Any, default: int) -> Callable[[HTTPConnection | None], int]:
    """`OperationGuard.max_cost` for an endpoint: the policy file's `limits` for the principal's roles (the most
    generous role wins), else `default` (ATLAS4D_MAX_COST)."""

    def max_cost(request: HTTPConnection | None) -> int:
        if request is None:
            return default
        principal, policy = _principal_of(endpoint, request)
        if principal is None or not policy.max_cost:
            return default
        limit = policy.max_cost_of(principal.roles)
        return default if limit is None else limit

    return max_cost


def guard_operation(
    endpoint: Any, request: HTTPConnection, document: DocumentNode, query: str, operation_name: str | None
) -> Guarded:
    principal, policy = _principal_of(endpoint, request)
    if principal is None:
        from atlas4d.web.graphql_http import JSONResponse

        error = Unauthenticated("this server needs credentials: send `Authorization: Bearer <token>`")
        refused = JSONResponse(
            {"errors": [{"message": error.message, "extensions": {"code": error.code}}]},
            status_code=401,
            headers={"www-authenticate": REALM},
        )
        return Guarded(Decision(document), None, None, request, query, query, refused)
    guard = _guard(endpoint, policy)
    decision = guard.decide(document, operation_name, principal)
    source = query
    if decision.changed:
        text = decision.__dict__.get("_text")
        if text is None:
            text = print_ast(decision.document)
            decision.__dict__["_text"] = text
        query = text
    return Guarded(decision, guard, principal, request, query, source)
