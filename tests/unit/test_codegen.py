"""The client-facing schema works with the tools clients use, installed from npm (tests/js, committed lock):
graphql-codegen's client preset turns graphql/schema.graphql and every example operation into typed documents
that `tsc --strict` accepts (with docs/clients.md's scalar map), and relay-compiler accepts a paginated
`@connection` query (which needs Relay's full PageInfo)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "tests" / "js"
BIN = JS / "node_modules" / ".bin"
SCHEMA = ROOT / "graphql" / "schema.graphql"


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def documented_typescript_scalars() -> dict[str, str]:
    text = (ROOT / "docs" / "clients.md").read_text(encoding="utf-8")
    section = text.split("\n## Scalars", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| `([^`]+)`", section, flags=re.MULTILINE))


TYPED_USE = """
import { VehiclesLatestDocument, TracksNearThePortDocument } from "./gql/graphql";
import type { VehiclesLatestQuery, VehiclesLatestQueryVariables } from "./gql/graphql";
import type { TracksNearThePortQuery, TracksNearThePortQueryVariables } from "./gql/graphql";
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";

export const doc: TypedDocumentNode<VehiclesLatestQuery, VehiclesLatestQueryVariables> = VehiclesLatestDocument;
export const tracks: TypedDocumentNode<TracksNearThePortQuery, TracksNearThePortQueryVariables> =
  TracksNearThePortDocument;
export function lastSeen(q: VehiclesLatestQuery): Array<string | undefined> {
  return q.entities.nodes.map((n) => n.latestObservation?.time);  // DateTime -> string
}
export function lines(q: TracksNearThePortQuery): Array<import("geojson").GeoJSON | null | undefined> {
  return q.tracks.nodes.map((t) => t.geometry);  // GeoJSON -> @types/geojson
}
"""
WRONG_USE = """
import type { VehiclesLatestQuery } from "./gql/graphql";
export function wrong(q: VehiclesLatestQuery): number[] {
  return q.entities.nodes.map((n) => n.latestObservation?.time ?? 0);  // a string is not a number
}
"""


@pytest.mark.npm
def test_codegen_and_tsc_strict_on_the_examples(tmp_path: Path) -> None:
    scalars = documented_typescript_scalars()
    assert set(scalars) == {"DateTime", "Duration", "GeoJSON", "JSON"}
    config = {
        "schema": str(SCHEMA),
        "documents": str(ROOT / "graphql" / "examples" / "*.graphql"),
        "generates": {
            str(tmp_path / "gql") + "/": {
                "preset": "client",
                "config": {"strictScalars": True, "scalars": scalars},
            }
        },
        "silent": True,
    }
    (tmp_path / "codegen.json").write_text(json.dumps(config))
    generated = run(BIN / "graphql-codegen", "--config", tmp_path / "codegen.json", cwd=JS)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    source = (tmp_path / "gql" / "graphql.ts").read_text()
    names = [p.stem.title().replace("-", "") for p in (ROOT / "graphql" / "examples").glob("*.graphql")]
    assert len(names) >= 8 and all(f"{n}Document" in source for n in names), names
    assert "join__" not in source and "_Any" not in source

    tsconfig = {
        "compilerOptions": {"strict": True, "noEmit": True, "module": "nodenext", "moduleResolution": "nodenext",
                            "target": "es2022", "skipLibCheck": True, "typeRoots": [str(JS / "node_modules" / "@types")],
                            "baseUrl": str(JS / "node_modules"), "paths": {"*": [str(JS / "node_modules") + "/*"]}},
    }  # fmt: skip
    (tmp_path / "use.ts").write_text(TYPED_USE)
    (tmp_path / "tsconfig.json").write_text(json.dumps({**tsconfig, "files": ["use.ts"]}))
    checked = run(BIN / "tsc", "-p", tmp_path / "tsconfig.json", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # the types are real: a misuse fails to compile
    (tmp_path / "wrong.ts").write_text(WRONG_USE)
    (tmp_path / "tsconfig.json").write_text(json.dumps({**tsconfig, "files": ["wrong.ts"]}))
    refused = run(BIN / "tsc", "-p", tmp_path / "tsconfig.json", cwd=tmp_path)
    assert refused.returncode != 0 and "wrong.ts" in refused.stdout, refused.stdout


RELAY_QUERY = """
import { graphql } from "relay-runtime";

export const entitiesList = graphql`
  query EntitiesListQuery($first: Int, $after: String) {
    entities(first: $first, after: $after) @connection(key: "EntitiesList_entities") {
      edges { cursor node { id name latestObservation { id time } } }
    }
  }
`;
"""


def relay_compile(folder: Path, schema: str) -> subprocess.CompletedProcess[str]:
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "EntitiesList.ts").write_text(RELAY_QUERY)
    (folder / "schema.graphql").write_text(schema)
    scalars = {
        n: "string" if ts == "string" else "unknown" for n, ts in documented_typescript_scalars().items()
    }
    config = {
        "src": "./src",
        "schema": "./schema.graphql",
        "language": "typescript",
        "customScalarTypes": scalars,
    }
    (folder / "relay.config.json").write_text(json.dumps(config))
    return run(BIN / "relay-compiler", cwd=folder)


@pytest.mark.npm
def test_relay_compiler_accepts_a_connection(tmp_path: Path) -> None:
    schema = SCHEMA.read_text(encoding="utf-8")
    compiled = relay_compile(tmp_path / "now", schema)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    artifact = tmp_path / "now" / "src" / "__generated__" / "EntitiesListQuery.graphql.ts"
    assert "EntitiesList_entities" in artifact.read_text()
    # the PageInfo before this schema (no hasPreviousPage, no startCursor) is what relay-compiler refused
    before = re.sub(
        r"\n  hasPreviousPage: Boolean!|\n\n  \"\"\"The cursor of the page's first node.\"\"\"\n  startCursor: String",
        "",
        schema,
    )
    assert before != schema
    refused = relay_compile(tmp_path / "before", before)
    assert refused.returncode != 0
    assert "hasPreviousPage" in refused.stdout + refused.stderr
