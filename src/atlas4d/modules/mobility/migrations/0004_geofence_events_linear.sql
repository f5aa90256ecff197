-- geofence_events (0003) planned its FULL JOIN of "in now" and "in before" and the joins back to the batch as
-- nested loops over CTE scans (the planner guesses ~200 rows for a batch of any size): quadratic, 1.7 s for
-- 2,000 observations. Same events, same order, computed per observation instead: for each one, the geofences
-- its position or its previous one's lies in (two GIST probes), both tests on each — linear in the batch.
CREATE OR REPLACE FUNCTION atlas4d_mobility.geofence_events(
    lows bigint[], highs bigint[], t_min timestamptz, t_max timestamptz
)
RETURNS TABLE (
    observation_id bigint, entity_id uuid, t timestamptz, lon double precision, lat double precision,
    speed_kmh double precision, geofence_id uuid, speed_limit_kmh double precision, event text,
    previous_observation_id bigint
)
LANGUAGE sql STABLE AS $$
    WITH o AS MATERIALIZED (
        SELECT r.n, o.id, o.entity_id, o.t, o.geom, o.speed_ms
        FROM unnest(lows, highs) WITH ORDINALITY AS r(lo, hi, n)
        JOIN atlas4d.observations_core o ON o.id BETWEEN r.lo AND r.hi
        WHERE o.t >= t_min AND o.t <= t_max AND o.geom IS NOT NULL
    ), pair AS MATERIALIZED (
        SELECT o.*, p.id AS p_id, p.geom AS p_geom
        FROM o LEFT JOIN LATERAL (
            SELECT p.id, p.geom FROM atlas4d.observations_core p
            WHERE o.entity_id IS NOT NULL AND p.entity_id = o.entity_id AND p.t <= o.t
              AND (p.t, p.id) < (o.t, o.id) AND p.geom IS NOT NULL
            ORDER BY p.t DESC, p.id DESC LIMIT 1
        ) p ON true
    )
    SELECT pr.id, pr.entity_id, pr.t, ST_X(pr.geom), ST_Y(pr.geom), pr.speed_ms * 3.6, f.id, f.speed_limit_kmh,
           k.event, pr.p_id
    FROM pair pr
    CROSS JOIN LATERAL (
        SELECT g.id, g.speed_limit_kmh, ST_Intersects(g.geom, pr.geom) AS now_in,
               pr.entity_id IS NOT NULL AND coalesce(ST_Intersects(g.geom, pr.p_geom), false) AS was_in
        FROM (
            SELECT g.id FROM atlas4d_mobility.geofences g WHERE ST_Intersects(g.geom, pr.geom)
            UNION
            SELECT g.id FROM atlas4d_mobility.geofences g WHERE ST_Intersects(g.geom, pr.p_geom)
        ) c JOIN atlas4d_mobility.geofences g ON g.id = c.id
    ) f
    CROSS JOIN LATERAL (VALUES (0, 'LEFT'), (1, 'ENTERED'), (2, 'SPEEDING')) AS k(rank, event)
    WHERE CASE k.event
        WHEN 'LEFT' THEN f.was_in AND NOT f.now_in
        WHEN 'ENTERED' THEN f.now_in AND NOT f.was_in AND pr.entity_id IS NOT NULL
        ELSE f.now_in AND pr.speed_ms IS NOT NULL AND pr.speed_ms * 3.6 > f.speed_limit_kmh
    END
    -- commit order (notice, then id); an observation's LEFT, then ENTERED, then SPEEDING events
    ORDER BY pr.n, pr.id, k.rank, f.id
$$;
