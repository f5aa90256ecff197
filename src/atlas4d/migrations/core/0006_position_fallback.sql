-- One position rule for every face (atlas4d.core.position): `geom`, else the point (lon, lat) when both are
-- set and within WGS 84. Core Spec v0.3 rows may have only lat/lon (the original Atlas4D's Burgas seed wrote
-- no geom).
--
-- 1. Spatial filters read `pred(geom) OR (geom IS NULL AND <lat/lon valid> AND pred(point(lon, lat)))`; these
--    partial indexes answer the second arm. On a database written by this gateway every row has geom, so
--    they stay empty. (No original row, constraint or index is changed; only indexes are added.)
CREATE INDEX IF NOT EXISTS observations_lonlat_gist ON atlas4d.observations_core
    USING gist ((ST_SetSRID(ST_MakePoint(lon, lat), 4326)))
    WHERE geom IS NULL AND lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180;
CREATE INDEX IF NOT EXISTS observations_lonlat_geog_gist ON atlas4d.observations_core
    USING gist ((ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography))
    WHERE geom IS NULL AND lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180;

-- 2. The rule as an SQL function, for SQL that runs inside the database (track refresh functions, triggers):
--    inlined by the planner (a single IMMUTABLE SELECT). The Python helper spells the same expression;
--    tests/compat checks that both place every row alike.
CREATE OR REPLACE FUNCTION atlas4d.observation_point(geom geometry, lon double precision, lat double precision)
RETURNS geometry LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(geom, CASE WHEN lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180
                               THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END)
$$;
