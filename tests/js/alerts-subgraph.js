// A Federation 2 subgraph in JS (@apollo/subgraph schema, graphql-http over HTTP, graphql-ws for subscriptions on
// the same /graphql path), used by tests/streaming/test_gateway_remote_subscriptions.py: it owns a subscription
// root field whose events reference core's entities, and contributes a field to them.
// Usage: node alerts-subgraph.js [PORT]; prints {"url": ...} once listening, then answers lines on stdin:
//   emit ENTITY_ID MESSAGE  -> an alertRaised event to every subscriber: {"delivered": N}
//   count                   -> {"requests": HTTP GraphQL requests, "sockets": open WebSockets,
//                               "subscriptions": running ones, "init": last connection_init payload,
//                               "secret": last upgrade's x-atlas4d-subgraph-secret header,
//                               "authorization": last HTTP request's Authorization header}
//   reset                   -> zero the request count
//   burst COUNT PER_SECOND ENTITY_ID -> COUNT events at that pace, message = emit time in ms (benchmarks)
//   fail on|off             -> Entity.riskScore raises (or not): {"failing": bool}
//   drop                    -> terminate every WebSocket (as a crash would): {"dropped": N}
const http = require("http");
const readline = require("readline");
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { parse } = require("graphql");
const { createHandler } = require("graphql-http/lib/use/http");
const { WebSocketServer } = require("ws");
const { useServer } = require("graphql-ws/use/ws");

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])

  type Entity @key(fields: "id") {
    id: ID!
    riskScore: Float
  }

  type Alert {
    id: ID!
    message: String!
    entity: Entity!
  }

  type Query {
    alertsRaised: Int!
  }

  type Subscription {
    alertRaised: Alert!
  }
`);

// one queue of pending events per running subscription
const listeners = new Set();
let raised = 0;
let requests = 0;
let lastInit = null;
let lastSecret = null;
let lastAuthorization = null;
let failing = false; // `fail on`: riskScore raises (an entity fetch answering with errors)

function subscribe() {
  const queue = [];
  let wake = null;
  const listener = (event) => {
    queue.push(event);
    if (wake) wake();
  };
  listeners.add(listener);
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      while (queue.length === 0) await new Promise((resolve) => (wake = resolve));
      return { value: { alertRaised: queue.shift() }, done: false };
    },
    async return() {
      listeners.delete(listener);
      return { value: undefined, done: true };
    },
  };
}

const riskOf = (id) => (id.charCodeAt(0) % 10) / 10;

const resolvers = {
  Query: { alertsRaised: () => raised },
  Subscription: { alertRaised: { subscribe } },
  Entity: {
    __resolveReference: (ref) => ({ id: ref.id }),
    riskScore: (entity) => {
      if (failing) throw new Error("risk model offline");
      return riskOf(entity.id);
    },
  },
};

const schema = buildSubgraphSchema({ typeDefs, resolvers });
const handler = createHandler({ schema });
const server = http.createServer((req, res) => {
  if (req.url.startsWith("/graphql")) {
    requests += 1;
    lastAuthorization = req.headers.authorization || null;
    handler(req, res);
  } else {
    res.writeHead(404).end();
  }
});
const wss = new WebSocketServer({ server, path: "/graphql" });
wss.on("connection", (_socket, request) => {
  lastSecret = request.headers["x-atlas4d-subgraph-secret"] || null;
});
useServer(
  {
    schema,
    onConnect: (ctx) => {
      lastInit = ctx.connectionParams || {};
      return true;
    },
  },
  wss,
);

server.listen(Number(process.argv[2] || 0), "127.0.0.1", () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${server.address().port}/graphql` }));
});

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const [command, ...rest] = line.trim().split(" ");
  let answer;
  if (command === "emit") {
    raised += 1;
    const event = { id: `a${raised}`, message: rest.slice(1).join(" "), entity: { id: rest[0] } };
    for (const listener of listeners) listener(event);
    answer = { delivered: listeners.size };
  } else if (command === "count") {
    answer = {
      requests,
      sockets: wss.clients.size,
      subscriptions: listeners.size,
      init: lastInit,
      secret: lastSecret,
      authorization: lastAuthorization,
    };
  } else if (command === "reset") {
    requests = 0;
    answer = { requests };
  } else if (command === "burst") {
    // burst COUNT PER_SECOND ENTITY: COUNT events at that pace, each message the emit time (ms, for latency)
    const [count, perSecond, entity] = [Number(rest[0]), Number(rest[1]), rest[2]];
    let sent = 0;
    const perTick = Math.max(1, Math.round(perSecond / 100));
    const timer = setInterval(() => {
      for (let i = 0; i < perTick && sent < count; i += 1, sent += 1) {
        raised += 1;
        const event = { id: `a${raised}`, message: String(Date.now()), entity: { id: entity } };
        for (const listener of listeners) listener(event);
      }
      if (sent >= count) clearInterval(timer);
    }, 10);
    answer = { started: count };
  } else if (command === "fail") {
    failing = rest[0] === "on";
    answer = { failing };
  } else if (command === "drop") {
    const dropped = wss.clients.size;
    for (const socket of wss.clients) socket.terminate();
    answer = { dropped };
  } else {
    answer = { error: `unknown command ${command}` };
  }
  console.log(JSON.stringify(answer));
});
