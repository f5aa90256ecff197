-- POST /api/observations: one or many rows in one statement, ids returned in input order.
INSERT INTO atlas4d.observations_core
    (t, geom, source_type, track_id, entity_id, lat, lon, altitude_m, speed_ms, heading_deg, metadata)
SELECT i.t, ST_SetSRID(ST_MakePoint(i.lon, i.lat), 4326), i.source_type, i.track_id, i.entity_id,
       i.lat, i.lon, i.altitude_m, i.speed_ms, i.heading_deg, i.metadata
FROM unnest($1::timestamptz[], $2::text[], $3::uuid[], $4::uuid[], $5::float8[], $6::float8[],
            $7::float8[], $8::float8[], $9::float8[], $10::jsonb[])
     WITH ORDINALITY AS i(t, source_type, track_id, entity_id, lat, lon, altitude_m, speed_ms, heading_deg,
                          metadata, n)
ORDER BY i.n
RETURNING id
