-- Core Spec v0.3 parity: the original schema defaults metadata to '{}' and records when an embedding was
-- created. (On a database created by the original Atlas4D these already exist; both statements are no-ops.)
ALTER TABLE atlas4d.observations_core ALTER COLUMN metadata SET DEFAULT '{}'::jsonb;
ALTER TABLE atlas4d.anomalies ALTER COLUMN metadata SET DEFAULT '{}'::jsonb;
ALTER TABLE atlas4d.trajectory_embeddings ALTER COLUMN metadata SET DEFAULT '{}'::jsonb;
ALTER TABLE atlas4d.trajectory_embeddings ADD COLUMN IF NOT EXISTS created_at timestamptz DEFAULT now();
