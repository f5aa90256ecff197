-- Row-level security per tenant on this module's tables (atlas4d.enable_tenancy, core migration 0008).
SELECT atlas4d.enable_tenancy('atlas4d_telecom.nodes');
SELECT atlas4d.enable_tenancy('atlas4d_telecom.links');
SELECT atlas4d.enable_tenancy('atlas4d_telecom.metrics');
SELECT atlas4d.enable_tenancy('atlas4d_telecom.anomalies');
