-- Live subscriptions (atlas4d.streaming): every statement that adds observations or anomalies, or writes
-- tracks, sends the keys of its rows on the channel `atlas4d_changes` with pg_notify. NOTIFY is
-- transactional: PostgreSQL delivers it only if the transaction commits, after the commit, and to every
-- listener in commit order — so subscribers see rows in commit order whoever wrote them (GraphQL, REST, bulk,
-- connectors, another replica, psql).
--
-- Payload (text, always under PostgreSQL's 8,000-byte limit; a statement's keys are split over as many
-- notifications as needed):
--   o;<min t, µs since epoch>;<max t>;<ranges>   observations: ranges of ids `lo` or `lo:hi`, comma-separated
--   a;<ranges>                                    anomalies
--   k;<uuid>,<uuid>,…                             tracks inserted or updated
-- Statement-level triggers with transition tables: one notification per ~150 id ranges, whatever the number
-- of rows (a 10,000-row COPY with consecutive ids sends one).

CREATE OR REPLACE FUNCTION atlas4d.id_ranges_payload(prefix text, ids bigint[], ts timestamptz[])
RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
    WITH r AS (
        SELECT id, t, id - row_number() OVER (ORDER BY id) AS grp FROM unnest(ids, ts) AS u(id, t)
    ), ranges AS (
        SELECT min(id) AS lo, max(id) AS hi, min(t) AS tmin, max(t) AS tmax FROM r GROUP BY grp
    ), chunked AS (
        SELECT (row_number() OVER (ORDER BY lo) - 1) / 150 AS chunk, * FROM ranges
    )
    SELECT prefix || ';'
        || CASE WHEN prefix = 'o' THEN
               (floor(extract(epoch FROM min(tmin)) * 1000000))::bigint::text || ';'
               || (ceil(extract(epoch FROM max(tmax)) * 1000000))::bigint::text || ';'
           ELSE '' END
        || string_agg(CASE WHEN lo = hi THEN lo::text ELSE lo::text || ':' || hi::text END, ',' ORDER BY lo)
    FROM chunked GROUP BY chunk ORDER BY chunk
$$;

CREATE OR REPLACE FUNCTION atlas4d.notify_observations() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT atlas4d.id_ranges_payload('o', array_agg(id), array_agg(t)) FROM new_rows HAVING count(*) > 0
    LOOP
        PERFORM pg_notify('atlas4d_changes', payload);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION atlas4d.notify_anomalies() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT atlas4d.id_ranges_payload('a', array_agg(id::bigint), array_agg(NULL::timestamptz))
        FROM new_rows HAVING count(*) > 0
    LOOP
        PERFORM pg_notify('atlas4d_changes', payload);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION atlas4d.notify_tracks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT 'k;' || string_agg(id::text, ',' ORDER BY id)
        FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / 200 AS chunk FROM new_rows) c
        GROUP BY chunk ORDER BY chunk
    LOOP
        PERFORM pg_notify('atlas4d_changes', payload);
    END LOOP;
    RETURN NULL;
END
$$;

-- TimescaleDB refuses transition tables on hypertables: there, one notification per row (untested here:
-- no TimescaleDB on the development machines; docs/streaming.md says so).
CREATE OR REPLACE FUNCTION atlas4d.notify_observation_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('atlas4d_changes', 'o;' || (floor(extract(epoch FROM NEW.t) * 1000000))::bigint
        || ';' || (ceil(extract(epoch FROM NEW.t) * 1000000))::bigint || ';' || NEW.id);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS observations_notify ON atlas4d.observations_core;
DO $$
DECLARE
    hypertable boolean := false;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables '
            'WHERE hypertable_schema = ''atlas4d'' AND hypertable_name = ''observations_core'')' INTO hypertable;
    END IF;
    IF hypertable THEN
        CREATE TRIGGER observations_notify AFTER INSERT ON atlas4d.observations_core
            FOR EACH ROW EXECUTE FUNCTION atlas4d.notify_observation_row();
    ELSE
        CREATE TRIGGER observations_notify AFTER INSERT ON atlas4d.observations_core
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atlas4d.notify_observations();
    END IF;
END
$$;

DROP TRIGGER IF EXISTS anomalies_notify ON atlas4d.anomalies;
CREATE TRIGGER anomalies_notify AFTER INSERT ON atlas4d.anomalies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atlas4d.notify_anomalies();

DROP TRIGGER IF EXISTS tracks_notify_insert ON atlas4d.tracks;
CREATE TRIGGER tracks_notify_insert AFTER INSERT ON atlas4d.tracks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atlas4d.notify_tracks();

DROP TRIGGER IF EXISTS tracks_notify_update ON atlas4d.tracks;
CREATE TRIGGER tracks_notify_update AFTER UPDATE ON atlas4d.tracks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atlas4d.notify_tracks();
