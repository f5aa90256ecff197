// Class M: errors. An entity whose field fails is reported at every path it appears at, also when the gateway
// sent its representation once (de-duplicated).
const LINK = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ["@key"])`;

const posts = [{ id: "p1", authorId: "a1" }, { id: "p2", authorId: "a2" }, { id: "p3", authorId: "a1" }];

module.exports = [
  {
    name: "m-deduplicated-entity-errors",
    subgraphs: {
      a: {
        typeDefs: `${LINK}
          type Query { posts: [Post!]! }
          type Post @key(fields: "id") { id: ID! author: Author! }
          type Author @key(fields: "id") { id: ID! }`,
        resolvers: { Query: { posts: () => posts }, Post: { author: (p) => ({ id: p.authorId }) } },
      },
      b: {
        typeDefs: `${LINK}
          type Author @key(fields: "id") { id: ID! name: String! flaky: String }`,
        resolvers: {
          Author: {
            __resolveReference: (r) => r,
            name: (author) => `name of ${author.id}`,
            flaky: (author) => {
              if (author.id === "a1") throw new Error(`flaky failed for ${author.id}`);
              return `fine ${author.id}`;
            },
          },
        },
      },
    },
  },
];
