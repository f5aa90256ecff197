-- Live zone events (subscription `zoneEvents`, atlas4d.streaming.derived): for a batch of new core
-- observations, named by the id ranges of core's change notices, the zones each aircraft observation entered,
-- is inside of, or left. "Inside" is exactly the zoneViolations query's rule: an aircraft observation with a
-- track and an altitude, in the zone's polygon (ST_Intersects, boundary included), between floor and ceiling
-- and within the zone's active window at the observation's time. Each new observation is compared with the
-- same aircraft's previous observation by time (ties by id) among those that can be inside a zone (track and
-- altitude set): inside now and not before -> ENTERED, inside both -> INSIDE, inside before and not now -> LEFT.
-- An aircraft's first observation has no previous one (ENTERED if inside). SECURITY INVOKER (the default):
-- row-level security shows the caller's tenant's observations and zones only.
CREATE OR REPLACE FUNCTION atlas4d_airspace.zone_events(
    lows bigint[], highs bigint[], t_min timestamptz, t_max timestamptz
)
RETURNS TABLE (
    observation_id bigint, entity_id uuid, track_id uuid, t timestamptz, lon double precision,
    lat double precision, altitude_m double precision, zone_id uuid, zone_kind text, event text,
    previous_observation_id bigint
)
LANGUAGE sql STABLE AS $$
    WITH o AS MATERIALIZED (
        SELECT r.n, o.id, o.entity_id, o.track_id, o.t, o.geom, o.altitude_m
        FROM unnest(lows, highs) WITH ORDINALITY AS r(lo, hi, n)
        JOIN atlas4d.observations_core o ON o.id BETWEEN r.lo AND r.hi
        WHERE o.t >= t_min AND o.t <= t_max AND o.track_id IS NOT NULL AND o.altitude_m IS NOT NULL
          AND o.geom IS NOT NULL
          AND EXISTS (SELECT 1 FROM atlas4d_airspace.aircraft a WHERE a.entity_id = o.entity_id)
    ), pair AS MATERIALIZED (
        SELECT o.*, p.id AS p_id, p.t AS p_t, p.geom AS p_geom, p.altitude_m AS p_alt
        FROM o LEFT JOIN LATERAL (
            SELECT p.id, p.t, p.geom, p.altitude_m FROM atlas4d.observations_core p
            WHERE p.entity_id = o.entity_id AND p.t <= o.t AND (p.t, p.id) < (o.t, o.id)
              AND p.track_id IS NOT NULL AND p.altitude_m IS NOT NULL AND p.geom IS NOT NULL
            ORDER BY p.t DESC, p.id DESC LIMIT 1
        ) p ON true
    ), now_in AS (
        SELECT pr.id, z.id AS zone_id FROM pair pr
        JOIN atlas4d_airspace.restricted_zones z ON ST_Intersects(z.geom, pr.geom)
        WHERE pr.altitude_m BETWEEN z.floor_m AND z.ceiling_m
          AND (z.active_from IS NULL OR pr.t >= z.active_from) AND (z.active_to IS NULL OR pr.t < z.active_to)
    ), was_in AS (
        SELECT pr.id, z.id AS zone_id FROM pair pr
        JOIN atlas4d_airspace.restricted_zones z ON ST_Intersects(z.geom, pr.p_geom)
        WHERE pr.p_id IS NOT NULL AND pr.p_alt BETWEEN z.floor_m AND z.ceiling_m
          AND (z.active_from IS NULL OR pr.p_t >= z.active_from) AND (z.active_to IS NULL OR pr.p_t < z.active_to)
    ), ev AS (
        SELECT coalesce(a.id, b.id) AS id, coalesce(a.zone_id, b.zone_id) AS zone_id,
               CASE WHEN b.id IS NULL THEN 'ENTERED' WHEN a.id IS NULL THEN 'LEFT' ELSE 'INSIDE' END AS event
        FROM now_in a FULL JOIN was_in b ON b.id = a.id AND b.zone_id = a.zone_id
    )
    SELECT pr.id, pr.entity_id, pr.track_id, pr.t, ST_X(pr.geom), ST_Y(pr.geom), pr.altitude_m, ev.zone_id,
           z.kind, ev.event, pr.p_id
    FROM ev JOIN pair pr ON pr.id = ev.id JOIN atlas4d_airspace.restricted_zones z ON z.id = ev.zone_id
    -- commit order (notice, then id); an observation's LEFT events before its ENTERED ones
    ORDER BY pr.n, pr.id, CASE ev.event WHEN 'LEFT' THEN 0 WHEN 'ENTERED' THEN 1 ELSE 2 END, ev.zone_id
$$;
