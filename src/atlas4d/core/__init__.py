"""The core subgraph: entities, observations and tracks on PostGIS."""
