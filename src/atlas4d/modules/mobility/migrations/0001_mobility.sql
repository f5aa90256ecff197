-- Mobility module: vehicle details, stops, geofences and trips, in schema atlas4d_mobility only.
-- Rows refer to core rows by id (entities, tracks, observations) without foreign keys, so core can
-- reload or truncate its tables without asking this module.
CREATE SCHEMA IF NOT EXISTS atlas4d_mobility;

CREATE TABLE IF NOT EXISTS atlas4d_mobility.vehicles (
    entity_id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('car', 'bus', 'truck', 'taxi')),
    label text NOT NULL,
    capacity integer NOT NULL CHECK (capacity >= 0),
    properties jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS vehicles_kind ON atlas4d_mobility.vehicles (kind);

CREATE TABLE IF NOT EXISTS atlas4d_mobility.stops (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    geom geometry(Point, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS stops_geom ON atlas4d_mobility.stops USING gist (geom);

CREATE TABLE IF NOT EXISTS atlas4d_mobility.geofences (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    speed_limit_kmh double precision NOT NULL CHECK (speed_limit_kmh > 0),
    geom geometry(Polygon, 4326) NOT NULL CHECK (ST_IsValid(geom))
);
CREATE INDEX IF NOT EXISTS geofences_geom ON atlas4d_mobility.geofences USING gist (geom);

-- A trip is a core track driven by a vehicle; its numbers are copied from atlas4d.tracks when the
-- trip is (re)computed, its stops are the nearest stops to the track's ends.
CREATE TABLE IF NOT EXISTS atlas4d_mobility.trips (
    track_id uuid PRIMARY KEY,
    vehicle_id uuid NOT NULL,
    start_stop_id uuid REFERENCES atlas4d_mobility.stops (id) ON DELETE SET NULL,
    end_stop_id uuid REFERENCES atlas4d_mobility.stops (id) ON DELETE SET NULL,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    distance_m double precision NOT NULL CHECK (distance_m >= 0)
);
CREATE INDEX IF NOT EXISTS trips_vehicle ON atlas4d_mobility.trips (vehicle_id, start_time DESC);
CREATE INDEX IF NOT EXISTS trips_time ON atlas4d_mobility.trips (start_time, end_time);

-- (Re)compute the trips of the given tracks driven by known vehicles; returns how many were written.
CREATE OR REPLACE FUNCTION atlas4d_mobility.refresh_trips(track_ids uuid[], stop_radius_m double precision)
RETURNS integer LANGUAGE sql AS $$
    WITH src AS (
        SELECT tr.id, tr.entity_id, tr.start_time, tr.end_time, tr.length_m,
               ST_StartPoint(tr.geom) AS a, ST_EndPoint(tr.geom) AS b
        FROM atlas4d.tracks tr
        JOIN atlas4d_mobility.vehicles v ON v.entity_id = tr.entity_id
        WHERE tr.id = ANY(track_ids) AND GeometryType(tr.geom) = 'LINESTRING'
    ), up AS (
        INSERT INTO atlas4d_mobility.trips AS t
            (track_id, vehicle_id, start_stop_id, end_stop_id, start_time, end_time, distance_m)
        SELECT src.id, src.entity_id,
               (SELECT s.id FROM atlas4d_mobility.stops s
                WHERE ST_DWithin(s.geom::geography, src.a::geography, stop_radius_m)
                ORDER BY ST_Distance(s.geom::geography, src.a::geography), s.id LIMIT 1),
               (SELECT s.id FROM atlas4d_mobility.stops s
                WHERE ST_DWithin(s.geom::geography, src.b::geography, stop_radius_m)
                ORDER BY ST_Distance(s.geom::geography, src.b::geography), s.id LIMIT 1),
               src.start_time, src.end_time, src.length_m
        FROM src
        ON CONFLICT (track_id) DO UPDATE SET
            vehicle_id = excluded.vehicle_id, start_stop_id = excluded.start_stop_id,
            end_stop_id = excluded.end_stop_id, start_time = excluded.start_time,
            end_time = excluded.end_time, distance_m = excluded.distance_m
        RETURNING 1
    )
    SELECT count(*)::integer FROM up
$$;

-- Dwell detection ("stay points"): scanning each entity's observations in time order, a stay starts
-- at an anchor observation and lasts while observations stay within radius_m of the anchor (great
-- circle distance); the first farther one anchors the next stay. Stays lasting at least min_duration
-- (anchor time to last time) are returned with the anchor's position.
CREATE OR REPLACE FUNCTION atlas4d_mobility.dwell_events(
    entity_ids uuid[], t_from timestamptz, t_to timestamptz, radius_m double precision, min_duration interval
) RETURNS TABLE (
    entity_id uuid, start_time timestamptz, end_time timestamptz, lon double precision,
    lat double precision, point_count integer
) LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_variable
DECLARE
    r record;
    cur uuid;
    anchor geometry;
    anchor_t timestamptz;
    last_t timestamptz;
    n integer := 0;
BEGIN
    FOR r IN
        SELECT o.entity_id AS e, o.t AS t, o.geom AS g FROM atlas4d.observations_core o
        WHERE o.entity_id = ANY(entity_ids) AND o.geom IS NOT NULL
          AND (t_from IS NULL OR o.t >= t_from) AND (t_to IS NULL OR o.t < t_to)
        ORDER BY o.entity_id, o.t, o.id
    LOOP
        IF cur IS DISTINCT FROM r.e OR ST_DistanceSphere(anchor, r.g) > radius_m THEN
            IF cur IS NOT NULL AND last_t - anchor_t >= min_duration THEN
                entity_id := cur; start_time := anchor_t; end_time := last_t;
                lon := ST_X(anchor); lat := ST_Y(anchor); point_count := n;
                RETURN NEXT;
            END IF;
            cur := r.e; anchor := r.g; anchor_t := r.t; n := 0;
        END IF;
        last_t := r.t;
        n := n + 1;
    END LOOP;
    IF cur IS NOT NULL AND last_t - anchor_t >= min_duration THEN
        entity_id := cur; start_time := anchor_t; end_time := last_t;
        lon := ST_X(anchor); lat := ST_Y(anchor); point_count := n;
        RETURN NEXT;
    END IF;
END
$$;
