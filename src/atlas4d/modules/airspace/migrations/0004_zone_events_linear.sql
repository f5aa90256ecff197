-- zone_events (0003) planned its FULL JOIN of "inside now" and "inside before" and the joins back to the batch
-- as nested loops over CTE scans (the planner guesses ~200 rows for a batch of any size): quadratic in the
-- batch. Same events, same order, computed per observation instead: for each one, the zones its position or
-- its previous one's lies in (two GIST probes), the full 3D + time rule on both — linear in the batch.
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
    )
    SELECT pr.id, pr.entity_id, pr.track_id, pr.t, ST_X(pr.geom), ST_Y(pr.geom), pr.altitude_m, f.id, f.kind,
           CASE WHEN NOT f.was_in THEN 'ENTERED' WHEN NOT f.now_in THEN 'LEFT' ELSE 'INSIDE' END AS event,
           pr.p_id
    FROM pair pr
    CROSS JOIN LATERAL (
        SELECT z.id, z.kind,
               ST_Intersects(z.geom, pr.geom) AND pr.altitude_m BETWEEN z.floor_m AND z.ceiling_m
                   AND (z.active_from IS NULL OR pr.t >= z.active_from)
                   AND (z.active_to IS NULL OR pr.t < z.active_to) AS now_in,
               pr.p_id IS NOT NULL AND ST_Intersects(z.geom, pr.p_geom)
                   AND pr.p_alt BETWEEN z.floor_m AND z.ceiling_m
                   AND (z.active_from IS NULL OR pr.p_t >= z.active_from)
                   AND (z.active_to IS NULL OR pr.p_t < z.active_to) AS was_in
        FROM (
            SELECT z.id FROM atlas4d_airspace.restricted_zones z WHERE ST_Intersects(z.geom, pr.geom)
            UNION
            SELECT z.id FROM atlas4d_airspace.restricted_zones z WHERE ST_Intersects(z.geom, pr.p_geom)
        ) c JOIN atlas4d_airspace.restricted_zones z ON z.id = c.id
    ) f
    WHERE f.now_in OR f.was_in
    -- commit order (notice, then id); an observation's LEFT events before its ENTERED ones
    ORDER BY pr.n, pr.id,
             CASE WHEN NOT f.now_in THEN 0 WHEN NOT f.was_in THEN 1 ELSE 2 END, f.id
$$;
