// Classes F (one @requires field with two argument sets), G (runtime objects of an @inaccessible type),
// H (abstract types whose members differ per subgraph), I (@provides in the cost), J (a value type split across
// subgraphs under an entity), K (no greedy dead ends: other keys and other subgraphs are tried).
const LINK = (imports, version = "2.7") =>
  `extend schema @link(url: "https://specs.apollo.dev/federation/v${version}", import: ${JSON.stringify(imports)})`;

function need(value, what) {
  if (value === undefined || value === null) throw new Error(`representation without ${what}`);
  return value;
}

const rates = { USD: 1, EUR: 0.9 };
const products = [{ upc: "1", price: 100 }, { upc: "2", price: 250 }];

module.exports = [
  {
    // b requires price(currency: "USD") for usdLabel and price(currency: "EUR") for eurLabel: one representation
    // carries `price` once, so each needs its own.
    name: "f-requires-two-argument-sets",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Query { products: [Product!]! }
          type Product @key(fields: "upc") { upc: ID! price(currency: String!): Float! @shareable }`,
        resolvers: {
          Query: { products: () => products },
          Product: { price: (p, { currency }) => p.price * rates[currency] },
        },
      },
      b: {
        typeDefs: `${LINK(["@key", "@external", "@requires"])}
          type Product @key(fields: "upc") {
            upc: ID!
            price(currency: String!): Float! @external
            usdLabel: String! @requires(fields: "price(currency: \\"USD\\")")
            eurLabel: String! @requires(fields: "price(currency: \\"EUR\\")")
          }`,
        resolvers: {
          Product: {
            __resolveReference: (r) => r,
            usdLabel: (p) => `$${need(p.price, "price")}`,
            eurLabel: (p) => `${need(p.price, "price")} EUR`,
          },
        },
      },
    },
  },
  {
    // Secret implements Node in a but is @inaccessible: clients cannot know the type.
    name: "g-inaccessible-runtime-type",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@inaccessible"])}
          type Query { nodes: [Node] node(id: ID!): Node! }
          interface Node { id: ID! }
          type Post implements Node @key(fields: "id") { id: ID! title: String }
          type Secret implements Node @inaccessible { id: ID! code: String }`,
        resolvers: {
          Query: {
            nodes: () => [{ __typename: "Post", id: "p1", title: "Hello" }, { __typename: "Secret", id: "s1", code: "x" }],
            node: (_, { id }) => (id === "s1" ? { __typename: "Secret", id, code: "x" } : { __typename: "Post", id, title: "Hello" }),
          },
          Node: { __resolveType: (n) => n.__typename },
        },
      },
    },
  },
  {
    // `results` is shareable; a returns Book | Movie, b returns Book | Song for the same union Media.
    name: "h-members-differ-per-subgraph",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@shareable"])}
          type Query { results: [Media!]! @shareable }
          union Media = Book | Movie
          type Book @shareable { title: String! }
          type Movie { title: String! minutes: Int! }`,
        resolvers: {
          Query: { results: () => [{ __typename: "Book", title: "Dune" }, { __typename: "Movie", title: "Alien", minutes: 117 }] },
          Media: { __resolveType: (m) => m.__typename },
        },
      },
      b: {
        typeDefs: `${LINK(["@shareable"])}
          type Query { results: [Media!]! @shareable }
          union Media = Book | Song
          type Book @shareable { title: String! }
          type Song { title: String! }`,
        resolvers: {
          Query: { results: () => [{ __typename: "Book", title: "Dune" }, { __typename: "Song", title: "Ode" }] },
          Media: { __resolveType: (m) => m.__typename },
        },
      },
    },
  },
  {
    // reviews provides author { username } and the Book member of mentions: accounts and books are not needed.
    name: "i-provides-in-the-cost",
    subgraphs: {
      accounts: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type User @key(fields: "id") { id: ID! username: String! @shareable email: String! }`,
        resolvers: { User: { __resolveReference: (r) => ({ id: r.id, username: `user-${r.id}`, email: `${r.id}@x.org` }) } },
      },
      books: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Book @key(fields: "id") { id: ID! title: String! @shareable year: Int! }`,
        resolvers: { Book: { __resolveReference: (r) => ({ id: r.id, title: `Book ${r.id}`, year: 1965 }) } },
      },
      reviews: {
        typeDefs: `${LINK(["@key", "@shareable", "@external", "@provides"])}
          type Query { reviews: [Review!]! }
          type Review {
            id: ID!
            author: User! @provides(fields: "username")
            mentions: [Mention!]! @provides(fields: "... on Book { title }")
          }
          union Mention = Book | Movie
          type User @key(fields: "id") { id: ID! username: String! @external }
          type Book @key(fields: "id") { id: ID! title: String! @external }
          type Movie { id: ID! name: String! }`,
        resolvers: {
          Query: {
            reviews: () => [
              { id: "r1", author: { id: "u1", username: "user-u1" }, mentions: [{ __typename: "Book", id: "b1", title: "Book b1" }, { __typename: "Movie", id: "m1", name: "Alien" }] },
            ],
          },
          Mention: { __resolveType: (m) => m.__typename },
        },
      },
    },
    strict: { accounts: ["User.username"], books: ["Book.title"] },
  },
  {
    // Product.dims is a value type: size comes from a, weight only from b.
    name: "j-value-type-split",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Query { products: [Product!]! }
          type Product @key(fields: "id") { id: ID! dims: Dims @shareable }
          type Dims @shareable { size: String }`,
        resolvers: {
          Query: { products: () => [{ id: "1" }, { id: "2" }] },
          Product: { dims: (p) => ({ size: p.id === "1" ? "S" : "L" }) },
        },
      },
      b: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Product @key(fields: "id") { id: ID! dims: Dims @shareable }
          type Dims @shareable { weight: Float }`,
        resolvers: { Product: { __resolveReference: (r) => r, dims: (p) => ({ weight: Number(p.id) * 1.5 }) } },
      },
    },
  },
  {
    // c knows Item by `sku` only and a returns only `id`; b knows both keys: a -> b (sku) -> c. The first key
    // of Item in c is one a cannot give; `owner` is resolved by d and c, and only c can be reached.
    name: "k-other-keys-and-subgraphs",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key"])}
          type Query { items: [Item!]! }
          type Item @key(fields: "id") { id: ID! }`,
        resolvers: { Query: { items: () => [{ id: "1" }, { id: "2" }] } },
      },
      b: {
        typeDefs: `${LINK(["@key"])}
          type Item @key(fields: "id") @key(fields: "sku") { id: ID! sku: String! }`,
        resolvers: { Item: { __resolveReference: (r) => ({ id: r.id || r.sku.slice(4), sku: r.sku || `sku-${r.id}` }) } },
      },
      c: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Item @key(fields: "ean") @key(fields: "sku") { ean: String! sku: String! stock: Int! owner: String @shareable }`,
        resolvers: {
          Item: {
            __resolveReference: (r) => ({ sku: need(r.sku, "sku"), ean: `ean-${r.sku}`, stock: Number(r.sku.slice(4)) * 7 }),
            owner: () => "c",
          },
        },
      },
      d: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Item @key(fields: "ean") { ean: String! owner: String @shareable }`,
        resolvers: { Item: { __resolveReference: (r) => ({ ean: r.ean }), owner: () => "d" } },
      },
    },
    // c is needed for stock anyway: asking d for owner would cost a fetch more
    strict: { d: ["Item.owner"] },
  },
  {
    // One @requires with inputs from two subgraphs must not hold back fetches that need nothing from it.
    name: "k-requires-does-not-stall",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key"])}
          type Query { orders: [Order!]! }
          type Order @key(fields: "id") { id: ID! weight: Int! }`,
        resolvers: { Query: { orders: () => [{ id: "o1", weight: 3 }, { id: "o2", weight: 5 }] } },
      },
      b: {
        typeDefs: `${LINK(["@key"])}
          type Order @key(fields: "id") { id: ID! zone: Int! }`,
        resolvers: { Order: { __resolveReference: (r) => ({ id: r.id, zone: r.id === "o1" ? 1 : 2 }) } },
      },
      c: {
        typeDefs: `${LINK(["@key", "@external", "@requires"])}
          type Order @key(fields: "id") {
            id: ID! weight: Int! @external zone: Int! @external
            shipping: Int! @requires(fields: "weight zone")
          }`,
        resolvers: { Order: { __resolveReference: (r) => r, shipping: (o) => need(o.weight, "weight") * need(o.zone, "zone") } },
      },
      d: {
        typeDefs: `${LINK(["@key"])}
          type Order @key(fields: "id") { id: ID! status: String! }`,
        resolvers: { Order: { __resolveReference: (r) => ({ id: r.id, status: "paid" }) } },
      },
    },
  },
];
