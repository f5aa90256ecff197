"""`atlas4d db check` on the original's kind of rows, run as the real command: exactly the 25 telecom-like rows
whose geom and lat/lon disagree (distances checked against pyproj), the rows the rule cannot place, the
anomalies with null fields; exit status 1 because of the disagreements, 0 with a tolerance above them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from compat_db import OriginalDatabase
from pyproj import Geod

BIN = Path(sys.executable).parent
GEOD = Geod(ellps="WGS84")


def db_check(db: OriginalDatabase, *args: str) -> tuple[int, dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS4D_")}
    env["ATLAS4D_DATABASE_URL"] = db.url
    done = subprocess.run(
        [str(BIN / "atlas4d"), "db", "check", "--json", *args], env=env, capture_output=True, timeout=120
    )
    assert done.stdout, done.stderr
    report: dict[str, Any] = orjson.loads(done.stdout)
    return done.returncode, report


def test_check_reports_disagreements_and_unplaceable_rows(original_db: OriginalDatabase) -> None:
    status, report = db_check(original_db, "--examples", "100")
    assert status == 1
    data = original_db.data
    inconsistent = {o.id: GEOD.inv(o.lon, o.lat, *o.geom)[2] for o in data.inconsistent()}  # type: ignore[misc]
    listed = {d["id"]: d["distance_m"] for d in report["disagreements"]}
    assert listed.keys() == inconsistent.keys()
    for ident, metres in inconsistent.items():
        assert listed[ident] == pytest.approx(metres, rel=1e-6)
    counts = report["counts"]
    assert counts["geom_latlon_disagree"] == 25
    assert report["max_distance_m"] == pytest.approx(max(inconsistent.values()), rel=1e-6)
    assert report["problems"] == {"geom_latlon_disagree": 25, "latlon_out_of_range": 2}
    assert counts["observations"] == len(data.observations)
    assert counts["latlon_only"] == sum(1 for o in data.observations if o.geom is None and o.position)
    assert counts["latlon_only"] == 500
    assert counts["no_position"] == sum(1 for o in data.observations if o.position is None) == 4
    assert counts["partial_latlon"] == 1
    assert counts["anomalies_anomaly_type_null"] == 1
    assert counts["anomalies_detected_at_null"] == 1
    assert counts["anomalies_score_out_of_range"] == 1
    assert counts["anomalies_observation_missing"] == 1


def test_check_tolerance_and_example_limit(original_db: OriginalDatabase) -> None:
    farthest = max(GEOD.inv(o.lon, o.lat, *o.geom)[2] for o in original_db.data.inconsistent())  # type: ignore[misc]
    status, report = db_check(original_db, "--tolerance-m", str(farthest + 1), "--examples", "3")
    assert report["counts"]["geom_latlon_disagree"] == 0
    assert report["problems"] == {"latlon_out_of_range": 2}
    assert status == 1
    _, report = db_check(original_db, "--examples", "3")
    assert len(report["disagreements"]) == 3
    assert report["counts"]["geom_latlon_disagree"] == 25
    distances = [d["distance_m"] for d in report["disagreements"]]
    assert distances == sorted(distances, reverse=True)
    assert distances[0] == pytest.approx(farthest, rel=1e-6)
