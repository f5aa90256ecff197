// Run graphql-http's server audits (the GraphQL-over-HTTP spec's MUST/SHOULD/MAY checks) against a URL.
// Usage: node http-audit.js URL; prints [{id, name, status, reason}] as JSON (status: ok | warn | error | notice).
const { serverAudits } = require("graphql-http");

async function main() {
  const url = process.argv[2];
  const results = [];
  for (const audit of serverAudits({ url, fetchFn: fetch })) {
    const result = await audit.fn();
    results.push({ id: result.id, name: result.name, status: result.status, reason: result.reason || null });
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
