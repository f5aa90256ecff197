"""The TypeScript SDK (`clients/js`): its generated document nodes are what graphql-codegen makes of today's
schema and examples, it compiles under `tsc --strict`, and its node tests (our fetch client, Apollo Client 4
and urql Graphcache with our cache settings) pass against the live demo server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from clients_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "clients" / "js"


def npm(
    *args: str, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    if not (JS / "node_modules" / "@graphql-codegen" / "cli").is_dir():
        raise RuntimeError(
            "clients/js has no node_modules: run scripts/setup.sh (npm ci --prefix clients/js)"
        )
    npm_bin = shutil.which("npm")
    assert npm_bin, "npm is not installed (scripts/setup.sh installs it)"
    return subprocess.run(
        [npm_bin, "--prefix", str(JS), *args],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_generated_documents_are_fresh(tmp_path: Path) -> None:
    done = npm("run", "codegen", env={"ATLAS4D_CODEGEN_OUT": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    generated = JS / "src" / "generated"
    for name in ("graphql.ts", "cache.ts"):
        assert (tmp_path / name).read_text() == (generated / name).read_text(), (
            f"clients/js/src/generated/{name} is stale: run `npm run codegen --prefix clients/js`"
        )
    examples = sorted(p.stem for p in (ROOT / "graphql" / "examples").glob("*.graphql"))
    text = (generated / "graphql.ts").read_text()
    for stem in examples:
        name = "".join(w.capitalize() for w in stem.split("-"))
        assert f"export const {name}Document" in text, (
            f"no typed document for graphql/examples/{stem}.graphql"
        )


def test_typescript_sdk_against_the_live_server(live: LiveServer) -> None:
    build = npm("run", "build")
    assert build.returncode == 0, f"tsc --strict failed:\n{build.stdout}\n{build.stderr}"
    tests = sorted((JS / "dist" / "test").glob("*.test.js"))
    node = shutil.which("node")
    assert node and tests
    ran = subprocess.run(
        [node, "--test", "--test-reporter=tap", *map(str, tests)],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ATLAS4D_URL": live.url},
    )
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-3000:]
    declared = sum(
        len(re.findall(r"^test\(", p.read_text(), flags=re.M)) for p in (JS / "test").glob("*.test.ts")
    )
    passed = int(re.search(r"^# pass (\d+)$", ran.stdout, flags=re.M).group(1))  # type: ignore[union-attr]
    failed = int(re.search(r"^# fail (\d+)$", ran.stdout, flags=re.M).group(1))  # type: ignore[union-attr]
    assert declared >= 10 and (passed, failed) == (declared, 0), ran.stdout[-3000:]


def test_typescript_examples_in_the_docs_compile_and_run(live: LiveServer) -> None:
    """Every ```ts block of the TypeScript SDK section of docs/clients.md, importing the package by its name,
    type-checks under --strict and runs against the live server (its URL in place of the docs' 127.0.0.1:4000)."""
    text = (ROOT / "docs" / "clients.md").read_text(encoding="utf-8").split("## TypeScript SDK", 1)[1]
    text = text.split("\n## ", 1)[0]
    blocks = re.findall(r"```ts\n(.*?)```", text, flags=re.DOTALL)
    assert blocks, "docs/clients.md has no TypeScript example"
    folder = JS / "doc-examples"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(JS / "dist-docs", ignore_errors=True)
    folder.mkdir()
    for i, block in enumerate(blocks):
        (folder / f"example{i}.ts").write_text(block.replace("http://127.0.0.1:4000", live.url))
    build = npm("run", "build")
    assert build.returncode == 0, build.stdout + build.stderr
    tsc = subprocess.run(
        [str(JS / "node_modules" / ".bin" / "tsc"), "-p", "tsconfig.docs.json"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tsc.returncode == 0, tsc.stdout + tsc.stderr
    node = shutil.which("node")
    assert node
    for i in range(len(blocks)):
        ran = subprocess.run(
            [node, str(JS / "dist-docs" / f"example{i}.js")],
            cwd=JS,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, (
            f"docs/clients.md ts example {i}:\n{ran.stdout[-2000:]}\n{ran.stderr[-3000:]}"
        )
    shutil.rmtree(folder)
