"""Refresh the SDL snapshots in graphql/: core, each installed module, the composed supergraph and the public
API schema (schema.graphql, what clients and codegen read)."""

from __future__ import annotations

from pathlib import Path

from atlas4d.cli.serve import core_sdl
from atlas4d.modules.registry import discover
from atlas4d.platform import api_sdl, compose_local

GRAPHQL = Path(__file__).parents[1] / "graphql"


def main() -> None:
    (GRAPHQL / "modules").mkdir(exist_ok=True)
    (GRAPHQL / "core.graphql").write_text(core_sdl(), encoding="utf-8")
    found = discover()
    for name, d in sorted(found.items()):
        (GRAPHQL / "modules" / f"{name}.graphql").write_text(
            d.module.subgraph().as_str() + "\n", encoding="utf-8"
        )
    supergraph = compose_local([d.module for d in found.values()]) + "\n"
    (GRAPHQL / "supergraph.graphql").write_text(supergraph, encoding="utf-8")
    modules = [d.module for d in found.values()]
    (GRAPHQL / "schema.graphql").write_text(api_sdl(modules), encoding="utf-8")
    print(f"wrote core, {len(found)} module(s), the supergraph and the API schema to {GRAPHQL}")


if __name__ == "__main__":
    main()
