"""Our gateway for the benchmark: `BENCH_SUPERGRAPH` file, `BENCH_MODE` local (subgraphs in-process) or remote."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette

from atlas4d.federation.app import create_app
from atlas4d.federation.gateway import Gateway


def build() -> Starlette:
    sdl = Path(os.environ["BENCH_SUPERGRAPH"]).read_text()
    if os.environ.get("BENCH_MODE") == "local":
        from subgraphs import catalog_schema, stock_schema

        local = {"catalog": catalog_schema(), "stock": stock_schema()}
        return create_app(loader=lambda: Gateway.from_supergraph(sdl, local=local))
    return create_app(loader=lambda: Gateway.from_supergraph(sdl))


app = build()
