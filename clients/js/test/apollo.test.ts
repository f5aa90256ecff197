import assert from "node:assert/strict";
import { test } from "node:test";

import { ApolloClient, HttpLink, InMemoryCache } from "@apollo/client";

import { atlas4dTypePolicies } from "../src/apollo.js";
import { EntitiesPageDocument, TrackPositionAtDocument, TracksPageDocument, VehiclesLatestDocument } from "../src/index.js";
import { GRAPHQL_URL, logged } from "./env.js";

function apollo(): ApolloClient {
  return new ApolloClient({
    link: new HttpLink({ uri: GRAPHQL_URL }),
    cache: new InMemoryCache({ typePolicies: atlas4dTypePolicies() }),
  });
}

test("Apollo Client normalises our types by id and embeds value types", async () => {
  const client = apollo();
  const warnings = await logged(async () => {
    const { data } = await client.query({ query: EntitiesPageDocument, variables: { filter: { kinds: ["olt"] }, first: 3 } });
    assert.ok(data);
    const olt = data.entities.nodes[0]!;
    const store = client.cache.extract() as Record<string, Record<string, unknown>>;
    const key = client.cache.identify({ __typename: "Entity", id: olt.id });
    assert.equal(key, `Entity:${olt.id}`);
    assert.ok(store[key!], "the entity is stored under its id");
    const latest = store[key!]!.latestObservation as { __ref: string };
    assert.equal(latest.__ref, `Observation:${olt.latestObservation!.id}`);

    const tracks = await client.query({ query: TracksPageDocument, variables: { filter: { kinds: ["vehicle"] }, first: 1 } });
    const track = tracks.data!.tracks.nodes[0]!;
    const middle = new Date((Date.parse(track.startTime) + Date.parse(track.endTime)) / 2).toISOString();
    await client.query({ query: TrackPositionAtDocument, variables: { id: track.id, time: middle } });
    await client.query({ query: TrackPositionAtDocument, variables: { id: track.id, time: track.endTime } });
    const after = client.cache.extract() as Record<string, unknown>;
    assert.ok(!Object.keys(after).some((k) => k.startsWith("Position")), "Position has no identity of its own");
    await client.query({ query: VehiclesLatestDocument });
  });
  assert.deepEqual(warnings, []);
});

test("Apollo fetchMore appends the next page to the cached connection", async () => {
  const client = apollo();
  const filter = { kinds: ["vehicle"] };
  const first = await client.query({ query: EntitiesPageDocument, variables: { filter, first: 10 } });
  const page1 = first.data!.entities;
  assert.equal(page1.nodes.length, 10);
  assert.ok(page1.pageInfo.hasNextPage);
  const observable = client.watchQuery({ query: EntitiesPageDocument, variables: { filter, first: 10 } });
  await observable.fetchMore({ variables: { after: page1.pageInfo.endCursor } });
  const merged = client.readQuery({ query: EntitiesPageDocument, variables: { filter, first: 10 } });
  const expected = await client.query({ query: EntitiesPageDocument, variables: { filter: { kinds: ["vehicle"] }, first: 20 }, fetchPolicy: "network-only" });
  assert.deepEqual(
    merged!.entities.nodes.map((n) => n.id),
    expected.data!.entities.nodes.map((n) => n.id),
  );
});
