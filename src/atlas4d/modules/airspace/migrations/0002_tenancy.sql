-- Row-level security per tenant on this module's tables (atlas4d.enable_tenancy, core migration 0008).
SELECT atlas4d.enable_tenancy('atlas4d_airspace.aircraft');
SELECT atlas4d.enable_tenancy('atlas4d_airspace.restricted_zones');
