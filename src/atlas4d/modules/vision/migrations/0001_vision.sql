-- Vision module: cameras (an extension of core entities of kind 'camera') with a field-of-view sector
-- computed from position, heading, horizontal field of view and range, and detections linked to core
-- tracks. Only schema atlas4d_vision is touched; core tables are read.
CREATE SCHEMA IF NOT EXISTS atlas4d_vision;

-- The ground footprint a camera sees: a circular sector (the apex at the camera) on the WGS 84
-- spheroid, one arc vertex per 5 degrees of field of view (at least 4 segments); a full disc for 360.
CREATE OR REPLACE FUNCTION atlas4d_vision.fov_sector(
    apex geometry, heading_deg double precision, fov_deg double precision, range_m double precision
) RETURNS geometry
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH arc AS (
        SELECT array_agg(
                   ST_Project(apex::geography, range_m,
                              radians(heading_deg - fov_deg / 2 + fov_deg * i / n))::geometry
                   ORDER BY i) AS points, n
        FROM (SELECT greatest(4, ceil(fov_deg / 5))::integer AS n) segments,
             generate_series(0, greatest(4, ceil(fov_deg / 5))::integer) AS i
        GROUP BY n
    )
    SELECT ST_SetSRID(ST_MakePolygon(ST_MakeLine(
               CASE WHEN fov_deg >= 360 THEN points[1:n] || points[1]
                    ELSE apex || points || apex END)), 4326)
    FROM arc
$$;

CREATE TABLE IF NOT EXISTS atlas4d_vision.cameras (
    entity_id uuid PRIMARY KEY,  -- atlas4d.entities(id); no foreign key: a module adds nothing to core tables
    name text,
    geom geometry(Point, 4326) NOT NULL,
    heading_deg double precision NOT NULL CHECK (heading_deg >= 0 AND heading_deg < 360),
    fov_deg double precision NOT NULL CHECK (fov_deg > 0 AND fov_deg <= 360),
    range_m double precision NOT NULL CHECK (range_m > 0 AND range_m <= 10000),
    coverage geometry(Polygon, 4326)
        GENERATED ALWAYS AS (atlas4d_vision.fov_sector(geom, heading_deg, fov_deg, range_m)) STORED,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS cameras_geom ON atlas4d_vision.cameras USING gist (geom);
CREATE INDEX IF NOT EXISTS cameras_coverage ON atlas4d_vision.cameras USING gist (coverage);

CREATE TABLE IF NOT EXISTS atlas4d_vision.detections (
    id uuid PRIMARY KEY,
    camera_id uuid NOT NULL REFERENCES atlas4d_vision.cameras (entity_id) ON DELETE CASCADE,
    t timestamptz NOT NULL,
    class text NOT NULL,
    confidence double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    -- the image box, normalised to the frame: origin top-left, 0..1
    box_x double precision NOT NULL CHECK (box_x BETWEEN 0 AND 1),
    box_y double precision NOT NULL CHECK (box_y BETWEEN 0 AND 1),
    box_w double precision NOT NULL CHECK (box_w BETWEEN 0 AND 1 AND box_x + box_w <= 1),
    box_h double precision NOT NULL CHECK (box_h BETWEEN 0 AND 1 AND box_y + box_h <= 1),
    geom geometry(Point, 4326),  -- estimated ground position; NULL when the camera could not place it
    track_id uuid,               -- the linked core track (atlas4d_vision.link_detections), or NULL
    entity_id uuid,              -- that track's entity
    link_distance_m double precision,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS detections_camera_t ON atlas4d_vision.detections (camera_id, t DESC);
CREATE INDEX IF NOT EXISTS detections_entity_t ON atlas4d_vision.detections (entity_id, t DESC);
CREATE INDEX IF NOT EXISTS detections_track_t ON atlas4d_vision.detections (track_id, t DESC);
CREATE INDEX IF NOT EXISTS detections_t ON atlas4d_vision.detections (t DESC);
CREATE INDEX IF NOT EXISTS detections_geom ON atlas4d_vision.detections USING gist (geom);

-- The linking rule (docs/modules/vision.md): a detection of a linkable class is linked to the core track
-- whose position at the detection's time -- interpolated linearly in lon/lat between the track's last
-- observation at or before it and first observation at or after it -- is nearest (geodesic distance on
-- the spheroid) to the detection's ground position, if that distance is at most `radius_m`; ties go to
-- the smaller track id. Other detections of `ids` are unlinked. Returns how many were linked.
CREATE OR REPLACE FUNCTION atlas4d_vision.link_detections(
    ids uuid[], radius_m double precision, classes text[]
) RETURNS integer
LANGUAGE sql AS $$
    WITH nearest AS (
        SELECT d.id, m.track_id, m.entity_id, m.distance_m
        FROM atlas4d_vision.detections d
        CROSS JOIN LATERAL (
            SELECT tr.id AS track_id, tr.entity_id,
                   ST_Distance(ST_SetSRID(ST_MakePoint(p.x + (n.x - p.x) * k.k, p.y + (n.y - p.y) * k.k), 4326)::geography,
                               d.geom::geography) AS distance_m
            FROM atlas4d.tracks tr
            CROSS JOIN LATERAL (
                SELECT o.t, ST_X(o.geom) AS x, ST_Y(o.geom) AS y FROM atlas4d.observations_core o
                WHERE o.track_id = tr.id AND o.t <= d.t AND o.geom IS NOT NULL ORDER BY o.t DESC, o.id DESC LIMIT 1
            ) p
            CROSS JOIN LATERAL (
                SELECT o.t, ST_X(o.geom) AS x, ST_Y(o.geom) AS y FROM atlas4d.observations_core o
                WHERE o.track_id = tr.id AND o.t >= d.t AND o.geom IS NOT NULL ORDER BY o.t ASC, o.id ASC LIMIT 1
            ) n
            CROSS JOIN LATERAL (
                SELECT CASE WHEN n.t = p.t THEN 0.0
                            ELSE extract(epoch FROM d.t - p.t) / extract(epoch FROM n.t - p.t) END AS k
            ) k
            WHERE tr.start_time <= d.t AND tr.end_time >= d.t
              -- a cheap, index-backed superset: the interpolated point lies on the track's line
              AND tr.geom && ST_Expand(d.geom, (radius_m + 1) / 110000.0 / cos(radians(ST_Y(d.geom))))
            ORDER BY distance_m, tr.id
            LIMIT 1
        ) m
        WHERE d.id = ANY(ids) AND d.class = ANY(classes) AND d.geom IS NOT NULL AND m.distance_m <= radius_m
    ), updated AS (
        UPDATE atlas4d_vision.detections d
        SET track_id = nearest.track_id, entity_id = nearest.entity_id, link_distance_m = nearest.distance_m
        FROM unnest(ids) AS u(id) LEFT JOIN nearest ON nearest.id = u.id
        WHERE d.id = u.id
        RETURNING d.track_id
    )
    SELECT count(track_id)::integer FROM updated
$$;
