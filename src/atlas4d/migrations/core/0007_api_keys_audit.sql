-- API keys (stored as SHA-256 of a 256-bit random secret, never the secret) and the append-only audit trail.
CREATE TABLE IF NOT EXISTS atlas4d.api_keys (
    id text PRIMARY KEY,
    secret_sha256 text NOT NULL,
    name text NOT NULL,
    roles text[] NOT NULL DEFAULT '{}',
    scopes text[] NOT NULL DEFAULT '{}',
    tenant text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE TABLE IF NOT EXISTS atlas4d.audit_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    principal text NOT NULL,
    tenant text,
    action text NOT NULL,          -- graphql, rest, bulk, admin
    operation_name text,
    operation_hash text,
    rows_affected bigint,
    outcome text NOT NULL,         -- ok, error, denied
    request_id text,
    detail jsonb
);
CREATE INDEX IF NOT EXISTS audit_log_at ON atlas4d.audit_log (at);

-- Append-only: rows are never updated; only atlas4d.prune_audit (retention) deletes, and only old rows.
CREATE OR REPLACE FUNCTION atlas4d.audit_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('atlas4d.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'atlas4d.audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;

DROP TRIGGER IF EXISTS audit_log_append_only ON atlas4d.audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON atlas4d.audit_log
    FOR EACH ROW EXECUTE FUNCTION atlas4d.audit_log_guard();
CREATE OR REPLACE FUNCTION atlas4d.prune_audit(keep interval) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    PERFORM set_config('atlas4d.audit_prune', 'on', true);
    DELETE FROM atlas4d.audit_log WHERE at < now() - keep;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM set_config('atlas4d.audit_prune', 'off', true);
    RETURN n;
END $$;
