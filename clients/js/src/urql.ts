// urql Graphcache settings for our schema, derived from it by codegen (generated/cache.ts): value types have no
// key (`() => null`: embedded in their parent, no "missing key" warning), every other type is keyed by its id
// (Graphcache's default), and Query connections page with Graphcache's relayPagination (which merges both
// `nodes` and `edges`).
import type { CacheExchangeOpts, KeyingConfig, ResolverConfig } from "@urql/exchange-graphcache";
import { relayPagination } from "@urql/exchange-graphcache/extras";

import { connectionFields, valueTypes } from "./generated/cache.js";

/** `cacheExchange(atlas4dCacheOptions())`; pass `schema` (introspection) as well for full partial-result support. */
export function atlas4dCacheOptions(extra: Partial<CacheExchangeOpts> = {}): CacheExchangeOpts {
  const keys: KeyingConfig = {};
  for (const name of valueTypes) keys[name] = () => null;
  const queryResolvers: Record<string, ReturnType<typeof relayPagination>> = {};
  for (const field of Object.keys(connectionFields)) queryResolvers[field] = relayPagination();
  const resolvers: ResolverConfig = { Query: queryResolvers };
  return {
    ...extra,
    keys: { ...keys, ...(extra.keys ?? {}) },
    resolvers: { ...resolvers, ...(extra.resolvers ?? {}), Query: { ...queryResolvers, ...(extra.resolvers?.Query ?? {}) } },
  };
}
