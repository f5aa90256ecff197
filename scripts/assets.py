"""Copy the browser assets installed by `npm ci --prefix assets` into the package's static folder, where the
server finds them (and the wheel ships them): GraphiQL's files (atlas4d.web.graphiql.ASSETS), the example
operations, and Swagger UI's for the REST docs page (atlas4d.rest.docs.ASSETS). Run by scripts/setup.sh; fails
loudly when a file is missing."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from atlas4d.rest import docs
from atlas4d.web.graphiql import ASSETS, STATIC

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "assets" / "node_modules"


def main() -> int:
    wanted = [*ASSETS.values(), *docs.ASSETS.values()]
    missing = [source for source in wanted if not (NODE_MODULES / source).is_file()]
    if missing:
        print(
            f"assets: not in {NODE_MODULES}: {', '.join(missing)} (run `npm ci --prefix assets`)",
            file=sys.stderr,
        )
        return 1
    STATIC.mkdir(parents=True, exist_ok=True)
    for name, source in ASSETS.items():
        shutil.copyfile(NODE_MODULES / source, STATIC / name)
    examples = STATIC / "examples"
    shutil.rmtree(examples, ignore_errors=True)
    examples.mkdir()
    for path in sorted((ROOT / "graphql" / "examples").glob("*.graphql")):
        shutil.copyfile(path, examples / path.name)
    docs.STATIC.mkdir(parents=True, exist_ok=True)
    for name, source in docs.ASSETS.items():
        shutil.copyfile(NODE_MODULES / source, docs.STATIC / name)
    print(f"assets: GraphiQL ({len(ASSETS)} files) and the examples copied to {STATIC}")
    print(f"assets: Swagger UI ({len(docs.ASSETS)} files) copied to {docs.STATIC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
