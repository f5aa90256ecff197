"""A newcomer's first run: the Makefile's `demo` recipe, command by command, as real processes, on a brand-new
data directory and free ports — the embedded cluster is created, migrated and loaded from nothing, then served.

This once failed on the first try only (the demo loaded over COPY on a connection opened before PostGIS
existed) while every other test started from a warm database. Then every GraphQL example of README.md,
docs/ and docs/modules/ runs against that served demo, exactly as written (see `doc_queries.py`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from doc_queries import DocQuery, doc_queries

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def demo_recipe() -> list[list[str]]:
    """The commands of the Makefile's `demo` target, with `$(VENV)/` pointing at this interpreter's bin."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^demo:.*\n((?:\t.*\n)+)", text, flags=re.MULTILINE)
    assert match, "the Makefile has no demo target"
    lines = [line.strip() for line in match.group(1).splitlines()]
    return [line.replace("$(VENV)/", f"{BIN}/").split() for line in lines]


@dataclass
class Demo:
    url: str
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    home = Path("/var/lib/atlas4d-test") / f"first-run-{uuid.uuid4().hex[:12]}"
    if os.geteuid() != 0:
        home = Path(os.environ.get("TMPDIR", "/tmp")) / f"atlas4d-first-run-{uuid.uuid4().hex[:12]}"
    assert not home.exists()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS4D_")}
    env |= {
        "ATLAS4D_DATA_DIR": str(home),
        "ATLAS4D_EMBEDDED_PORT": str(free_port()),
        "ATLAS4D_PORT": str(port),
        "COLUMNS": "200",
    }
    *setup, serve = demo_recipe()
    assert serve[-1] == "serve", f"the demo recipe should end by serving: {serve}"
    log = ROOT / ".pytest-first-run.log"
    server: subprocess.Popen[bytes] | None = None
    try:
        for command in setup:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, (
                f"{' '.join(command)} failed on a new data dir:\n{done.stdout}\n{done.stderr}"
            )
        with log.open("wb") as out:
            server = subprocess.Popen(serve, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text(errors="replace")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the demo server did not become healthy in 60 s"
            time.sleep(0.2)
        yield Demo(url, env, log)
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        subprocess.run([f"{BIN}/atlas4d", "db", "stop"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)
        log.unlink(missing_ok=True)


def post(demo: Demo, path: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    r = httpx.post(f"{demo.url}{path}", json={"query": query, "variables": variables or {}}, timeout=60)
    assert r.headers["content-type"].startswith("application/"), r.text
    body: dict[str, Any] = r.json()
    return body


def test_first_run_serves_the_readme_first_query(demo: Demo) -> None:
    first = doc_queries(ROOT / "README.md")[0]
    body = post(demo, "/graphql", first.text)
    assert "errors" not in body, body
    nodes = body["data"]["entities"]["nodes"]
    assert len(nodes) == 5
    assert all(n["kind"] == "vehicle" and n["latestObservation"]["lon"] is not None for n in nodes)


def test_first_run_serves_graphiql(demo: Demo) -> None:
    r = httpx.get(f"{demo.url}/graphql", headers={"accept": "text/html"}, timeout=10)
    assert r.status_code == 200 and "graphiql" in r.text.lower()


QUERIES = [
    q
    for path in (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))
    for q in doc_queries(path)
    if not q.subscription
]


def test_docs_have_queries() -> None:
    assert len(QUERIES) >= 40
    assert {q.source.split(":")[0] for q in QUERIES} >= {
        "README.md",
        "docs/api.md",
        "docs/modules/mobility.md",
    }


@pytest.mark.parametrize("query", QUERIES, ids=[q.source for q in QUERIES])
def test_every_documented_query_runs_on_the_demo(demo: Demo, query: DocQuery) -> None:
    body = post(demo, query.endpoint, query.text, query.variables)
    assert "errors" not in body, f"{query.source}: {body.get('errors')}"
    assert body.get("data") and all(v is not None for v in body["data"].values()), f"{query.source}: {body}"
