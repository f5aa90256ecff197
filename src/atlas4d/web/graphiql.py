"""GraphiQL served from our own files: no CDN, so it works offline and behind strict firewalls.

The browser assets (GraphiQL 3, its explorer plugin, React 18: UMD builds, no bundler needed) come from npm at
set-up: `scripts/setup.sh` runs `npm ci` in `assets/` (versions pinned by its package-lock.json) and
`scripts/assets.py` copies the files named in `ASSETS` into `web/static/graphiql/`, which the wheel ships
when present. The example operations (graphql/examples) are offered in an "Examples" panel. A server whose
assets are missing (a `pip install` from a source tree that never ran the set-up) answers the GraphiQL
request with a page saying how to install them, instead of a page that never loads.
"""

from __future__ import annotations

import html
import json
from functools import cache
from pathlib import Path

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static" / "graphiql"
URL_PREFIX = "/graphiql"
# served name -> path inside assets/node_modules
ASSETS = {
    "react.production.min.js": "react/umd/react.production.min.js",
    "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.min.js": "graphiql/graphiql.min.js",
    "graphiql.min.css": "graphiql/graphiql.min.css",
    "plugin-explorer.umd.js": "@graphiql/plugin-explorer/dist/index.umd.js",
    "plugin-explorer.css": "@graphiql/plugin-explorer/dist/style.css",
}
SCRIPTS = [
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "plugin-explorer.umd.js",
]
STYLES = ["graphiql.min.css", "plugin-explorer.css"]
REPO_EXAMPLES = Path(__file__).resolve().parents[3] / "graphql" / "examples"


def assets_installed(directory: Path | None = None) -> bool:
    folder = STATIC if directory is None else directory
    return all((folder / name).is_file() for name in ASSETS)


def example_operations() -> list[dict[str, str]]:
    """[{name, query}] from graphql/examples (a checkout's, else the copy made at set-up), by file name."""
    folder = REPO_EXAMPLES if REPO_EXAMPLES.is_dir() else STATIC / "examples"
    out = []
    for path in sorted(folder.glob("*.graphql")):
        out.append({"name": path.stem.replace("-", " "), "query": path.read_text(encoding="utf-8")})
    return out


@cache
def graphiql_html() -> str:
    """The GraphiQL page (built once per process), or the page explaining how to install its assets."""
    if not assets_installed():
        return MISSING
    tags = [f'<link rel="stylesheet" href="{URL_PREFIX}/{name}">' for name in STYLES]
    tags += [f'<script src="{URL_PREFIX}/{name}"></script>' for name in SCRIPTS]
    examples = json.dumps(example_operations()).replace("</", "<\\/")
    return PAGE.replace("{{assets}}", "\n    ".join(tags)).replace("{{examples}}", examples)


def graphiql_routes() -> list[BaseRoute]:
    """The asset files under /graphiql/ (404 for anything else, and for everything when not installed)."""
    return [Mount(URL_PREFIX, StaticFiles(directory=STATIC, check_dir=False), name="graphiql-assets")]


MISSING = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GraphiQL is not installed</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>GraphiQL's files are not installed</h1>
<p>This server serves GraphiQL from its own files (no CDN), and they are missing from
<code>{html.escape(str(STATIC))}</code>.</p>
<p>From a checkout, run <code>bash scripts/setup.sh</code> (or <code>make demo</code>); it installs them from npm.
The GraphQL API itself works: POST queries to this URL.</p>
</body></html>
"""

PAGE = r"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Atlas4D GraphiQL</title>
    <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }
      .atlas4d-examples button { display: block; width: 100%; text-align: left; margin: 0 0 6px;
        padding: 6px 8px; cursor: pointer; font: inherit; background: none; border: 1px solid #ccc;
        border-radius: 4px; }</style>
    {{assets}}
  </head>
  <body>
    <div id="graphiql">Loading…</div>
    <script>
      const EXAMPLES = {{examples}};
      const h = React.createElement;
      function ExamplesPanel() {
        const editors = GraphiQL.React.useEditorContext({ nonNull: true });
        return h("div", { className: "atlas4d-examples" },
          h("div", { className: "graphiql-doc-explorer-title" }, "Examples"),
          EXAMPLES.map((ex) => h("button", {
            key: ex.name, type: "button", title: ex.query,
            onClick: () => {
              if (!editors.queryEditor) return;
              editors.queryEditor.setValue(ex.query);
              // GraphiQL re-reads the operation name after a pause; a Run before that would send the old one
              const named = /^\s*(?:query|mutation|subscription)\s+(\w+)/m.exec(ex.query);
              if (named && editors.setOperationName) editors.setOperationName(named[1]);
            },
          }, ex.name)));
      }
      const examplesPlugin = {
        title: "Examples",
        icon: () => h("span", { "aria-hidden": true }, "★"),
        content: ExamplesPanel,
      };
      const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
      const root = ReactDOM.createRoot(document.getElementById("graphiql"));
      root.render(h(GraphiQL, {
        fetcher,
        plugins: [examplesPlugin, GraphiQLPluginExplorer.explorerPlugin()],
        visiblePlugin: examplesPlugin,
        defaultQuery: EXAMPLES.length ? EXAMPLES[0].query : "{ __typename }",
        defaultEditorToolsVisibility: true,
        isHeadersEditorEnabled: true,
      }));
    </script>
  </body>
</html>
"""
