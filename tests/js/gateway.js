// Serve @apollo/gateway over a supergraph file on 127.0.0.1 (port 0 = any free port).
// Usage: node gateway.js SUPERGRAPH_FILE [PORT]; prints {"url": ...} on stdout once listening.
const fs = require("fs");
const { ApolloServer } = require("@apollo/server");
const { ApolloServerPluginInlineTraceDisabled } = require("@apollo/server/plugin/disabled");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { ApolloGateway, RemoteGraphQLDataSource } = require("@apollo/gateway");

async function main() {
  const supergraphSdl = fs.readFileSync(process.argv[2], "utf8");
  const port = Number(process.argv[3] || 0);
  const gateway = new ApolloGateway({
    supergraphSdl,
    buildService: ({ url }) => new RemoteGraphQLDataSource({ url }),
  });
  const server = new ApolloServer({
    gateway,
    includeStacktraceInErrorResponses: false,
    introspection: true,
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  const { url } = await startStandaloneServer(server, { listen: { host: "127.0.0.1", port } });
  process.stdout.write(JSON.stringify({ url: url.replace(/\/$/, "") + "/graphql" }) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
