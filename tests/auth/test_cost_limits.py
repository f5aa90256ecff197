"""Per-role cost limits: the policy file's `limits: {role: {max_cost: N}}` replace ATLAS4D_MAX_COST for the
principal's roles (the most generous wins), on the gateway and on the subgraph routes, before any SQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from auth_helpers import SECRET, bearer, serve, token

from atlas4d.auth.policy import Policy, PolicyError, parse_policy
from atlas4d.db.pool import log_statements
from atlas4d.settings import Settings

POLICY = """
roles:
  reader: [read]
  partner: [read]
  analyst: [read]
limits:
  partner: {max_cost: 150}
  analyst: {max_cost: 60000}
"""
Q2 = "{ entities(first: 100) { nodes { id observations(first: 10) { id } } } }"  # cost 1,101
HEAVY = "{ entities(first: 100) { nodes { id observations(first: 500) { id } } } }"  # cost 50,101


def as_roles(*roles: str) -> dict[str, str]:
    return bearer(token(roles=list(roles), sub="-".join(roles)))


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/core/graphql"])
async def test_each_role_gets_its_own_cost_limit(
    settings: Settings, database_url: str, tmp_path: Path, path: str
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    async with serve(
        settings, database_url, anonymous_role="", jwt_secret=SECRET, policy_file=policy
    ) as client:

        async def cost_refusal(query: str, *roles: str) -> int | None:
            with log_statements() as log:
                r = await client.post(path, json={"query": query}, headers=as_roles(*roles))
            errors = r.json().get("errors") or []
            refused = [e for e in errors if e["extensions"]["code"] == "QUERY_TOO_COMPLEX"]
            if refused:
                assert log.statements == [] and "data" not in r.json()
                return int(refused[0]["extensions"]["maximum"])
            assert "data" in r.json(), r.text
            return None

        assert await cost_refusal(Q2, "reader") is None  # the server's 25,000
        assert await cost_refusal(HEAVY, "reader") == 25_000
        assert await cost_refusal(Q2, "partner") == 150
        assert await cost_refusal(HEAVY, "analyst") is None
        assert await cost_refusal(HEAVY, "partner", "analyst") is None  # the most generous role


def test_limits_in_the_policy_file() -> None:
    assert parse_policy(POLICY).max_cost_of({"partner", "reader"}) == 150
    assert Policy().max_cost_of({"admin"}) is None
    for bad in (
        "limits: [1]",
        "limits: {a: {max_cost: 0}}",
        "limits: {a: {max_cost: '5'}}",
        "limits: {a: {rps: 1}}",
    ):
        with pytest.raises(PolicyError):
            parse_policy("roles: {a: [read]}\n" + bad)
