-- GET /api/stats in one statement and one pass over observations (the per-source counts give the total;
-- the latest time comes from the (t DESC, id DESC) index).
WITH sources AS (
    SELECT coalesce(source_type, 'unknown') AS source_type, count(*) AS n
    FROM atlas4d.observations_core
    GROUP BY 1
)
SELECT (SELECT coalesce(sum(n), 0)::bigint FROM sources) AS total_observations,
       (SELECT count(*) FROM atlas4d.anomalies) AS total_anomalies,
       (SELECT coalesce(jsonb_object_agg(source_type, n), '{}'::jsonb) FROM sources) AS sources,
       (SELECT max(t) FROM atlas4d.observations_core) AS last_observation
