"""The SDL in graphql/ is a committed artifact: these fail when a schema changes and its snapshot does not
(refresh with `make snapshot`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas4d.cli.serve import core_sdl
from atlas4d.modules.registry import discover
from atlas4d.platform import api_sdl, compose_local

GRAPHQL = Path(__file__).parents[2] / "graphql"


def test_core_snapshot() -> None:
    assert (GRAPHQL / "core.graphql").read_text(encoding="utf-8") == core_sdl(), "run `make snapshot`"


@pytest.mark.parametrize("name", sorted(discover()))
def test_module_snapshot(name: str) -> None:
    sdl = discover()[name].module.subgraph().as_str() + "\n"
    assert (GRAPHQL / "modules" / f"{name}.graphql").read_text(encoding="utf-8") == sdl, "run `make snapshot`"


def test_supergraph_snapshot() -> None:
    modules = [d.module for d in discover().values()]
    expected = compose_local(modules) + "\n"
    assert (GRAPHQL / "supergraph.graphql").read_text(encoding="utf-8") == expected, "run `make snapshot`"


def test_api_schema_snapshot() -> None:
    """graphql/schema.graphql is the public API schema, what clients and codegen read."""
    modules = [d.module for d in discover().values()]
    assert (GRAPHQL / "schema.graphql").read_text(encoding="utf-8") == api_sdl(modules), "run `make snapshot`"


def test_the_cli_prints_the_api_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """`atlas4d schema print api` is the schema of core and the enabled modules: the file, with all enabled;
    core's alone (no module types) with none."""
    from typer.testing import CliRunner

    from atlas4d.cli import app

    monkeypatch.setenv("ATLAS4D_MODULES", ",".join(sorted(discover())))
    everything = CliRunner().invoke(app, ["schema", "print", "api"])
    assert everything.exit_code == 0, everything.output
    assert everything.stdout == (GRAPHQL / "schema.graphql").read_text(encoding="utf-8")
    monkeypatch.setenv("ATLAS4D_MODULES", "none")
    core = CliRunner().invoke(app, ["schema", "print", "api"]).stdout
    assert "type Entity" in core and "type Aircraft" not in core and "join__" not in core
