"""The README's demo video exists, is small enough to commit, and `make demo-video` (which records it) stays out
of `make test`."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "docs" / "media"


def test_readme_links_the_demo_video_and_its_poster() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("demo.webm", "demo.png", "quickstart.cast"):
        assert f"(docs/media/{name})" in readme, name
        assert (MEDIA / name).is_file(), name
    assert (MEDIA / "demo.webm").read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM/Matroska file
    assert (MEDIA / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_committed_media_stay_small() -> None:
    sizes = {p.name: p.stat().st_size for p in MEDIA.iterdir()}
    assert sum(sizes.values()) < 3 * 1024 * 1024, sizes


def test_the_cast_records_the_quick_start() -> None:
    lines = (MEDIA / "quickstart.cast").read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2
    output = "".join(json.loads(line)[2] for line in lines[1:])
    assert "make demo" in output and "Burgas demo" in output and "Uvicorn running" in output
    assert '"latestObservation"' in output and "from atlas4d_client import" in output


def test_demo_video_is_a_make_target_outside_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^demo-video: setup\n\tbash scripts/demo_video/record.sh$", makefile, flags=re.M)
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, flags=re.M)
    assert test_recipe and "demo" not in test_recipe.group(1)
