// Apollo Client cache settings for our schema, derived from it by codegen (generated/cache.ts):
// - every type with an `id` is normalised by Apollo's default (__typename + id): nothing to declare;
// - value types (Position, GridCell, ...) have no identity: `keyFields: false`, merged into their parent;
// - Query connections (observations, entities, tracks, anomalies) are one cache entry per filter/order, and a
//   page fetched with `after: endCursor` is appended (`nodes` and `edges`) — Apollo's relayStylePagination
//   handles only `edges`, and our examples read `nodes`.
// Only types are imported from @apollo/client: this module adds no runtime dependency.
import type { FieldPolicy, TypePolicies } from "@apollo/client";

import { connectionFields, valueTypes } from "./generated/cache.js";

interface CachedConnection {
  nodes?: readonly unknown[];
  edges?: readonly unknown[];
  pageInfo?: { hasNextPage?: boolean; endCursor?: string | null; startCursor?: string | null; hasPreviousPage?: boolean };
  [field: string]: unknown;
}

/** A field policy for one of our Relay connections: pages asked `after` the cached page's endCursor are
 * appended; anything else (a first page, a refetch) replaces the cached one. */
export function connectionPagination(keyArgs: readonly string[]): FieldPolicy<CachedConnection> {
  return {
    keyArgs: keyArgs.length > 0 ? [...keyArgs] : false,
    merge(existing, incoming, { args }) {
      const after = (args?.after as string | null | undefined) ?? null;
      if (!existing || after === null || after !== existing.pageInfo?.endCursor) return incoming;
      return {
        ...existing,
        ...incoming,
        nodes: existing.nodes && incoming.nodes ? [...existing.nodes, ...incoming.nodes] : incoming.nodes,
        edges: existing.edges && incoming.edges ? [...existing.edges, ...incoming.edges] : incoming.edges,
        pageInfo: {
          ...incoming.pageInfo,
          startCursor: existing.pageInfo?.startCursor ?? null,
          hasPreviousPage: existing.pageInfo?.hasPreviousPage ?? false,
        },
      };
    },
  };
}

/** `new InMemoryCache({ typePolicies: atlas4dTypePolicies() })`; `extra` is merged over ours. */
export function atlas4dTypePolicies(extra: TypePolicies = {}): TypePolicies {
  const policies: TypePolicies = {};
  for (const name of valueTypes) policies[name] = { keyFields: false, merge: true };
  const fields: Record<string, FieldPolicy<CachedConnection>> = {};
  for (const [field, keyArgs] of Object.entries(connectionFields)) fields[field] = connectionPagination(keyArgs);
  policies.Query = { fields };
  for (const [name, policy] of Object.entries(extra)) {
    const ours = policies[name];
    policies[name] =
      ours === undefined ? policy : { ...ours, ...policy, fields: { ...(ours.fields ?? {}), ...(policy.fields ?? {}) } };
  }
  return policies;
}
