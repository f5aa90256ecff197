"""Security: who is calling (identity), what they may do (authorization), which tenant's rows they reach
(tenancy, enforced by PostgreSQL row-level security), what is recorded (audit) and how often (rate limits).
docs/security.md describes it; `atlas4d.auth.http` is where a request enters."""
