import assert from "node:assert/strict";
import { test } from "node:test";

import { Client, fetchExchange } from "@urql/core";
import { cacheExchange } from "@urql/exchange-graphcache";

import { EntitiesPageDocument, TrackPositionAtDocument, TracksPageDocument } from "../src/index.js";
import { atlas4dCacheOptions } from "../src/urql.js";
import { GRAPHQL_URL, logged } from "./env.js";

// urql aborts a request's fetch when its last subscriber leaves (toPromise() leaves after the first result);
// on Node 20 that abort can land after the test ended, as an unhandled AbortError that fails a random test.
// These tests are about the cache, not cancellation: the fetch they get ignores the signal.
const unabortable: typeof fetch = (input, init) => {
  const { signal: _signal, ...rest } = init ?? {};
  return fetch(input, rest);
};

function urql(options = atlas4dCacheOptions()): Client {
  return new Client({ url: GRAPHQL_URL, exchanges: [cacheExchange(options), fetchExchange], fetch: unabortable });
}

async function positionOfATrack(client: Client): Promise<unknown> {
  const tracks = await client.query(TracksPageDocument, { filter: { kinds: ["vehicle"] }, first: 1 }).toPromise();
  assert.equal(tracks.error, undefined);
  const track = tracks.data!.tracks.nodes[0]!;
  const middle = new Date((Date.parse(track.startTime) + Date.parse(track.endTime)) / 2).toISOString();
  const where = await client.query(TrackPositionAtDocument, { id: track.id, time: middle }).toPromise();
  assert.equal(where.error, undefined);
  return where.data!.track!.positionAt;
}

test("Graphcache with our keys stores value types without a warning (and warns without them)", async () => {
  const ours = await logged(async () => {
    assert.ok(await positionOfATrack(urql()));
  });
  assert.deepEqual(ours, []);
  const plain = await logged(async () => {
    await positionOfATrack(urql({}));
  });
  assert.ok(plain.some((line) => line.includes("Position")), `expected a missing-key warning, got ${plain.join("\n")}`);
});

test("Graphcache relayPagination merges pages of a connection", async () => {
  const client = urql();
  const filter = { kinds: ["vehicle"] };
  const first = await client.query(EntitiesPageDocument, { filter, first: 10 }).toPromise();
  const page1 = first.data!.entities;
  const second = await client.query(EntitiesPageDocument, { filter, first: 10, after: page1.pageInfo.endCursor }).toPromise();
  const whole = await urql().query(EntitiesPageDocument, { filter, first: 20 }).toPromise();
  assert.deepEqual(
    second.data!.entities.nodes.map((n) => n.id),
    whole.data!.entities.nodes.map((n) => n.id),
  );
});
