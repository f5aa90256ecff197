-- Airspace module: aircraft (an extension of core entities of kind 'aircraft') and restricted zones as
-- 3D volumes with an active time window. Only schema atlas4d_airspace is touched; core tables are read.
-- Zone violations are computed on query (see docs/modules/airspace.md), so there is no violations table.
CREATE SCHEMA IF NOT EXISTS atlas4d_airspace;

CREATE TABLE IF NOT EXISTS atlas4d_airspace.aircraft (
    entity_id uuid PRIMARY KEY,  -- atlas4d.entities(id); no foreign key: a module adds nothing to core tables
    icao24 text NOT NULL UNIQUE CHECK (icao24 ~ '^[0-9a-f]{6}$'),
    callsign text,
    type_code text,
    registration text,
    properties jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS aircraft_callsign ON atlas4d_airspace.aircraft (callsign);
CREATE INDEX IF NOT EXISTS aircraft_type_code ON atlas4d_airspace.aircraft (type_code);

CREATE TABLE IF NOT EXISTS atlas4d_airspace.restricted_zones (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL,  -- airport_ctr, military, restricted, temporary, ...
    geom geometry(MultiPolygon, 4326) NOT NULL CHECK (ST_IsValid(geom)),
    floor_m double precision NOT NULL,
    ceiling_m double precision NOT NULL,
    active_from timestamptz,  -- NULL: since always
    active_to timestamptz,    -- NULL: for ever; the window is half-open [active_from, active_to)
    properties jsonb NOT NULL DEFAULT '{}'::jsonb,
    CHECK (floor_m <= ceiling_m),
    CHECK (active_from IS NULL OR active_to IS NULL OR active_from < active_to)
);
CREATE INDEX IF NOT EXISTS restricted_zones_geom ON atlas4d_airspace.restricted_zones USING gist (geom);
CREATE INDEX IF NOT EXISTS restricted_zones_kind ON atlas4d_airspace.restricted_zones (kind);
