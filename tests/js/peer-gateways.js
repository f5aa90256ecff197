// @apollo/gateway and Hive Gateway (@graphql-hive/gateway) in one process, each over any number of
// supergraphs, driven by JSON lines on stdin (no HTTP in front of them: the request pipeline runs in-process,
// subgraphs are called over HTTP as usual). Prints {"ready": true}, then answers
// {"cmd": "load", "name", "supergraph"} -> {"ok": true} and
// {"cmd": "query", "gateway": "apollo" | "hive", "name", "query", "variables"} -> {"response": {...}}.
const readline = require("readline");
const { ApolloServer } = require("@apollo/server");
const { ApolloGateway, RemoteGraphQLDataSource } = require("@apollo/gateway");
const { ApolloServerPluginInlineTraceDisabled } = require("@apollo/server/plugin/disabled");
const { createGatewayRuntime } = require("@graphql-hive/gateway");

const apollo = {};
const hive = {};

// A supergraph a peer refuses to load is remembered: its queries answer {"refused": message}.
async function load(name, supergraphSdl) {
  const gateway = new ApolloGateway({ supergraphSdl, buildService: ({ url }) => new RemoteGraphQLDataSource({ url }) });
  const server = new ApolloServer({
    gateway,
    includeStacktraceInErrorResponses: false,
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  try {
    await server.start();
    apollo[name] = server;
  } catch (e) {
    apollo[name] = { refused: String(e && e.message ? e.message : e).split("\n")[0] };
  }
  try {
    hive[name] = createGatewayRuntime({ supergraph: supergraphSdl, logging: false });
  } catch (e) {
    hive[name] = { refused: String(e && e.message ? e.message : e).split("\n")[0] };
  }
}

async function query(gateway, name, text, variables) {
  const peer = (gateway === "apollo" ? apollo : hive)[name];
  if (peer.refused) return { refused: peer.refused };
  if (gateway === "apollo") {
    const response = await apollo[name].executeOperation({ query: text, variables: variables || {} });
    return response.body.kind === "single" ? response.body.singleResult : { errors: [{ message: "incremental" }] };
  }
  const response = await hive[name].fetch("http://localhost/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json" },
    body: JSON.stringify({ query: text, variables: variables || {} }),
  });
  return JSON.parse(await response.text());
}

async function handle(command) {
  if (command.cmd === "load") { await load(command.name, command.supergraph); return { ok: true }; }
  if (command.cmd === "query") return { response: await query(command.gateway, command.name, command.query, command.variables) };
  return { error: `unknown command ${command.cmd}` };
}

// A peer's failure is an answer to compare, never the end of this process.
process.on("unhandledRejection", (err) => process.stderr.write(`unhandled: ${err && err.stack ? err.stack : err}\n`));
process.on("uncaughtException", (err) => process.stderr.write(`uncaught: ${err && err.stack ? err.stack : err}\n`));
process.stdout.write(JSON.stringify({ ready: true, url: "" }) + "\n");
let chain = Promise.resolve();
const lines = readline.createInterface({ input: process.stdin });
lines.on("close", () => chain.then(() => process.exit(0))); // the test process is gone
lines.on("line", (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let reply;
    try { reply = await handle(JSON.parse(line)); } catch (e) { reply = { error: String(e && e.stack ? e.stack : e) }; }
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
});
