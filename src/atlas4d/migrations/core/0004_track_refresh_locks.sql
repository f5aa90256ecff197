-- Concurrent ingests extending one track: each refresh first takes a transaction lock per track (sorted, so
-- two batches never wait on each other crosswise), and the aggregate runs as a later statement of this
-- VOLATILE function, with a fresh snapshot that includes the rows of a batch that committed meanwhile.
-- Without it, the last refresh to commit overwrote the track with only the rows it could see.
CREATE OR REPLACE FUNCTION atlas4d.refresh_tracks(ids uuid[]) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    SELECT pg_advisory_xact_lock(hashtextextended(id::text, 0)) FROM unnest(ids) AS id ORDER BY id;
    WITH pts AS (
        SELECT o.track_id, o.t, o.id, o.geom, o.entity_id, o.source_type,
               lag(o.geom) OVER (PARTITION BY o.track_id ORDER BY o.t, o.id) AS prev
        FROM atlas4d.observations_core o
        WHERE o.track_id = ANY(ids) AND o.geom IS NOT NULL
    ), agg AS (
        SELECT p.track_id AS id,
               (array_agg(p.entity_id ORDER BY p.t DESC) FILTER (WHERE p.entity_id IS NOT NULL))[1] AS entity_id,
               (array_agg(p.source_type ORDER BY p.t DESC) FILTER (WHERE p.source_type IS NOT NULL))[1] AS source_type,
               min(p.t) AS start_time, max(p.t) AS end_time, count(*)::integer AS point_count,
               coalesce(sum(ST_Distance(p.prev::geography, p.geom::geography)), 0) AS length_m,
               ST_MakeLine(p.geom ORDER BY p.t, p.id) AS line
        FROM pts p
        GROUP BY p.track_id
    ), up AS (
        INSERT INTO atlas4d.tracks AS tr (id, entity_id, source_type, start_time, end_time, point_count, length_m, geom)
        SELECT id, entity_id, source_type, start_time, end_time, point_count, length_m,
               CASE WHEN ST_NPoints(line) = 1 THEN ST_PointN(line, 1) ELSE line END
        FROM agg
        ON CONFLICT (id) DO UPDATE SET
            entity_id = excluded.entity_id, source_type = excluded.source_type,
            start_time = excluded.start_time, end_time = excluded.end_time,
            point_count = excluded.point_count, length_m = excluded.length_m, geom = excluded.geom
        RETURNING 1
    )
    SELECT count(*)::integer FROM up
$$;
