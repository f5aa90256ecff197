"""The platform's supergraph (core + the four reference modules): `atlas4d compose --module all` writes the
committed snapshot, and `@apollo/composition` composes the same subgraphs into the same document."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from graphql import parse, print_ast
from typer.testing import CliRunner

from atlas4d.cli import app as cli
from atlas4d.federation.subgraph import subgraph_sdl
from atlas4d.modules.registry import discover
from atlas4d.platform import DEFAULT_BASE_URL, local_schemas

ROOT = Path(__file__).parents[2]
SNAPSHOT = ROOT / "graphql" / "supergraph.graphql"


def test_cli_compose_all_modules_writes_the_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "supergraph.graphql"
    result = CliRunner().invoke(cli, ["compose", "--module", "all", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == SNAPSHOT.read_text(encoding="utf-8")


def test_apollo_composes_the_same_supergraph() -> None:
    node_modules = ROOT / "tests" / "js" / "node_modules"
    assert node_modules.exists(), "run `npm ci --prefix tests/js` (make test does it)"
    schemas = local_schemas([d.module for d in discover().values()])
    assert set(schemas) == {"core", "airspace", "mobility", "telecom", "vision"}
    subgraphs = [
        {"name": n, "url": f"{DEFAULT_BASE_URL}/subgraphs/{n}/graphql", "sdl": subgraph_sdl(s)}
        for n, s in schemas.items()
    ]
    done = subprocess.run(
        ["node", str(ROOT / "tests" / "js" / "compose.js")],
        input=json.dumps(subgraphs), capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    apollo = json.loads(done.stdout)
    assert "errors" not in apollo, apollo
    # the same document once both are printed the same way (they differ only in description quoting)
    assert normalised(apollo["supergraphSdl"]) == normalised(SNAPSHOT.read_text(encoding="utf-8"))


def normalised(sdl: str) -> str:
    return print_ast(parse(sdl))
