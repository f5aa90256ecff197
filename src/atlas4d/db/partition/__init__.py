"""Time partitioning of `atlas4d.observations_core` and retention (docs/scaling.md §3).

`atlas4d db partition` converts the Core Spec v0.3 table, in place and while it is written, into a table
partitioned by RANGE (t) — one partition per interval (month by default) over the data's span plus some
ahead, and a DEFAULT partition so no insert is ever refused. Expand/contract:

1. **expand** — a partitioned twin `observations_core_partitioned` is made from the catalog: `LIKE` for
   columns, defaults, checks, storage, statistics and comments; the primary key from `pg_get_constraintdef`;
   owner and grants from `relacl`. Every other valid index (`pg_get_indexdef`, so a module's or an
   operator's own index comes along) is built after the copy, per partition, concurrently. A row-level *mirror* trigger on the old table applies every INSERT,
   UPDATE, DELETE and TRUNCATE to the twin in the writer's own transaction, so from then on any snapshot
   sees the two tables equal for every row written since;
2. **copy** — the rows that existed before the mirror, in id ranges of `batch_rows`, each batch one short
   transaction `INSERT … SELECT … FOR SHARE … ON CONFLICT DO NOTHING` that also records its progress in
   `atlas4d.partitioning` (an interrupted run resumes at the last committed batch). `FOR SHARE` makes a
   concurrent UPDATE/DELETE of a row being copied wait for the batch (and then mirror onto the copied row)
   or be seen by it, so a batch can never resurrect a deleted row or write a stale version;
3. **verify** — row count and a checksum (sum of 64-bit hashes of each row's text) of both tables read in
   one REPEATABLE READ snapshot: with the mirror in the writers' transactions they must be equal in any
   snapshot, however busy the table, so this needs no lock;
4. **swap** — one transaction that takes ACCESS EXCLUSIVE on both tables (with `lock_timeout`, retried so
   it never queues long in front of readers): drop the mirror; rename the old table to
   `observations_core_unpartitioned` and its indexes/constraints aside; give the twin the original names;
   recreate the user triggers, RLS flags and policies (from `pg_trigger`/`pg_policy`), point the views
   that read the table (from `pg_depend`) and `regclass` columns in atlas4d schemas
   (`atlas4d.tenant_tables`) at the new table, and move ownership of the id sequence. Only catalog work:
   the lock is held for milliseconds (docs/scaling.md has the measured figure). The old table is kept,
   its triggers disabled, unless `--drop-old`.

What the conversion refuses, before changing anything: identity columns, a unique index or constraint
without `t` (PostgreSQL cannot enforce it across partitions), exclusion constraints, foreign keys from or to
the table, materialized views or SQL-standard function bodies bound to it, row triggers with transition
tables. Column-level grants, publications and table storage parameters are not carried over (reported).

**pg_partman or our own?** Our own. pg_partman (Debian postgresql-15-partman) would do the ahead/retention
part, but managed PostgreSQL services often do not offer it, it needs its background worker or a cron
calling `run_maintenance()`, and it does not convert a live table without a write outage
(`partition_data_proc` moves rows out of the default partition under lock). What we need — create the
next few ranges, drop those past retention — is a few catalog queries run by `atlas4d db maintain`
(a Kubernetes CronJob or `atlas4d serve`), serialised with an advisory lock.

**TimescaleDB**: when the extension exists migration 0001 already made the table a hypertable (chunks
by time); `partition` then only reports that. With the extension installed later, `partition` calls
`create_hypertable(…, migrate_data => true)` instead of the conversion above (not online: it locks the table
while moving rows). `maintain` adds TimescaleDB's own retention policy (`add_retention_policy`). Untested
here: TimescaleDB is not installable on the development machines.
"""

from __future__ import annotations

from atlas4d.db.partition.catalog import (
    INTERVALS,
    MAINTAIN_LOCK_KEY,
    Duration,
    Interval,
    PartitionError,
    PartitionInfo,
    kind,
    partitions,
    planned_ranges,
)
from atlas4d.db.partition.conversion import ConversionReport, abandon, convert
from atlas4d.db.partition.maintenance import MaintainReport, maintain, run_periodically

__all__ = [
    "INTERVALS",
    "MAINTAIN_LOCK_KEY",
    "ConversionReport",
    "Duration",
    "Interval",
    "MaintainReport",
    "PartitionError",
    "PartitionInfo",
    "abandon",
    "convert",
    "kind",
    "maintain",
    "partitions",
    "planned_ranges",
    "run_periodically",
]
