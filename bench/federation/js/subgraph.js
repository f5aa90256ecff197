// A fast benchmark subgraph: graphql-yoga serving an @apollo/subgraph schema, on 127.0.0.1.
// Usage: node subgraph.js products|inventory [PORT]; prints {"url": ...} on stdout once listening.
//   products:  Query.items(first) -> [Item] (id name price category), Item @key(fields: "id")
//   inventory: Item @key(fields: "id") { inStock } (the "one field from a second subgraph")
const { createServer } = require("http");
const { parse } = require("graphql");
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { createYoga } = require("graphql-yoga");

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])\n';
const ITEMS = Array.from({ length: 1000 }, (_, n) => ({
  id: String(n),
  name: `item ${n}`,
  price: n * 1.25,
  category: `c${n % 7}`,
}));

const SUBGRAPHS = {
  products: {
    typeDefs: `${LINK}
      type Query { items(first: Int! = 100): [Item!]! }
      type Item @key(fields: "id") { id: ID! name: String! price: Float! category: String! }`,
    resolvers: {
      Query: { items: (_, { first }) => ITEMS.slice(0, Math.max(0, first)) },
      Item: { __resolveReference: ({ id }) => ITEMS[Number(id)] },
    },
  },
  inventory: {
    typeDefs: `${LINK}
      type Item @key(fields: "id") { id: ID! inStock: Boolean! }`,
    resolvers: {
      Item: {
        __resolveReference: ({ id }) => ({ id }),
        inStock: ({ id }) => Number(id) % 3 !== 0,
      },
    },
  },
};

const name = process.argv[2];
const port = Number(process.argv[3] || 0);
const spec = SUBGRAPHS[name];
if (!spec) {
  process.stderr.write(`unknown subgraph ${name}; one of ${Object.keys(SUBGRAPHS).join(", ")}\n`);
  process.exit(2);
}
const schema = buildSubgraphSchema([{ typeDefs: parse(spec.typeDefs), resolvers: spec.resolvers }]);
const yoga = createYoga({ schema, graphiql: false, logging: false, landingPage: false });
const server = createServer(yoga);
server.keepAliveTimeout = 60_000;
server.listen(port, "127.0.0.1", () => {
  const url = `http://127.0.0.1:${server.address().port}/graphql`;
  process.stdout.write(JSON.stringify({ url }) + "\n");
});
