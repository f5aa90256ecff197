// Classes B (one response key, two types), C (fragments impossible in the target subgraph), D (a path through
// the nearest entity ancestor) and E (selections no subgraph can serve: refused at planning).
const LINK = (imports, version = "2.7") =>
  `extend schema @link(url: "https://specs.apollo.dev/federation/v${version}", import: ${JSON.stringify(imports)})`;

const users = { u1: { __typename: "User", id: "u1", name: "Ada" } };
const admins = { a1: { __typename: "Admin", id: "a1", name: "Root" } };

module.exports = [
  {
    // User.id is ID!, Admin.id is ID: `... on User { id } ... on Admin { id }` cannot go to b unaliased.
    name: "b-same-key-different-types",
    subgraphs: {
      a: {
        // a's User.id is nullable, so the supergraph's is too: the client's fragments agree, b's do not
        typeDefs: `${LINK(["@shareable"])}
          type Query { users: [User!]! }
          type User { id: ID @shareable }`,
        resolvers: { Query: { users: () => Object.values(users) } },
      },
      b: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Query { accounts: [Account!]! }
          union Account = User | Admin
          type User @key(fields: "id") { id: ID! name: String similar: [Account!]! }
          type Admin { id: ID name: String similar: [Account!]! }`,
        resolvers: {
          Query: { accounts: () => [...Object.values(users), ...Object.values(admins)] },
          User: { __resolveReference: (r) => users[r.id], similar: () => [...Object.values(users), ...Object.values(admins)] },
          Admin: { similar: () => [...Object.values(admins), ...Object.values(users)] },
        },
      },
    },
  },
  {
    // `media` is Media (Book | Song) in a but Book in b: a fragment on Song must not be sent to b, which serves
    // the whole selection alone.
    name: "c-impossible-fragment",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Shelf @key(fields: "id") { id: ID! media: Media @shareable }
          union Media = Book | Song
          type Book { title: String! @shareable }
          type Song { title: String! length: Int! }`,
        resolvers: {
          Shelf: { __resolveReference: (r) => r, media: () => ({ __typename: "Book", title: "Dune" }) },
          Media: { __resolveType: (m) => m.__typename },
        },
      },
      b: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Query { shelf: Shelf }
          type Shelf @key(fields: "id") { id: ID! media: Book @shareable owner: String }
          type Book { title: String! @shareable }`,
        resolvers: {
          Query: { shelf: () => ({ id: "s1" }) },
          Shelf: { __resolveReference: (r) => r, media: () => ({ title: "Dune" }), owner: () => "Ann" },
        },
      },
    },
    strict: { a: ["Shelf.media"] },
  },
  {
    // Category.details is only in c, and Category has no key: c is reached through Product, its entity parent.
    name: "d-entity-ancestor",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Query { products: [Product!]! }
          type Product @key(fields: "id pid") { id: ID! pid: ID! category: Category @shareable }
          type Category @shareable { id: ID! name: String }`,
        resolvers: {
          Query: { products: () => [{ id: "1", pid: "p1" }, { id: "2", pid: "p2" }] },
          Product: { category: (p) => ({ id: `c${p.id}`, name: `Category ${p.id}` }) },
        },
      },
      c: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Product @key(fields: "id pid") { id: ID! pid: ID! category: Category @shareable }
          type Category @shareable { id: ID! details: String }`,
        resolvers: {
          Product: {
            __resolveReference: (r) => r,
            category: (p) => ({ id: `c${p.id}`, details: `details of ${p.pid}` }),
          },
        },
      },
    },
  },
  {
    // Chat.id is @external in a (no @provides), Account.id in b: `node { id }` has no subgraph that can
    // serve it for both types. The supergraph composes; the operation must be refused, not answered.
    name: "e-external-without-provides",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@shareable", "@external"])}
          type Query { node(id: ID!): Node @shareable }
          interface Node { id: ID! }
          type Account implements Node @key(fields: "id") { id: ID! username: String! }
          type Chat implements Node @key(fields: "id") { id: ID! @external account: Account! }`,
        resolvers: {
          Query: { node: (_, { id }) => (id.startsWith("a") ? { __typename: "Account", id, username: "ada" } : { __typename: "Chat", id: "never" }) },
          Node: { __resolveType: (n) => n.__typename },
          Chat: { account: () => ({ id: "a1", username: "ada" }) },
        },
      },
      b: {
        typeDefs: `${LINK(["@key", "@shareable", "@external"])}
          type Query { node(id: ID!): Node @shareable }
          interface Node { id: ID! }
          type Account implements Node @key(fields: "id") { id: ID! @external chats: [Chat!]! }
          type Chat implements Node @key(fields: "id") { id: ID! text: String! }`,
        resolvers: {
          Query: { node: (_, { id }) => (id.startsWith("a") ? { __typename: "Account", id: "never" } : { __typename: "Chat", id, text: "hi" }) },
          Node: { __resolveType: (n) => n.__typename },
          Chat: { __resolveReference: (r) => ({ id: r.id, text: "hi" }) },
        },
      },
    },
  },
  {
    // Node.note lives only in b, where Node is an @interfaceObject with a `resolvable: false` key, and a's
    // Node has no implementation to jump from: `node { note }` has no way there.
    name: "e-resolvable-false",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@interfaceObject"], "2.3")}
          interface Node @key(fields: "id") { id: ID! }
          type Product @key(fields: "id", resolvable: false) @interfaceObject { id: ID! }
          type Query { node: Node product: Product! }`,
        resolvers: { Query: { node: () => ({ __typename: "Node", id: "n1" }), product: () => ({ id: "p1" }) } },
      },
      b: {
        typeDefs: `${LINK(["@key", "@interfaceObject"], "2.3")}
          type Node @key(fields: "id", resolvable: false) @interfaceObject { id: ID! note: String }
          interface Product @key(fields: "id") { id: ID! }
          type Bread implements Product @key(fields: "id") { id: ID! name: String! }
          type Query { other: Node }`,
        resolvers: {
          Query: { other: () => ({ id: "n2", note: "from b" }) },
          Product: { __resolveReference: (r) => ({ __typename: "Bread", id: r.id, name: "rye" }) },
        },
      },
    },
  },
];
