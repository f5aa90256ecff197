// Class A: a fetch that needs data another fetch supplies must wait for it (never run beside it).
// Resolvers that read representations refuse incomplete ones, so a wrong plan shows as an error, never as
// silently wrong data.
const LINK = (imports) => `extend schema @link(url: "https://specs.apollo.dev/federation/v2.7", import: ${JSON.stringify(imports)})`;

function need(value, what) {
  if (value === undefined || value === null) throw new Error(`representation without ${what}`);
  return value;
}

const authors = { a1: { id: "a1", yearsOfExperience: 1 }, a2: { id: "a2", yearsOfExperience: 9 } };
const posts = [{ id: "p1", authorId: "a1" }, { id: "p2", authorId: "a2" }, { id: "p3", authorId: "a1" }];
const comments = {
  p1: [{ id: "c1", authorId: "a2" }, { id: "c2", authorId: "a1" }, { id: "c3", authorId: "a2" }, { id: "c4", authorId: "a1" }],
  p2: [{ id: "c5", authorId: "a1" }],
  p3: [],
};
const commentAuthors = { c1: "a2", c2: "a1", c3: "a2", c4: "a1", c5: "a1" };

module.exports = [
  {
    // Post.byNovice (b) requires author { yearsOfExperience }: b resolves Post.author, only a knows the years.
    name: "a-requires-through-own-field",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key"])}
          type Author @key(fields: "id") { id: ID! yearsOfExperience: Int! }`,
        resolvers: { Author: { __resolveReference: (ref) => authors[ref.id] } },
      },
      b: {
        typeDefs: `${LINK(["@key", "@external", "@requires"])}
          type Query { posts: [Post!]! }
          type Post @key(fields: "id") {
            id: ID!
            author: Author!
            byNovice: Boolean! @requires(fields: "author { yearsOfExperience }")
          }
          type Author @key(fields: "id") { id: ID! yearsOfExperience: Int! @external }`,
        resolvers: {
          Query: { posts: () => posts },
          Post: {
            __resolveReference: (ref) => ({ ...posts.find((p) => p.id === ref.id), ...ref }),
            author: (post) => ({ id: post.authorId }),
            byNovice: (post) => need(post.author && post.author.yearsOfExperience, "author.yearsOfExperience") < 3,
          },
        },
      },
    },
  },
  {
    // Post.author (d) requires comments(limit: 3) { authorId }: comments are d's, authorId is c's.
    name: "a-requires-field-with-arguments",
    subgraphs: {
      c: {
        typeDefs: `${LINK(["@key"])}
          type Query { feed: [Post!]! }
          type Post @key(fields: "id") { id: ID! }
          type Comment @key(fields: "id") { id: ID! authorId: ID! }`,
        resolvers: {
          Query: { feed: () => posts.map((p) => ({ id: p.id })) },
          Comment: { __resolveReference: (ref) => ({ id: ref.id, authorId: commentAuthors[ref.id] }) },
        },
      },
      d: {
        typeDefs: `${LINK(["@key", "@external", "@requires"])}
          type Post @key(fields: "id") {
            id: ID!
            comments(limit: Int!): [Comment!]!
            topCommenter: String @requires(fields: "comments(limit: 3) { authorId }")
          }
          type Comment @key(fields: "id") { id: ID! authorId: ID! @external }`,
        resolvers: {
          Post: {
            __resolveReference: (ref) => ref,
            comments: (post, { limit }) => comments[post.id].slice(0, limit).map((c) => ({ id: c.id })),
            topCommenter: (post) => {
              const list = need(post.comments, "comments");
              if (list.length > 3) throw new Error("comments not limited to 3");
              const tally = {};
              for (const c of list) tally[need(c.authorId, "comments.authorId")] = (tally[c.authorId] || 0) + 1;
              return Object.entries(tally).sort((x, y) => y[1] - x[1])[0]?.[0] || null;
            },
          },
        },
      },
    },
  },
  {
    // Bundle is known by a compound key whose inner field (pid) comes from another fetch of the same step.
    name: "a-compound-key-from-another-fetch",
    subgraphs: {
      a: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Query { bundle: Bundle }
          type Bundle { products: [Product!]! @shareable }
          type Product @key(fields: "id") { id: ID! }`,
        resolvers: { Query: { bundle: () => ({ products: [{ id: "1" }, { id: "2" }] }) } },
      },
      b: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Product @key(fields: "id") { id: ID! pid: String! @shareable }`,
        resolvers: { Product: { __resolveReference: (ref) => ({ id: ref.id, pid: `pid-${ref.id}` }) } },
      },
      c: {
        typeDefs: `${LINK(["@key", "@shareable"])}
          type Bundle @key(fields: "products { id pid }") { products: [Product!]! @shareable price: Int! }
          type Product { id: ID! @shareable pid: String! @shareable }`,
        resolvers: {
          Bundle: {
            __resolveReference: (ref) => ref,
            price: (bundle) => bundle.products.reduce((sum, p) => sum + Number(need(p.pid, "products.pid").slice(4)) * 10, 0),
          },
        },
      },
    },
  },
];
