-- Live geofence events (subscription `geofenceEvents`, atlas4d.streaming.derived): for a batch of new core
-- observations, named by the id ranges of core's change notices, the geofences each one entered, left, or was
-- speeding in. "In a geofence" is the speedingEvents query's rule, ST_Intersects(g.geom, o.geom) (boundary
-- included). ENTERED / LEFT compare an observation of an entity with the same entity's previous observation
-- by time (ties by id) that has a position: in now and not before (or no previous one) -> ENTERED, in before
-- and not now -> LEFT; observations without an entity have no previous one and give no ENTERED / LEFT.
-- SPEEDING is exactly a speedingEvents row: in the geofence with speed_ms * 3.6 > its limit.
-- SECURITY INVOKER (the default): row-level security shows the caller's tenant's rows only.
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
    ), now_in AS (
        SELECT pr.id, g.id AS geofence_id FROM pair pr
        JOIN atlas4d_mobility.geofences g ON ST_Intersects(g.geom, pr.geom)
    ), was_in AS (
        SELECT pr.id, g.id AS geofence_id FROM pair pr
        JOIN atlas4d_mobility.geofences g ON ST_Intersects(g.geom, pr.p_geom)
        WHERE pr.p_id IS NOT NULL
    ), ev AS (
        SELECT coalesce(a.id, b.id) AS id, coalesce(a.geofence_id, b.geofence_id) AS geofence_id,
               CASE WHEN a.id IS NULL THEN 'LEFT' ELSE 'ENTERED' END AS event
        FROM now_in a FULL JOIN was_in b ON b.id = a.id AND b.geofence_id = a.geofence_id
        JOIN pair pr ON pr.id = coalesce(a.id, b.id)
        WHERE (a.id IS NULL OR b.id IS NULL) AND pr.entity_id IS NOT NULL
        UNION ALL
        SELECT a.id, a.geofence_id, 'SPEEDING' FROM now_in a
        JOIN pair pr ON pr.id = a.id JOIN atlas4d_mobility.geofences g ON g.id = a.geofence_id
        WHERE pr.speed_ms IS NOT NULL AND pr.speed_ms * 3.6 > g.speed_limit_kmh
    )
    SELECT pr.id, pr.entity_id, pr.t, ST_X(pr.geom), ST_Y(pr.geom), pr.speed_ms * 3.6, ev.geofence_id,
           g.speed_limit_kmh, ev.event, pr.p_id
    FROM ev JOIN pair pr ON pr.id = ev.id JOIN atlas4d_mobility.geofences g ON g.id = ev.geofence_id
    -- commit order (notice, then id); an observation's LEFT, then ENTERED, then SPEEDING events
    ORDER BY pr.n, pr.id, CASE ev.event WHEN 'LEFT' THEN 0 WHEN 'ENTERED' THEN 1 ELSE 2 END, ev.geofence_id
$$;
