"""Root query and mutation resolvers of the core subgraph."""
