-- Tenancy: a tenant_id on every core table, filled from the transaction-local setting `atlas4d.tenant`, and
-- row-level security that confines members of the role `atlas4d_tenant` (the server's pool role when
-- ATLAS4D_TENANCY is on) to their tenant's rows. Owners and superusers bypass RLS, and every other role keeps
-- seeing all rows (a permissive policy for PUBLIC), so an existing single-tenant database works as before.
-- Modules call atlas4d.enable_tenancy('schema.table') for their own tables.
--
-- The Core Spec v0.3 tables (observations_core, anomalies, trajectory_embeddings) may belong to an original
-- Atlas4D database that we must leave as it is (docs/core-spec-compat.md): they are only registered here, and
-- get their tenant_id column and policies when a server starts with ATLAS4D_TENANCY=true (an explicit
-- choice of the operator). Our own tables get them now.

CREATE OR REPLACE FUNCTION atlas4d.current_tenant() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('atlas4d.tenant', true), '') $$;

CREATE TABLE IF NOT EXISTS atlas4d.tenant_tables (table_name regclass PRIMARY KEY);

CREATE OR REPLACE FUNCTION atlas4d.enable_tenancy(tbl regclass) RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    has_role boolean;
BEGIN
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS tenant_id text DEFAULT atlas4d.current_tenant()', tbl);
    INSERT INTO atlas4d.tenant_tables VALUES (tbl) ON CONFLICT DO NOTHING;
    has_role := EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atlas4d_tenant');
    IF NOT has_role THEN
        BEGIN
            CREATE ROLE atlas4d_tenant NOLOGIN;
            has_role := true;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN has_role := true;  -- a concurrent migration made it
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'atlas4d: cannot create role atlas4d_tenant; tenancy needs it (docs/security.md)';
        END;
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
    IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl AND polname = 'atlas4d_everyone') THEN
        EXECUTE format('CREATE POLICY atlas4d_everyone ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (true) WITH CHECK (true)', tbl);
    END IF;
    IF has_role AND NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl AND polname = 'atlas4d_tenant_rows') THEN
        EXECUTE format(
            'CREATE POLICY atlas4d_tenant_rows ON %s AS RESTRICTIVE FOR ALL TO atlas4d_tenant '
            'USING (tenant_id = atlas4d.current_tenant()) WITH CHECK (tenant_id = atlas4d.current_tenant())', tbl);
    END IF;
END $$;

SELECT atlas4d.enable_tenancy('atlas4d.entities');
SELECT atlas4d.enable_tenancy('atlas4d.tracks');
INSERT INTO atlas4d.tenant_tables VALUES
    ('atlas4d.observations_core'), ('atlas4d.anomalies'), ('atlas4d.trajectory_embeddings')
ON CONFLICT DO NOTHING;
CREATE INDEX IF NOT EXISTS entities_tenant ON atlas4d.entities (tenant_id);
CREATE INDEX IF NOT EXISTS tracks_tenant ON atlas4d.tracks (tenant_id);
