// A Federation 2 subgraph built with @apollo/subgraph, used by the scenario matrix.
// Usage: node accounts-subgraph.js [PORT]; prints {"url": ...} once listening, then answers "count" and
// "reset" lines on stdin with {"requests": N} (GraphQL requests served since the last reset).
const { ApolloServer } = require("@apollo/server");
const { ApolloServerPluginInlineTraceDisabled } = require("@apollo/server/plugin/disabled");
const { startStandaloneServer } = require("@apollo/server/standalone");
const { buildSubgraphSchema } = require("@apollo/subgraph");
const { parse } = require("graphql");

const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.7",
    import: ["@key", "@shareable", "@inaccessible"])

  type User @key(fields: "id") @key(fields: "email") {
    id: ID!
    email: String!
    username: String @shareable
    name: String
    account: Account
  }

  interface Account @key(fields: "id") {
    id: ID!
    owner: String
  }

  type PersonalAccount implements Account @key(fields: "id") {
    id: ID!
    owner: String
    nickname: String
  }

  type BusinessAccount implements Account @key(fields: "id") {
    id: ID!
    owner: String
    company: String
  }

  type Query {
    me: User
    users: [User!]!
    accounts: [Account!]!
  }
`);

const users = [
  { id: "u1", email: "ada@example.org", username: "ada", name: "Ada Lovelace", accountId: "a1" },
  { id: "u2", email: "alan@example.org", username: "alan", name: "Alan Turing", accountId: "a2" },
  { id: "u3", email: "grace@example.org", username: "grace", name: "Grace Hopper", accountId: "a3" },
];
const accounts = {
  a1: { __typename: "PersonalAccount", id: "a1", owner: "Ada", nickname: "countess" },
  a2: { __typename: "BusinessAccount", id: "a2", owner: "Alan", company: "Bletchley" },
  a3: { __typename: "BusinessAccount", id: "a3", owner: "Grace", company: "Navy" },
};
let requests = 0;

const resolvers = {
  Query: {
    me: () => users[0],
    users: () => users,
    accounts: () => Object.values(accounts),
  },
  User: {
    __resolveReference: (ref) => users.find((u) => (ref.id ? u.id === ref.id : u.email === ref.email)) || null,
    account: (user) => accounts[user.accountId],
  },
  Account: {
    __resolveReference: (ref) => accounts[ref.id] || null,
    __resolveType: (account) => account.__typename,
  },
  PersonalAccount: { __resolveReference: (ref) => accounts[ref.id] || null },
  BusinessAccount: { __resolveReference: (ref) => accounts[ref.id] || null },
};

async function main() {
  const port = Number(process.argv[2] || 0);
  const server = new ApolloServer({
    schema: buildSubgraphSchema({ typeDefs, resolvers }),
    plugins: [ApolloServerPluginInlineTraceDisabled(), { async requestDidStart() { requests += 1; } }],
  });
  const { url } = await startStandaloneServer(server, {
    listen: { host: "127.0.0.1", port },
  });
  process.stdout.write(JSON.stringify({ url: url.replace(/\/$/, "") + "/graphql" }) + "\n");
  process.stdin.on("data", (chunk) => {
    // Line protocol on stdin: "count" prints the request count, "reset" zeroes it.
    for (const line of chunk.toString().split("\n")) {
      if (line.trim() === "count") process.stdout.write(JSON.stringify({ requests }) + "\n");
      if (line.trim() === "reset") { requests = 0; process.stdout.write(JSON.stringify({ requests }) + "\n"); }
    }
  });
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
