-- GET /api/stats in one statement.
SELECT (SELECT count(*) FROM atlas4d.observations_core) AS total_observations,
       (SELECT count(*) FROM atlas4d.anomalies) AS total_anomalies,
       (SELECT coalesce(jsonb_object_agg(s.source_type, s.n), '{}'::jsonb)
          FROM (SELECT coalesce(source_type, 'unknown') AS source_type, count(*) AS n
                  FROM atlas4d.observations_core
                 GROUP BY 1) AS s) AS sources,
       (SELECT max(t) FROM atlas4d.observations_core) AS last_observation
