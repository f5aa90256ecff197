-- GET /api/anomalies: recent anomalies with the position and source of their observation (null if none).
-- observations_core is keyed by (id, t), so an id may in principle repeat across chunks: take one row.
SELECT a.id,
       a.anomaly_type,
       a.severity,
       a.score,
       a.detected_at,
       o.lat,
       o.lon,
       o.source_type,
       a.observation_id,
       a.metadata
FROM atlas4d.anomalies AS a
LEFT JOIN LATERAL (
    SELECT {lat(oc)} AS lat, {lon(oc)} AS lon, oc.source_type
    FROM atlas4d.observations_core AS oc
    WHERE oc.id = a.observation_id
    LIMIT 1
) AS o ON true
{where}
ORDER BY a.detected_at DESC, a.id DESC
LIMIT {limit}
