"""Refresh the SDL snapshots in graphql/: core, each installed module, and the composed supergraph."""

from __future__ import annotations

from pathlib import Path

from atlas4d.cli.serve import core_sdl
from atlas4d.modules.registry import discover
from atlas4d.platform import compose_local

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
    print(f"wrote core, {len(found)} module(s) and the supergraph to {GRAPHQL}")


if __name__ == "__main__":
    main()
