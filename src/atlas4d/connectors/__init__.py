"""Ingest connectors: `atlas4d connect mqtt|nats|kafka` workers feeding the mutation's ingest step.

`worker` is the loop every broker shares (batch, validate, store once, dead-letter, acknowledge after the
commit); `messages` validates with the mutation's rules; `store` writes through idempotency keys and
`atlas4d.core.ingest`; `metrics` holds the Prometheus counters; one `*_source` module per broker.
See docs/connectors.md.
"""
