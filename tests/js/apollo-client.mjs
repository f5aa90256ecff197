// Apollo Client 4 against our server, as a browser app would use it; prints what it saw as one JSON line.
// Usage: node apollo-client.mjs URL MODE [MANIFEST]
//   errors:  a validation error and a bad variable; which error classes and codes reach the app
//   apq:     @apollo/client's PersistedQueryLink (APQ) over POST and over GET, each query run twice
//   trusted: PersistedQueryLink with ids from a persisted-query manifest (@apollo/persisted-query-lists)
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { generatePersistedQueryIdsFromManifest } from "@apollo/persisted-query-lists";

const [url, mode, manifestPath] = process.argv.slice(2);
const requests = [];

async function recordingFetch(input, init = {}) {
  const target = new URL(typeof input === "string" ? input : input.url);
  let params;
  if (init.body) {
    params = JSON.parse(init.body);
  } else {
    const ext = target.searchParams.get("extensions");
    params = { query: target.searchParams.get("query"), extensions: ext ? JSON.parse(ext) : undefined };
  }
  const response = await fetch(input, init);
  requests.push({
    method: (init.method || "GET").toUpperCase(),
    query: Boolean(params.query),
    hash: params.extensions?.persistedQuery?.sha256Hash || null,
    status: response.status,
    contentType: response.headers.get("content-type"),
  });
  return response;
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

function client(...links) {
  const http = new HttpLink({ uri: url, fetch: recordingFetch });
  return new ApolloClient({ link: ApolloLink.from([...links, http]), cache: new InMemoryCache() });
}

function describe(error) {
  return {
    name: error?.name ?? null,
    combined: CombinedGraphQLErrors.is(error),
    codes: CombinedGraphQLErrors.is(error) ? error.errors.map((e) => e.extensions?.code ?? null) : [],
    statusCode: error?.statusCode ?? null,
  };
}

async function attempt(run) {
  try {
    const result = await run();
    return { data: result.data ?? null, error: result.error ? describe(result.error) : null };
  } catch (error) {
    return { data: null, error: describe(error) };
  }
}

const QUERY_FOR_GET = gql`
  query FirstEntitiesOverGet($n: Int) {
    entities(first: $n) {
      nodes {
        id
        kind
      }
    }
  }
`;

const QUERY = gql`
  query FirstEntities($n: Int) {
    entities(first: $n) {
      nodes {
        id
      }
    }
  }
`;

async function main() {
  const out = { mode };
  if (mode === "errors") {
    const c = client();
    out.validation = await attempt(() => c.query({ query: gql`query Invalid { nope }`, fetchPolicy: "no-cache" }));
    out.variable = await attempt(() =>
      c.query({ query: QUERY, variables: { n: "five" }, fetchPolicy: "no-cache" }),
    );
  } else if (mode === "apq") {
    for (const useGETForHashedQueries of [false, true]) {
      const c = client(new PersistedQueryLink({ sha256, useGETForHashedQueries }));
      const key = useGETForHashedQueries ? "get" : "post";
      out[key] = [];
      const query = useGETForHashedQueries ? QUERY_FOR_GET : QUERY;
      for (let i = 0; i < 2; i++) {
        out[key].push(await attempt(() => c.query({ query, variables: { n: 2 }, fetchPolicy: "no-cache" })));
      }
    }
  } else if (mode === "trusted") {
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    const c = client(new PersistedQueryLink(generatePersistedQueryIdsFromManifest({ loadManifest: () => manifest })));
    const body = gql(manifest.operations[0].body);
    out.listed = await attempt(() => c.query({ query: body, fetchPolicy: "no-cache" }));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  out.requests = requests;
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
