-- GET /api/geojson/observations: the whole FeatureCollection built here, sent to the client as is.
SELECT json_build_object(
           'type', 'FeatureCollection',
           'features', coalesce(json_agg(f.feature ORDER BY f.t DESC, f.id DESC), '[]'::json)
       )::text
FROM (
    SELECT o.t,
           o.id,
           json_build_object(
               'type', 'Feature',
               'geometry', ST_AsGeoJSON({point(o)})::json,
               'properties', json_build_object(
                   'id', o.id, 'time', o.t, 'source_type', o.source_type, 'speed_ms', o.speed_ms
               )
           ) AS feature
    FROM atlas4d.observations_core AS o
    {where}
    ORDER BY o.t DESC, o.id DESC
    LIMIT {limit}
) AS f
