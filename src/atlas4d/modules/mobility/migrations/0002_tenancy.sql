-- Row-level security per tenant on this module's tables (atlas4d.enable_tenancy, core migration 0008).
SELECT atlas4d.enable_tenancy('atlas4d_mobility.vehicles');
SELECT atlas4d.enable_tenancy('atlas4d_mobility.stops');
SELECT atlas4d.enable_tenancy('atlas4d_mobility.geofences');
SELECT atlas4d.enable_tenancy('atlas4d_mobility.trips');
