// Hive Gateway as the benchmark runs it: upstream in-flight request deduplication off, so that every client
// request costs its subgraph fetches as it does in the other gateways (the load generator repeats one query).
module.exports.gatewayConfig = {
  logging: "warn",
  transportEntries: { "*.http": { options: { deduplicateInflightRequests: false } } },
};
