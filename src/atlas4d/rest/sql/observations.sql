-- GET /api/observations: the original Atlas4D `Observation` shape, newest first.
-- {where} and {limit} are filled with predicates and a placeholder from core/filters.py; values are $n params.
SELECT o.id,
       o.t,
       coalesce(o.lat, ST_Y(o.geom)) AS lat,
       coalesce(o.lon, ST_X(o.geom)) AS lon,
       o.source_type,
       o.speed_ms,
       o.heading_deg
FROM atlas4d.observations_core AS o
{where}
ORDER BY o.t DESC, o.id DESC
LIMIT {limit}
