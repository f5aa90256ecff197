"""The one rule for where an observation is: its `geom`, else its `lon`/`lat` columns, else nowhere.

Core Spec v0.3 makes `geom`, `lat` and `lon` all nullable, and the original Atlas4D wrote rows with only
`lat`/`lon` (its Burgas seed) or with both disagreeing (its telecom seed). Every face — GraphQL fields and
filters, the compiled pages, REST, GeoJSON, aggregates, track lines — reads positions through these
expressions, so one row has one position everywhere:

- `geom` when it is not NULL (the indexed, authoritative column; our ingest always writes it);
- otherwise the point (`lon`, `lat`) when both are set and within WGS 84 (lat -90..90, lon -180..180; NaN is
  outside);
- otherwise no position (lon, lat and geometry are null; spatial filters never match the row).

`atlas4d db check` reports rows whose `geom` and `lat`/`lon` disagree by more than a tolerance (the rule
silently prefers `geom` for them) and lat/lon out of range (the rule ignores them).

Spatial predicates keep the `geom` indexes usable: `pred(geom) OR (geom IS NULL AND <lat/lon valid> AND
pred(point(lon, lat)))`; migration 0006 adds partial GiST indexes on the lon/lat point under the same
condition (empty on a database written by this gateway), so the planner answers each arm from an index (a
BitmapOr). The condition also keeps out-of-range values away from the geography cast, which would fail.
"""

from __future__ import annotations

# The expressions the partial indexes of migration 0006 are built on: predicates must spell them the same way.
_LONLAT_POINT = "ST_SetSRID(ST_MakePoint({a}.lon, {a}.lat), 4326)"
_LONLAT_VALID = "{a}.lat BETWEEN -90 AND 90 AND {a}.lon BETWEEN -180 AND 180"


def lonlat_point_sql(alias: str) -> str:
    """The (lon, lat) columns as a Point in 4326, whatever their values (NULL when either is NULL)."""
    return _LONLAT_POINT.format(a=alias)


def lonlat_valid_sql(alias: str) -> str:
    """True when both columns are set and within WGS 84 (NULL or false otherwise)."""
    return _LONLAT_VALID.format(a=alias)


def point_sql(alias: str) -> str:
    """The observation's position as a geometry(Point, 4326), or NULL when it has none."""
    return f"coalesce({alias}.geom, CASE WHEN {lonlat_valid_sql(alias)} THEN {lonlat_point_sql(alias)} END)"


def lon_sql(alias: str) -> str:
    """The position's longitude (NULL when the row has no position)."""
    return f"ST_X({point_sql(alias)})"


def lat_sql(alias: str) -> str:
    """The position's latitude (NULL when the row has no position)."""
    return f"ST_Y({point_sql(alias)})"


def has_position_sql(alias: str) -> str:
    """True when the row has a position under the rule."""
    return f"({alias}.geom IS NOT NULL OR ({lonlat_valid_sql(alias)}))"


def spatial_predicate(alias: str, template: str, *, geography: bool = False, fallback: bool = True) -> str:
    """`template` (with `{g}` where the position goes) applied to the position of `alias`.

    `geography=True` casts the position to geography (for geodesic `ST_DWithin`). `fallback=False` is for
    tables that have only `geom` (tracks).
    """
    cast = "::geography" if geography else ""
    on_geom = template.format(g=f"{alias}.geom{cast}")
    if not fallback:
        return on_geom
    on_lonlat = template.format(g=f"{lonlat_point_sql(alias)}{cast}")
    return f"({on_geom} OR ({alias}.geom IS NULL AND {lonlat_valid_sql(alias)} AND {on_lonlat}))"
