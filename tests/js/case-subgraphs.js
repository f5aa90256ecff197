// Serves the subgraphs of every federation case in tests/js/fed-cases on one port: POST /CASE/SUBGRAPH.
// Each case module exports {name, subgraphs: {NAME: {typeDefs, resolvers}}, strict: {NAME: ["Type.field"]}}
// (or an array of them). Composes each case with @apollo/composition and prints one JSON line:
// {"url", "cases": {CASE: {"supergraphSdl" | "errors", "subgraphs": [NAME]}}}.
// Then answers JSON lines on stdin: {"cmd": "reset"}, {"cmd": "counts"} -> {CASE: {SUBGRAPH: n}},
// {"cmd": "strict", "on": bool}, {"cmd": "log", "case"} -> {"queries": [[SUBGRAPH, query], ...]}.
// Strict mode: a subgraph asked for a field its case lists under `strict` answers with an error instead —
// the field is one a cheaper plan gets elsewhere (the gateway called it for nothing).
const fs = require("fs");
const http = require("http");
const path = require("path");
const readline = require("readline");
const { composeServices } = require("@apollo/composition");
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { TypeInfo, getNamedType, graphql, parse, visit, visitWithTypeInfo } = require("graphql");

const cases = {};
for (const file of fs.readdirSync(path.join(__dirname, "fed-cases")).sort()) {
  if (!file.endsWith(".js")) continue;
  const exported = require(path.join(__dirname, "fed-cases", file));
  for (const c of Array.isArray(exported) ? exported : [exported]) {
    if (cases[c.name]) throw new Error(`duplicate case ${c.name}`);
    cases[c.name] = c;
  }
}

const served = {}; // "case/subgraph" -> {schema, forbidden: Set}
let counts = {};
let log = {};
let strict = false;

function requestedFields(schema, document) {
  const typeInfo = new TypeInfo(schema);
  const found = [];
  visit(document, visitWithTypeInfo(typeInfo, {
    Field() {
      const parent = typeInfo.getParentType();
      if (parent) found.push(`${getNamedType(parent).name}.${typeInfo.getFieldDef() ? typeInfo.getFieldDef().name : "?"}`);
    },
  }));
  return found;
}

async function answer(key, body) {
  const [caseName, subgraph] = key.split("/");
  counts[caseName] = counts[caseName] || {};
  counts[caseName][subgraph] = (counts[caseName][subgraph] || 0) + 1;
  (log[caseName] = log[caseName] || []).push([subgraph, body.query, body.variables || {}]);
  const { schema, forbidden } = served[key];
  if (strict && forbidden.size) {
    let document;
    try { document = parse(body.query); } catch (e) { document = null; }
    const wasteful = document ? requestedFields(schema, document).filter((f) => forbidden.has(f)) : [];
    if (wasteful.length) {
      return { data: null, errors: [{ message: `strict subgraph ${subgraph}: asked for ${wasteful.join(", ")}, which a cheaper plan gets elsewhere`, extensions: { code: "STRICT_SUBGRAPH" } }] };
    }
  }
  return graphql({ schema, source: body.query, variableValues: body.variables, operationName: body.operationName, contextValue: {} });
}

async function main() {
  const server = http.createServer((req, res) => {
    const key = req.url.replace(/^\//, "").replace(/\/$/, "");
    if (req.method !== "POST" || !served[key]) { res.writeHead(404); res.end(); return; }
    let raw = "";
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", async () => {
      let result;
      try { result = await answer(key, JSON.parse(raw)); } catch (e) { result = { errors: [{ message: String(e) }] }; }
      const text = JSON.stringify(result);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.keepAliveTimeout = 300000;
  await new Promise((resolve) => server.listen(Number(process.argv[2] || 0), "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  const out = {};
  for (const [name, c] of Object.entries(cases)) {
    const services = [];
    for (const [sub, def] of Object.entries(c.subgraphs)) {
      const typeDefs = parse(def.typeDefs);
      served[`${name}/${sub}`] = {
        schema: buildSubgraphSchema({ typeDefs, resolvers: def.resolvers || {} }),
        forbidden: new Set((c.strict || {})[sub] || []),
      };
      services.push({ name: sub, url: `${base}/${name}/${sub}`, typeDefs });
    }
    const composed = composeServices(services);
    out[name] = composed.errors
      ? { errors: composed.errors.map((e) => ({ code: e.extensions && e.extensions.code, message: e.message })) }
      : { supergraphSdl: composed.supergraphSdl };
    out[name].subgraphs = Object.keys(c.subgraphs);
  }
  process.stdout.write(JSON.stringify({ url: base, cases: out }) + "\n");
  const lines = readline.createInterface({ input: process.stdin });
  lines.on("close", () => process.exit(0)); // the test process is gone: nothing left to serve
  lines.on("line", (line) => {
    if (!line.trim()) return;
    const command = JSON.parse(line);
    let reply = {};
    if (command.cmd === "reset") { counts = {}; log = {}; }
    else if (command.cmd === "counts") reply = counts;
    else if (command.cmd === "strict") strict = Boolean(command.on);
    else if (command.cmd === "log") reply = { queries: log[command.case] || [] };
    process.stdout.write(JSON.stringify(reply) + "\n");
  });
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
