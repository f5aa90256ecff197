"""Every ```python block of docs/clients.md and of the SDK's README runs, as written, against the live demo
server (`ATLAS4D_URL` / `ATLAS4D_HOST` / `ATLAS4D_PORT` point at it, as a user's environment would)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clients_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
PAGES = [ROOT / "docs" / "clients.md", ROOT / "clients" / "python" / "README.md"]
EXAMPLES = [
    (f"{page.relative_to(ROOT)}:{page.read_text()[: m.start()].count(chr(10)) + 1}", m.group(1))
    for page in PAGES
    for m in BLOCK.finditer(page.read_text(encoding="utf-8"))
]


def test_docs_have_python_examples() -> None:
    assert len(EXAMPLES) >= 5


@pytest.mark.parametrize(("source", "code"), EXAMPLES, ids=[s for s, _ in EXAMPLES])
def test_python_example_runs(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, source: str, code: str
) -> None:
    host, port = live.url.removeprefix("http://").rsplit(":", 1)
    monkeypatch.setenv("ATLAS4D_URL", live.url)
    monkeypatch.setenv("ATLAS4D_HOST", host)
    monkeypatch.setenv("ATLAS4D_PORT", port)
    exec(compile(code, source, "exec"), {"__name__": "__doc_example__"})
