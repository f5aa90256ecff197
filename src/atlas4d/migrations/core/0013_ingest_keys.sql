-- Idempotency keys of connector writes (atlas4d connect mqtt|nats|kafka; docs/connectors.md).
--
-- Brokers deliver at least once, so a message may arrive again after a crash, a restart or a lost ack.
-- Each stored observation's key (source, external id, time) is inserted here in the same transaction as
-- the observation; a redelivered message finds its key taken and is not stored twice. A separate table
-- instead of a column and unique index on observations_core: the Core Spec v0.3 table stays as it is
-- (an adopted original database keeps working), and a unique index on a hypertable would have to be
-- built per chunk. Old keys can be pruned once no broker can redeliver them (`stored_at`).
CREATE TABLE IF NOT EXISTS atlas4d.ingest_keys (
    source text NOT NULL,
    external_id text NOT NULL,
    t timestamptz NOT NULL,
    stored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, external_id, t)
);
CREATE INDEX IF NOT EXISTS ingest_keys_stored_at ON atlas4d.ingest_keys USING brin (stored_at);
