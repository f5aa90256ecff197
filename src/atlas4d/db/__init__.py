"""Database access: the embedded cluster, the migrator and the connection pool."""
