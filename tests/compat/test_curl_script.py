"""The original's curl examples (as `curl_examples.sh`: curl | jq, pipefail) against our server as a real
process: every step's answer is JSON (the two endpoints the gateway does not serve answer a JSON 404), the
ingested observation is stored with the time the script sent and is found by the script's radius query."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from compat_db import OriginalDatabase, Server

SCRIPT = Path(__file__).with_name("curl_examples.sh")


@pytest.fixture
def writes(original_db: OriginalDatabase) -> Iterator[None]:
    import asyncio

    yield
    asyncio.run(original_db.forget_test_rows())


def test_curl_examples_script(compat_server: Server, writes: None) -> None:
    for tool in ("bash", "curl", "jq"):
        assert shutil.which(tool), f"{tool} is needed (scripts/setup.sh installs it)"
    env = {**os.environ, "BASE_URL": compat_server.url, "NO_COLOR": "1"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    sections = dict(
        (title, body.strip())
        for title, body in re.findall(r"=== (.+?) ===\n(.*?)(?=\n*=== |\Z)", done.stdout, flags=re.S)
    )
    assert list(sections) == [
        "Health Check",
        "Ingest Observation",
        "Query Observations",
        "Threat Forecast",
        "NLQ Query",
    ]
    answers = {title: json.loads(body) for title, body in sections.items()}
    assert answers["Health Check"]["status"] == "healthy"
    created = answers["Ingest Observation"]
    assert created["status"] == "created"
    found = {r["id"]: r for r in answers["Query Observations"]}
    assert created["id"] in found
    assert (found[created["id"]]["lat"], found[created["id"]]["lon"]) == (42.5, 27.46)
    for title in ("Threat Forecast", "NLQ Query"):
        assert answers[title]["detail"] == "Not Found"
        assert answers[title]["status_code"] == 404
