-- Live network anomalies (subscription `networkAnomalyDetected`, atlas4d.streaming.derived): every statement
-- that adds anomalies announces their ids on core's change channel as a module channel,
-- `m;telecom.anomalies;<uuid>,<uuid>,…` (at most 180 ids a notice: ~6,700 bytes, under PostgreSQL's 8,000).
-- NOTIFY is transactional: subscribers hear of committed rows only, in commit order, whoever wrote them
-- (the seed, SQL, a detection job: INSERT … SELECT FROM atlas4d_telecom.detect_anomalies(…)).
CREATE OR REPLACE FUNCTION atlas4d_telecom.notify_anomalies() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    payload text;
BEGIN
    FOR payload IN
        SELECT 'm;telecom.anomalies;' || string_agg(id::text, ',' ORDER BY n)
        FROM (SELECT id, row_number() OVER () - 1 AS n FROM new_rows) r
        GROUP BY n / 180 ORDER BY n / 180
    LOOP
        PERFORM pg_notify('atlas4d_changes', payload);
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS anomalies_notify ON atlas4d_telecom.anomalies;
CREATE TRIGGER anomalies_notify AFTER INSERT ON atlas4d_telecom.anomalies
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION atlas4d_telecom.notify_anomalies();
