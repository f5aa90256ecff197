-- Tracks crossing the antimeridian: a step whose longitudes differ by more than 180° goes the short way, across
-- ±180° (as its length, measured on geography, always did), so the stored line is cut there into a
-- MultiLineString, as RFC 7946 (GeoJSON, 3.1.9) asks. Before, (179, 0) -> (-179, 0) was stored as one segment
-- over lon 0: bbox/within filters and maps saw a line around the world.
--
-- The cut is decided per step, from its two points alone, so a rebuild and an append give the same pieces
-- byte for byte: a step from (x0, y0) to (x1, y1) with |x1 - x0| > 180 leaves at (180·s, y) and enters at
-- (-180·s, y), s = sign(x0), y interpolated linearly in the unwrapped plane (x1 + 360·s). Tracks that never
-- cross keep exactly the LineString they had (their points are not read twice: a bbox narrower than 180°
-- cannot contain such a step).

-- The stored geometry of ordered points of two or more: a LineString, or the pieces between crossings.
CREATE OR REPLACE FUNCTION atlas4d.track_pieces(points geometry[]) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH line AS (SELECT ST_MakeLine(points) AS g),
    p AS (
        SELECT i, g, ST_X(g) AS x, ST_Y(g) AS y,
               lag(ST_X(g)) OVER (ORDER BY i) AS px, lag(ST_Y(g)) OVER (ORDER BY i) AS py
        FROM unnest(points) WITH ORDINALITY AS u(g, i)
        WHERE (SELECT ST_XMax(g) - ST_XMin(g) FROM line) > 180
    ), steps AS (
        SELECT i, g, px IS NOT NULL AND abs(x - px) > 180 AS crosses, sign(px) AS side,
               CASE WHEN px IS NOT NULL AND abs(x - px) > 180
                    THEN py + coalesce((y - py) * (180 * sign(px) - px) / nullif(x + 360 * sign(px) - px, 0), 0) END AS cross_lat
        FROM p
    ), numbered AS (
        SELECT *, sum(crosses::int) OVER (ORDER BY i) AS piece FROM steps
    ), vertices AS (
        SELECT piece, 2 * i AS ord, g FROM numbered
        UNION ALL  -- where the piece before leaves
        SELECT piece - 1, 2 * i - 1, ST_SetSRID(ST_MakePoint(180 * side, cross_lat), 4326) FROM numbered WHERE crosses
        UNION ALL  -- where this piece enters
        SELECT piece, 2 * i - 1, ST_SetSRID(ST_MakePoint(-180 * side, cross_lat), 4326) FROM numbered WHERE crosses
    ), pieces AS (
        SELECT piece, ST_MakeLine(array_agg(g ORDER BY ord)) AS g FROM vertices GROUP BY piece
    )
    SELECT CASE WHEN EXISTS (SELECT 1 FROM numbered WHERE crosses)
                THEN (SELECT ST_Collect(g ORDER BY piece) FROM pieces)
                ELSE (SELECT g FROM line) END
$$;

CREATE OR REPLACE FUNCTION atlas4d.track_geometry(points geometry[]) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN cardinality(points) = 1 THEN ST_PointN(ST_MakeLine(points), 1)
                ELSE atlas4d.track_pieces(points) END
$$;

CREATE OR REPLACE FUNCTION atlas4d.track_last_point(stored geometry) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE GeometryType(stored)
        WHEN 'POINT' THEN stored
        WHEN 'MULTILINESTRING' THEN ST_PointN(ST_GeometryN(stored, ST_NumGeometries(stored)), -1)
        ELSE ST_PointN(stored, -1) END
$$;

-- Appending: the pieces of (last stored point, new points...) continue the stored last piece; the first of
-- them joins it (ST_MakeLine of two lines drops the shared point, once), the others follow. A LineString that
-- stays uncut is extended as before (0006), without reading its points.
CREATE OR REPLACE FUNCTION atlas4d.track_append(stored geometry, points geometry[]) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH tail AS (
        SELECT atlas4d.track_pieces(ARRAY[atlas4d.track_last_point(stored)] || points) AS g
    ), parts AS (
        SELECT d.path[1] AS n, d.geom AS g
        FROM ST_Dump(stored) d
        WHERE GeometryType(stored) = 'MULTILINESTRING' AND d.path[1] < ST_NumGeometries(stored)
        UNION ALL
        SELECT ST_NumGeometries(stored), ST_MakeLine(ST_GeometryN(stored, ST_NumGeometries(stored)), ST_GeometryN(t.g, 1))
        FROM tail t
        UNION ALL
        SELECT ST_NumGeometries(stored) + d.path[1] - 1, d.geom
        FROM tail t, LATERAL ST_Dump(t.g) d
        WHERE d.path[1] > 1
    )
    SELECT CASE
        WHEN GeometryType(stored) = 'POINT' THEN (SELECT g FROM tail)
        WHEN GeometryType(stored) = 'LINESTRING' AND GeometryType((SELECT g FROM tail)) = 'LINESTRING'
            THEN ST_MakeLine(ARRAY[stored] || points)
        ELSE (SELECT ST_Collect(g ORDER BY n) FROM parts) END
$$;

-- Existing crossing tracks are rebuilt once with the cut (a step over 180° makes the line wider than 180°).
SELECT atlas4d.rebuild_tracks(ARRAY(
    SELECT id FROM atlas4d.tracks WHERE GeometryType(geom) = 'LINESTRING' AND ST_XMax(geom) - ST_XMin(geom) > 180
));
