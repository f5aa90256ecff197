"""HTTP plumbing shared by the servers: GraphQL over HTTP, limits, error formatting."""
