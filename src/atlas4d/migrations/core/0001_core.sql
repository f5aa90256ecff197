-- Atlas4D Core Spec v0.3 tables, plus entities and tracks (new in this project).
-- Everything is IF NOT EXISTS so an existing Atlas4D database is adopted, not replaced.
CREATE EXTENSION IF NOT EXISTS postgis;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
    END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS atlas4d;

CREATE TABLE IF NOT EXISTS atlas4d.entities (
    id uuid PRIMARY KEY,
    kind text NOT NULL,
    name text,
    source_type text,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS entities_kind_idx ON atlas4d.entities (kind);
CREATE INDEX IF NOT EXISTS entities_source_type_idx ON atlas4d.entities (source_type);

CREATE TABLE IF NOT EXISTS atlas4d.observations_core (
    id bigserial NOT NULL,
    t timestamptz NOT NULL,
    geom geometry(Point, 4326),
    source_type text,
    track_id uuid,
    entity_id uuid,
    lat double precision,
    lon double precision,
    altitude_m double precision,
    speed_ms double precision,
    heading_deg double precision,
    metadata jsonb,
    PRIMARY KEY (id, t)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('atlas4d.observations_core', 't', if_not_exists => true, migrate_data => true);
    ELSE
        CREATE INDEX IF NOT EXISTS observations_t_brin ON atlas4d.observations_core USING brin (t);
    END IF;
END
$$;

CREATE INDEX IF NOT EXISTS observations_geom_gist ON atlas4d.observations_core USING gist (geom);
CREATE INDEX IF NOT EXISTS observations_geog_gist ON atlas4d.observations_core USING gist ((geom::geography));
CREATE INDEX IF NOT EXISTS observations_entity_t ON atlas4d.observations_core (entity_id, t DESC);
CREATE INDEX IF NOT EXISTS observations_track_t ON atlas4d.observations_core (track_id, t);
CREATE INDEX IF NOT EXISTS observations_source_t ON atlas4d.observations_core (source_type, t);
CREATE INDEX IF NOT EXISTS observations_t_id ON atlas4d.observations_core (t DESC, id DESC);
CREATE INDEX IF NOT EXISTS observations_altitude ON atlas4d.observations_core (altitude_m);

CREATE TABLE IF NOT EXISTS atlas4d.anomalies (
    id bigserial PRIMARY KEY,
    observation_id bigint,
    anomaly_type text NOT NULL,
    severity integer CHECK (severity BETWEEN 1 AND 5),
    score double precision CHECK (score BETWEEN 0 AND 1),
    detected_at timestamptz NOT NULL DEFAULT now(),
    metadata jsonb
);
CREATE INDEX IF NOT EXISTS anomalies_observation ON atlas4d.anomalies (observation_id);
CREATE INDEX IF NOT EXISTS anomalies_detected ON atlas4d.anomalies (detected_at DESC);
CREATE INDEX IF NOT EXISTS anomalies_type ON atlas4d.anomalies (anomaly_type);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        EXECUTE 'CREATE TABLE IF NOT EXISTS atlas4d.trajectory_embeddings (
            id bigserial PRIMARY KEY, track_id uuid, source_type text, start_time timestamptz,
            end_time timestamptz, point_count integer, embedding vector, metadata jsonb)';
    ELSE
        EXECUTE 'CREATE TABLE IF NOT EXISTS atlas4d.trajectory_embeddings (
            id bigserial PRIMARY KEY, track_id uuid, source_type text, start_time timestamptz,
            end_time timestamptz, point_count integer, embedding real[], metadata jsonb)';
    END IF;
END
$$;
CREATE INDEX IF NOT EXISTS trajectory_embeddings_track ON atlas4d.trajectory_embeddings (track_id);

-- Tracks: one row per track_id, kept up to date by ingest (atlas4d.refresh_tracks) so list and
-- spatial queries on tracks never aggregate raw observations.
CREATE TABLE IF NOT EXISTS atlas4d.tracks (
    id uuid PRIMARY KEY,
    entity_id uuid,
    source_type text,
    start_time timestamptz NOT NULL,
    end_time timestamptz NOT NULL,
    point_count integer NOT NULL,
    length_m double precision NOT NULL,
    geom geometry(Geometry, 4326)
);
CREATE INDEX IF NOT EXISTS tracks_entity ON atlas4d.tracks (entity_id, start_time DESC);
CREATE INDEX IF NOT EXISTS tracks_time ON atlas4d.tracks (start_time, end_time);
CREATE INDEX IF NOT EXISTS tracks_geom_gist ON atlas4d.tracks USING gist (geom);

CREATE OR REPLACE FUNCTION atlas4d.refresh_tracks(ids uuid[]) RETURNS integer
LANGUAGE sql AS $$
    WITH agg AS (
        SELECT o.track_id AS id,
               (array_agg(o.entity_id ORDER BY o.t DESC) FILTER (WHERE o.entity_id IS NOT NULL))[1] AS entity_id,
               (array_agg(o.source_type ORDER BY o.t DESC) FILTER (WHERE o.source_type IS NOT NULL))[1] AS source_type,
               min(o.t) AS start_time, max(o.t) AS end_time, count(*)::integer AS point_count,
               ST_MakeLine(o.geom ORDER BY o.t, o.id) AS geom
        FROM atlas4d.observations_core o
        WHERE o.track_id = ANY(ids) AND o.geom IS NOT NULL
        GROUP BY o.track_id
    ), up AS (
        INSERT INTO atlas4d.tracks AS tr (id, entity_id, source_type, start_time, end_time, point_count, length_m, geom)
        SELECT id, entity_id, source_type, start_time, end_time, point_count,
               coalesce(ST_Length(geom::geography), 0), geom
        FROM agg
        ON CONFLICT (id) DO UPDATE SET
            entity_id = excluded.entity_id, source_type = excluded.source_type,
            start_time = excluded.start_time, end_time = excluded.end_time,
            point_count = excluded.point_count, length_m = excluded.length_m, geom = excluded.geom
        RETURNING 1
    )
    SELECT count(*)::integer FROM up
$$;
