// Run-time semantics of the directives composition carries into the supergraph: progressive
// @override(label:) and @context / @fromContext.
const LINK = (imports, version = "2.8") =>
  `extend schema @link(url: "https://specs.apollo.dev/federation/v${version}", import: ${JSON.stringify(imports)})`;

const products = [{ id: "1" }, { id: "2" }];

module.exports = [
  {
    // b takes Product.price over from a progressively: under label "percent(0)" / "beta" a keeps it until the
    // label is on, b has it once it is.
    name: "override-progressive",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key"])}
          type Query { products: [Product!]! }
          type Product @key(fields: "id") { id: ID! price: Int! stock: Int! }`,
        resolvers: {
          Query: { products: () => products },
          Product: { __resolveReference: (r) => r, price: () => 10, stock: () => 100 },
        },
      },
      b: {
        typeDefs: `${LINK(["@key", "@override"])}
          type Product @key(fields: "id") {
            id: ID!
            price: Int! @override(from: "a", label: "beta")
            stock: Int! @override(from: "a", label: "percent(100)")
          }`,
        resolvers: { Product: { __resolveReference: (r) => r, price: () => 20, stock: () => 200 } },
      },
    },
  },
  {
    // U.field's argument comes from the nearest T above it (@context "ctx" on T, selecting T.prop).
    name: "context-from-ancestor",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@context", "@fromContext"])}
          type Query { ts: [T!]! }
          type T @key(fields: "id") @context(name: "ctx") { id: ID! prop: String! u: U! }
          type U @key(fields: "id") {
            id: ID!
            field(a: String @fromContext(field: "$ctx { prop }")): String!
          }`,
        resolvers: {
          Query: { ts: () => [{ id: "t1", prop: "red", uid: "u1" }, { id: "t2", prop: "blue", uid: "u1" }, { id: "t3", prop: "red", uid: "u2" }] },
          T: { u: (t) => ({ id: t.uid }) },
          U: { __resolveReference: (r) => r, field: (u, { a }) => `${u.id} in ${a}` },
        },
      },
      b: {
        typeDefs: `${LINK(["@key"])}
          type U @key(fields: "id") { id: ID! name: String! }`,
        resolvers: { U: { __resolveReference: (r) => ({ id: r.id, name: `name of ${r.id}` }) } },
      },
    },
  },
];
