-- Atlas4D Core Spec v0.3 tables, written from the specification (docs/architecture/CORE_SPEC.md §1.3-1.4 and
-- SCHEMA.md of the original project) for the compatibility suite: a database as the original Atlas4D
-- would have created it, before our gateway ever saw it. Not our migrations: every column nullable where the
-- spec's DDL leaves it nullable, no checks the spec does not state, the spec's index names.
-- TimescaleDB and pgvector are used when the server has them (the spec requires both; this machine may not).
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

CREATE SCHEMA atlas4d;

CREATE TABLE atlas4d.observations_core (
    id          BIGSERIAL,
    t           TIMESTAMPTZ NOT NULL,
    geom        GEOMETRY(Point, 4326),
    source_type TEXT,
    track_id    UUID,
    entity_id   UUID,
    lat         DOUBLE PRECISION,
    lon         DOUBLE PRECISION,
    altitude_m  DOUBLE PRECISION,
    speed_ms    DOUBLE PRECISION,
    heading_deg DOUBLE PRECISION,
    metadata    JSONB DEFAULT '{}',
    PRIMARY KEY (id, t)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable('atlas4d.observations_core', 't', chunk_time_interval => INTERVAL '1 day');
    END IF;
END
$$;

-- §1.4 guaranteed indexes
CREATE INDEX idx_obs_geom ON atlas4d.observations_core USING GIST (geom);
CREATE INDEX idx_obs_source ON atlas4d.observations_core (source_type);
CREATE INDEX idx_obs_track ON atlas4d.observations_core (track_id);

CREATE TABLE atlas4d.anomalies (
    id             SERIAL PRIMARY KEY,
    observation_id BIGINT,
    anomaly_type   TEXT,
    severity       INTEGER CHECK (severity BETWEEN 1 AND 5),
    score          DOUBLE PRECISION,
    detected_at    TIMESTAMPTZ DEFAULT NOW(),
    metadata       JSONB DEFAULT '{}'
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
        EXECUTE 'CREATE TABLE atlas4d.trajectory_embeddings (
            id SERIAL PRIMARY KEY, track_id UUID NOT NULL, source_type TEXT, start_time TIMESTAMPTZ,
            end_time TIMESTAMPTZ, point_count INTEGER, embedding VECTOR(768), metadata JSONB DEFAULT ''{}'',
            created_at TIMESTAMPTZ DEFAULT NOW())';
    ELSE
        EXECUTE 'CREATE TABLE atlas4d.trajectory_embeddings (
            id SERIAL PRIMARY KEY, track_id UUID NOT NULL, source_type TEXT, start_time TIMESTAMPTZ,
            end_time TIMESTAMPTZ, point_count INTEGER, embedding REAL[], metadata JSONB DEFAULT ''{}'',
            created_at TIMESTAMPTZ DEFAULT NOW())';
    END IF;
END
$$;
