-- `near` (and any spatial filter read through geography) with a time window: one GiST index over
-- (geography, t) answers the circle and the window together, so a day's window reads the rows near the
-- point in that day instead of every row near the point in the whole table, then the day's among them.
-- Measured (5 km, one day, first 1,000, 16 clients on 2 cores): 14 -> 48 statements/s on 10M observations,
-- ~300 -> ~450 on 1M. It replaces the geography-only index, whose first column it keeps.
-- btree_gist (contrib, a trusted extension since PostgreSQL 13) gives timestamptz a GiST operator class.
-- Building it locks writes to observations_core for a while on a large table (1M rows: ~10 s, 10M: ~90 s).
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE INDEX IF NOT EXISTS observations_geog_t_gist ON atlas4d.observations_core USING gist ((geom::geography), t);
DROP INDEX IF EXISTS atlas4d.observations_geog_gist;
