-- Crossing latitudes of tracks with latitudes too small to multiply: a point at latitude 5e-324 (a valid
-- float, found by the track refresh property test) next to a crossing made the interpolation
-- (y - py) * (180·s - px) underflow, and PostgreSQL refuses an underflowing float8 product ("value out of
-- range: underflow"), failing the whole ingest. Latitudes below 1e-200° (far below any position's meaning:
-- 1e-9° is 0.1 mm) count as 0 when the crossing latitude is computed; the stored points keep their values.
-- Only the interpolation changes, and only for such latitudes, so no stored track needs a rebuild.
CREATE OR REPLACE FUNCTION atlas4d.flush_tiny(v double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN abs(v) < 1e-200 THEN 0 ELSE v END
$$;

CREATE OR REPLACE FUNCTION atlas4d.track_pieces(points geometry[]) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH line AS (SELECT ST_MakeLine(points) AS g),
    p AS (
        SELECT i, g, ST_X(g) AS x, atlas4d.flush_tiny(ST_Y(g)) AS y,
               lag(ST_X(g)) OVER (ORDER BY i) AS px, lag(atlas4d.flush_tiny(ST_Y(g))) OVER (ORDER BY i) AS py
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
