-- Tracks follow the one position rule (atlas4d.observation_point, 0006): a Core Spec v0.3 row with only
-- lat/lon (the original Atlas4D's Burgas seed wrote no geom) is a point of its track, as it is a point on
-- every other face. Before, track refresh read `geom IS NOT NULL` only, so such tracks had no row at all.
--
-- And a refresh keeps a track's entity when its observations name none: `atlas4d db adopt` links the tracks
-- of an original database (whose observations have no entity_id, and stay as they are) to the entities it
-- infers; a later refresh (new points on the track) must not unlink them. The incremental path (0006)
-- already kept it.
--
-- Only the two functions change; stored tracks are not rebuilt here (`atlas4d db adopt` refreshes the
-- tracks whose stored span or point count differs from their observations').

CREATE OR REPLACE FUNCTION atlas4d.rebuild_tracks(ids uuid[]) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    WITH pts AS (
        SELECT o.track_id, o.t, o.id, atlas4d.observation_point(o.geom, o.lon, o.lat) AS geom,
               o.entity_id, o.source_type,
               lag(atlas4d.observation_point(o.geom, o.lon, o.lat))
                   OVER (PARTITION BY o.track_id ORDER BY o.t, o.id) AS prev
        FROM atlas4d.observations_core o
        WHERE o.track_id = ANY(ids) AND atlas4d.observation_point(o.geom, o.lon, o.lat) IS NOT NULL
    ), agg AS (
        SELECT p.track_id AS id,
               (array_agg(p.entity_id ORDER BY p.t DESC, p.id DESC) FILTER (WHERE p.entity_id IS NOT NULL))[1] AS entity_id,
               (array_agg(p.source_type ORDER BY p.t DESC, p.id DESC) FILTER (WHERE p.source_type IS NOT NULL))[1] AS source_type,
               min(p.t) AS start_time, max(p.t) AS end_time, count(*)::integer AS point_count,
               coalesce(sum(ST_Distance(p.prev::geography, p.geom::geography)), 0) AS length_m,
               array_agg(p.geom ORDER BY p.t, p.id) AS points
        FROM pts p
        GROUP BY p.track_id
    ), up AS (
        INSERT INTO atlas4d.tracks AS tr (id, entity_id, source_type, start_time, end_time, point_count, length_m, geom)
        SELECT id, entity_id, source_type, start_time, end_time, point_count, length_m, atlas4d.track_geometry(points)
        FROM agg
        ON CONFLICT (id) DO UPDATE SET
            entity_id = coalesce(excluded.entity_id, tr.entity_id), source_type = excluded.source_type,
            start_time = excluded.start_time, end_time = excluded.end_time,
            point_count = excluded.point_count, length_m = excluded.length_m, geom = excluded.geom
        RETURNING 1
    )
    SELECT count(*)::integer FROM up
$$;

-- As in 0006, with the rows after the stored end placed by the rule.
CREATE OR REPLACE FUNCTION atlas4d.refresh_tracks(ids uuid[], since timestamptz[]) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    appendable uuid[];
    extended integer;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(id::text, 0)) FROM unnest(ids) AS id ORDER BY id;
    SELECT coalesce(array_agg(b.id), '{}') INTO appendable
    FROM unnest(ids, since) AS b(id, since)
    JOIN atlas4d.tracks tr ON tr.id = b.id
    WHERE b.since > tr.end_time AND tr.geom IS NOT NULL;
    WITH pts AS (
        SELECT o.track_id, o.t, o.id, o.geom, o.entity_id, o.source_type,
               lag(o.geom) OVER (PARTITION BY o.track_id ORDER BY o.t, o.id) AS prev
        FROM atlas4d.tracks tr
        CROSS JOIN LATERAL (
            SELECT o.track_id, o.t, o.id, atlas4d.observation_point(o.geom, o.lon, o.lat) AS geom,
                   o.entity_id, o.source_type
            FROM atlas4d.observations_core o
            WHERE o.track_id = tr.id AND o.t > tr.end_time
              AND atlas4d.observation_point(o.geom, o.lon, o.lat) IS NOT NULL
            ORDER BY o.t
        ) o
        WHERE tr.id = ANY(appendable)
    ), agg AS (
        SELECT p.track_id AS id,
               (array_agg(p.entity_id ORDER BY p.t DESC, p.id DESC) FILTER (WHERE p.entity_id IS NOT NULL))[1] AS entity_id,
               (array_agg(p.source_type ORDER BY p.t DESC, p.id DESC) FILTER (WHERE p.source_type IS NOT NULL))[1] AS source_type,
               max(p.t) AS end_time, count(*)::integer AS point_count,
               coalesce(sum(ST_Distance(p.prev::geography, p.geom::geography)), 0) AS length_m,
               array_agg(p.geom ORDER BY p.t, p.id) AS points
        FROM pts p
        GROUP BY p.track_id
    ), up AS (
        UPDATE atlas4d.tracks tr SET
            entity_id = coalesce(a.entity_id, tr.entity_id),
            source_type = coalesce(a.source_type, tr.source_type),
            end_time = a.end_time,
            point_count = tr.point_count + a.point_count,
            length_m = tr.length_m
                + ST_Distance(atlas4d.track_last_point(tr.geom)::geography, a.points[1]::geography)
                + a.length_m,
            geom = atlas4d.track_append(tr.geom, a.points)
        FROM agg a
        WHERE tr.id = a.id
        RETURNING 1
    )
    SELECT count(*)::integer INTO extended FROM up;
    RETURN extended + atlas4d.rebuild_tracks(
        ARRAY(SELECT unnest(ids) EXCEPT SELECT unnest(appendable))
    );
END
$$;
