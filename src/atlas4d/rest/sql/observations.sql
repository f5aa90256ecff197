-- GET /api/observations: the original Atlas4D `Observation` shape, newest first. Positions by the rule of
-- atlas4d.core.position (the placeholders below are replaced at load): geom, else the lat/lon columns.
-- {where} and {limit} are filled with predicates and a placeholder from core/filters.py; values are $n params.
SELECT o.id,
       o.t,
       {lat(o)} AS lat,
       {lon(o)} AS lon,
       o.source_type,
       o.speed_ms,
       o.heading_deg
FROM atlas4d.observations_core AS o
{where}
ORDER BY o.t DESC, o.id DESC
LIMIT {limit}
