"""`atlas4d db check`: what in an (often original Atlas4D) database the gateway serves differently than a
reader of the raw columns would expect, or cannot serve at all.

Problems (the command exits 1):
- `geom_latlon_disagree`: `geom` and `lat`/`lon` further apart than the tolerance (geodesic metres). The
  position rule (`atlas4d.core.position`) takes `geom`; the original's REST list and GeoJSON read `lat`/`lon`.
- `latlon_out_of_range`: `lat`/`lon` set but outside WGS 84 (or NaN) — ignored by the rule.

Notices (allowed by Core Spec v0.3, served as documented):
- `latlon_only`: no `geom`, position from `lat`/`lon`; `no_position`: neither (lon/lat/geometry null);
  `partial_latlon`: only one of `lat`/`lon` (no position unless `geom`).
- anomalies with a null `anomaly_type` or `detected_at`, a `score` outside 0..1, or an `observation_id` that
  matches no observation.
- `tracks_missing`: `track_id`s with a placed observation but no row in `atlas4d.tracks` (all of them before
  `atlas4d db migrate`; run `atlas4d db adopt`).

Read-only: one pass per check, no writes, no locks beyond a plain SELECT.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from atlas4d.core.position import has_position_sql, lonlat_point_sql, lonlat_valid_sql

DEFAULT_TOLERANCE_M = 1.0
DEFAULT_EXAMPLES = 20

PROBLEMS = ("geom_latlon_disagree", "latlon_out_of_range")

_COUNTS = f"""
SELECT count(*) FILTER (WHERE o.geom IS NULL AND {lonlat_valid_sql("o")}) AS latlon_only,
       count(*) FILTER (WHERE o.geom IS NULL AND NOT coalesce({lonlat_valid_sql("o")}, false)) AS no_position,
       count(*) FILTER (WHERE (o.lat IS NULL) <> (o.lon IS NULL)) AS partial_latlon,
       count(*) FILTER (WHERE o.lat IS NOT NULL AND o.lon IS NOT NULL
                        AND NOT coalesce({lonlat_valid_sql("o")}, false)) AS latlon_out_of_range,
       count(*) AS observations
FROM atlas4d.observations_core o
"""

# Rows whose two positions are not bit-identical are measured geodesically (most rows written by one client
# are identical, so the geography cast runs on few rows).
_DISAGREE = f"""
WITH measured AS (
    SELECT o.id, o.t, o.source_type, ST_X(o.geom) AS geom_lon, ST_Y(o.geom) AS geom_lat, o.lon, o.lat,
           ST_Distance(o.geom::geography, {lonlat_point_sql("o")}::geography) AS distance_m
    FROM atlas4d.observations_core o
    WHERE o.geom IS NOT NULL AND {lonlat_valid_sql("o")}
      AND (ST_X(o.geom) IS DISTINCT FROM o.lon OR ST_Y(o.geom) IS DISTINCT FROM o.lat)
)
SELECT *, count(*) OVER () AS total, max(distance_m) OVER () AS max_m
FROM measured WHERE distance_m > $1
ORDER BY distance_m DESC, id LIMIT $2
"""

_ANOMALIES = """
SELECT count(*) FILTER (WHERE a.anomaly_type IS NULL) AS anomaly_type_null,
       count(*) FILTER (WHERE a.detected_at IS NULL) AS detected_at_null,
       count(*) FILTER (WHERE a.score < 0 OR a.score > 1 OR a.score = 'NaN') AS score_out_of_range,
       count(*) FILTER (WHERE a.observation_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM atlas4d.observations_core o WHERE o.id = a.observation_id)) AS observation_missing
FROM atlas4d.anomalies a
"""

# `track_id`s with a placed observation (the rows a track is made of) and no track row; all of them on an
# original database not migrated yet (no atlas4d.tracks).
_TRACK_IDS = f"""
SELECT DISTINCT o.track_id FROM atlas4d.observations_core o
WHERE o.track_id IS NOT NULL AND {has_position_sql("o")}
"""
_TRACKS_MISSING = f"""
SELECT count(*) FROM ({_TRACK_IDS}) d WHERE NOT EXISTS (SELECT 1 FROM atlas4d.tracks tr WHERE tr.id = d.track_id)
"""


@dataclass(frozen=True)
class Disagreement:
    id: int
    t: datetime
    source_type: str | None
    geom_lon: float
    geom_lat: float
    lon: float
    lat: float
    distance_m: float


@dataclass
class CheckReport:
    tolerance_m: float
    counts: dict[str, int] = field(default_factory=dict)
    disagreements: list[Disagreement] = field(default_factory=list)
    max_distance_m: float | None = None

    @property
    def problems(self) -> dict[str, int]:
        return {k: self.counts[k] for k in PROBLEMS if self.counts.get(k)}

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["problems"] = self.problems
        for d in out["disagreements"]:
            d["t"] = d["t"].isoformat()
        return out


async def check_database(
    conn: asyncpg.Connection, tolerance_m: float = DEFAULT_TOLERANCE_M, examples: int = DEFAULT_EXAMPLES
) -> CheckReport:
    report = CheckReport(tolerance_m)
    counts = await conn.fetchrow(_COUNTS)
    assert counts is not None
    report.counts.update({k: int(v) for k, v in counts.items()})
    rows = await conn.fetch(_DISAGREE, tolerance_m, examples)
    report.counts["geom_latlon_disagree"] = int(rows[0]["total"]) if rows else 0
    report.max_distance_m = float(rows[0]["max_m"]) if rows else None
    report.disagreements = [
        Disagreement(**{k: r[k] for k in Disagreement.__dataclass_fields__}) for r in rows
    ]
    anomalies = await conn.fetchrow(_ANOMALIES)
    assert anomalies is not None
    report.counts.update({f"anomalies_{k}": int(v) for k, v in anomalies.items()})
    has_tracks = await conn.fetchval("SELECT to_regclass('atlas4d.tracks') IS NOT NULL")
    missing = _TRACKS_MISSING if has_tracks else f"SELECT count(*) FROM ({_TRACK_IDS}) d"
    report.counts["tracks_missing"] = int(await conn.fetchval(missing))
    return report
