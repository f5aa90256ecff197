"""Copy the browser assets installed by `npm ci --prefix assets` into the package's static folder, where the
server finds them (and the wheel ships them): GraphiQL's files (atlas4d.web.graphiql.ASSETS) and the example
operations, MapLibre GL JS for the map page (atlas4d.web.map.ASSETS), and Swagger UI's for the REST docs page
(atlas4d.rest.docs.ASSETS). Run by scripts/setup.sh; fails loudly when a file is missing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from atlas4d.rest import docs
from atlas4d.web import graphiql
from atlas4d.web import map as map_page

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "assets" / "node_modules"
PAGES = {
    "GraphiQL": (graphiql.ASSETS, graphiql.STATIC),
    "the map page": (map_page.ASSETS, map_page.STATIC),
    "Swagger UI": (docs.ASSETS, docs.STATIC),
}


def main() -> int:
    missing = [s for assets, _ in PAGES.values() for s in assets.values() if not (NODE_MODULES / s).is_file()]
    if missing:
        print(
            f"assets: not in {NODE_MODULES}: {', '.join(missing)} (run `npm ci --prefix assets`)",
            file=sys.stderr,
        )
        return 1
    for name, (assets, static) in PAGES.items():
        static.mkdir(parents=True, exist_ok=True)
        for served, source in assets.items():
            shutil.copyfile(NODE_MODULES / source, static / served)
        print(f"assets: {name} ({len(assets)} files) copied to {static}")
    examples = graphiql.STATIC / "examples"
    shutil.rmtree(examples, ignore_errors=True)
    examples.mkdir()
    for path in sorted((ROOT / "graphql" / "examples").glob("*.graphql")):
        shutil.copyfile(path, examples / path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
