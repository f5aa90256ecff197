"""Per-request DataLoaders: every nested field is one SQL statement per batch, whatever the list size.

Loaders that take arguments (a time window, a page size) are cached per distinct argument set, so
`entities { observations(first: 10) }` over 100 entities is still one statement.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiodataloader import DataLoader

from atlas4d.core.filters import TimeRange
from atlas4d.core.loaders.base import LoaderCache, Row, by_key, grouped
from atlas4d.core.position import has_position_sql, point_sql
from atlas4d.core.queries import ANOMALY_COLUMNS, ENTITY_COLUMNS, OBSERVATION_COLUMNS, TRACK_COLUMNS
from atlas4d.core.sql import Params

# positionAt interpolates between located observations only (the rule of atlas4d.core.position)
POINT, LOCATED = point_sql("o"), has_position_sql("o")


@dataclass(frozen=True)
class ListArgs:
    """Arguments of a nested list field; part of the loader's cache key."""

    time: TimeRange | None
    first: int
    descending: bool


class Loaders(LoaderCache):
    """Core's loaders; a fresh set per request."""

    async def _fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self.pool.fetch(sql, *args)

    # --- by id ---------------------------------------------------------------------------------

    def entity(self) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            rows = await self._fetch(
                f"SELECT {ENTITY_COLUMNS} FROM atlas4d.entities e WHERE e.id = ANY($1::uuid[])", keys
            )
            return by_key(rows, keys, "id")

        return self.loader("entity", batch)

    def observation(self) -> DataLoader[int, Row | None]:
        async def batch(keys: list[int]) -> list[Row | None]:
            rows = await self._fetch(
                f"SELECT {OBSERVATION_COLUMNS} FROM atlas4d.observations_core o WHERE o.id = ANY($1::bigint[])",
                keys,
            )
            return by_key(rows, keys, "id")

        return self.loader("observation", batch)

    def track(self) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            rows = await self._fetch(
                f"SELECT {TRACK_COLUMNS} FROM atlas4d.tracks tr WHERE tr.id = ANY($1::uuid[])", keys
            )
            return by_key(rows, keys, "id")

        return self.loader("track", batch)

    # --- nested ----------------------------------------------------------------------------------

    def latest_observation(self) -> DataLoader[uuid.UUID, Row | None]:
        async def batch(keys: list[uuid.UUID]) -> list[Row | None]:
            rows = await self._fetch(
                "SELECT k.key AS entity_key, x.* FROM unnest($1::uuid[]) AS k(key) "
                f"CROSS JOIN LATERAL (SELECT {OBSERVATION_COLUMNS} FROM atlas4d.observations_core o "
                "WHERE o.entity_id = k.key ORDER BY o.t DESC, o.id DESC LIMIT 1) x",
                keys,
            )
            return by_key(rows, keys, "entity_key")

        return self.loader("latest_observation", batch)

    def _observations_of(self, column: str, args: ListArgs) -> DataLoader[uuid.UUID, list[Row]]:
        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            params = Params()
            keys_ph = params.add(keys, "uuid[]")
            clauses = [f"o.{column} = k.key", *(args.time.sql("o.t", params) if args.time else [])]
            direction = "DESC" if args.descending else "ASC"
            rows = await self._fetch(
                f"SELECT k.key AS parent_key, x.* FROM unnest({keys_ph}) AS k(key) "
                f"CROSS JOIN LATERAL (SELECT {OBSERVATION_COLUMNS} FROM atlas4d.observations_core o "
                f"WHERE {' AND '.join(clauses)} ORDER BY o.t {direction}, o.id {direction} "
                f"LIMIT {params.add(args.first)}) x",
                *params.values,
            )
            return grouped(rows, keys, "parent_key")

        return self.loader((f"observations_of_{column}", args), batch)

    def entity_observations(self, args: ListArgs) -> DataLoader[uuid.UUID, list[Row]]:
        return self._observations_of("entity_id", args)

    def track_observations(self, args: ListArgs) -> DataLoader[uuid.UUID, list[Row]]:
        return self._observations_of("track_id", args)

    def entity_tracks(self, args: ListArgs) -> DataLoader[uuid.UUID, list[Row]]:
        async def batch(keys: list[uuid.UUID]) -> list[list[Row]]:
            params = Params()
            keys_ph = params.add(keys, "uuid[]")
            clauses = ["tr.entity_id = k.key"]
            if args.time is not None:
                if args.time.start is not None:
                    clauses.append(f"tr.end_time >= {params.add(args.time.start)}")
                if args.time.end is not None:
                    clauses.append(f"tr.start_time < {params.add(args.time.end)}")
            direction = "DESC" if args.descending else "ASC"
            rows = await self._fetch(
                f"SELECT k.key AS parent_key, x.* FROM unnest({keys_ph}) AS k(key) "
                f"CROSS JOIN LATERAL (SELECT {TRACK_COLUMNS} FROM atlas4d.tracks tr "
                f"WHERE {' AND '.join(clauses)} ORDER BY tr.start_time {direction}, tr.id "
                f"LIMIT {params.add(args.first)}) x",
                *params.values,
            )
            return grouped(rows, keys, "parent_key")

        return self.loader(("entity_tracks", args), batch)

    def observation_anomalies(self) -> DataLoader[int, list[Row]]:
        async def batch(keys: list[int]) -> list[list[Row]]:
            rows = await self._fetch(
                f"SELECT {ANOMALY_COLUMNS} FROM atlas4d.anomalies a WHERE a.observation_id = ANY($1::bigint[]) "
                "ORDER BY a.detected_at DESC, a.id",
                keys,
            )
            return grouped(rows, keys, "observation_id")

        return self.loader("observation_anomalies", batch)

    def track_geometry(self, tolerance_m: float | None) -> DataLoader[uuid.UUID, Any]:
        async def batch(keys: list[uuid.UUID]) -> list[Any]:
            if tolerance_m:
                geom = "ST_Simplify(tr.geom, $2::float8 / 111320.0, true)"
                args: tuple[Any, ...] = (keys, tolerance_m)
            else:
                geom = "tr.geom"
                args = (keys,)
            rows = await self._fetch(
                f"SELECT tr.id, ST_AsGeoJSON({geom}, 7)::json AS geojson FROM atlas4d.tracks tr "
                "WHERE tr.id = ANY($1::uuid[])",
                *args,
            )
            found = {r["id"]: r["geojson"] for r in rows}
            return [found.get(k) for k in keys]

        return self.loader(("track_geometry", tolerance_m), batch)

    def track_position(self) -> DataLoader[tuple[uuid.UUID, datetime], Row | None]:
        """Where each track was at `t`: along the geodesic (WGS 84) between the observations just before and
        just after `t`, at the fraction of the time between them; `t0`/`t1` are NULL outside the span."""

        async def batch(keys: list[tuple[uuid.UUID, datetime]]) -> list[Row | None]:
            rows = await self._fetch(
                "SELECT k.ord, p.t AS t0, n.t AS t1, ST_X(w.at) AS lon, ST_Y(w.at) AS lat, "
                "p.alt + (n.alt - p.alt) * f.k AS altitude "
                "FROM unnest($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS k(track, at, ord) "
                f"LEFT JOIN LATERAL (SELECT o.t, {POINT} AS g, o.altitude_m AS alt "
                f"  FROM atlas4d.observations_core o WHERE o.track_id = k.track AND o.t <= k.at AND {LOCATED} "
                "  ORDER BY o.t DESC, o.id DESC LIMIT 1) p ON true "
                f"LEFT JOIN LATERAL (SELECT o.t, {POINT} AS g, o.altitude_m AS alt "
                f"  FROM atlas4d.observations_core o WHERE o.track_id = k.track AND o.t >= k.at AND {LOCATED} "
                "  ORDER BY o.t ASC, o.id ASC LIMIT 1) n ON true "
                "CROSS JOIN LATERAL (SELECT CASE WHEN n.t = p.t THEN 0 "
                "  ELSE (extract(epoch FROM k.at - p.t) / extract(epoch FROM n.t - p.t))::float8 END AS k) f "
                # ST_Project/ST_Azimuth/ST_Distance on geography solve the geodesic problems on the spheroid
                # (GeographicLib): the short way, across the antimeridian when that is shorter.
                "CROSS JOIN LATERAL (SELECT CASE WHEN f.k = 0 OR ST_Equals(p.g, n.g) THEN p.g "
                "  WHEN f.k = 1 THEN n.g "
                "  ELSE ST_Project(p.g::geography, ST_Distance(p.g::geography, n.g::geography) * f.k, "
                "    ST_Azimuth(p.g::geography, n.g::geography))::geometry END AS at) w",
                [k[0] for k in keys],
                [k[1] for k in keys],
            )
            by_ord = {r["ord"]: r for r in rows}
            return [by_ord.get(i + 1) for i in range(len(keys))]

        return self.loader("track_position", batch)
