import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import {
  Atlas4DError,
  createClient,
  EntityDetailsDocument,
  IngestObservationsDocument,
  ObservationsPageDocument,
  TrackPositionAtDocument,
  TracksPageDocument,
  toFeatureCollection,
} from "../src/index.js";
import { GRAPHQL_URL } from "./env.js";

const client = createClient({ url: GRAPHQL_URL });

test("errors keep the server's code", async () => {
  const bad = { bbox: { minLon: 27, minLat: 43, maxLon: 28, maxLat: 42 } };
  await assert.rejects(client.request(ObservationsPageDocument, { filter: bad }), (error: unknown) => {
    assert.ok(error instanceof Atlas4DError);
    assert.equal(error.code, "BAD_BBOX");
    assert.deepEqual(error.errors[0]?.path, ["observations"]);
    return true;
  });
  await assert.rejects(client.request(ObservationsPageDocument, { first: 10_001 }), { code: "PAGE_TOO_LARGE" });
});

test("paginate walks every page once, in order", async () => {
  // fixed ends: `last` moves with the clock between the reads being compared
  const newest = await client.request(ObservationsPageDocument, { first: 1 });
  const to = new Date(Date.parse(newest.observations.nodes[0]!.time) + 1).toISOString();
  const from = new Date(Date.parse(to) - 2 * 3600_000).toISOString();
  const filter = { kinds: ["vehicle"], time: { from, to } };
  const whole = await client.request(ObservationsPageDocument, { filter, first: 10_000 });
  assert.equal(whole.observations.pageInfo.hasNextPage, false);
  const walked = [];
  for await (const node of client.paginate(ObservationsPageDocument, { filter, first: 113 }, (d) => d.observations)) {
    walked.push(node.id);
  }
  assert.ok(walked.length > 113 * 2);
  assert.deepEqual(walked, whole.observations.nodes.map((n) => n.id));
});

test("tracks as GeoJSON, and positionAt inside the span", async () => {
  const page = await client.request(TracksPageDocument, { filter: { kinds: ["vehicle"] }, first: 5, simplify: 5 });
  const collection = toFeatureCollection(page.tracks.nodes);
  assert.equal(collection.features.length, 5);
  for (const [i, feature] of collection.features.entries()) {
    const track = page.tracks.nodes[i]!;
    assert.equal(feature.id, track.id);
    assert.equal(feature.geometry?.type, "LineString");
    assert.equal(feature.properties?.lengthMeters, track.lengthMeters);
    const middle = new Date((Date.parse(track.startTime) + Date.parse(track.endTime)) / 2).toISOString();
    const where = await client.request(TrackPositionAtDocument, { id: track.id, time: middle });
    const position = where.track?.positionAt;
    assert.ok(position, "positionAt is null inside the span");
    const coords = (feature.geometry as { coordinates: number[][] }).coordinates;
    const lons = coords.map((c) => c[0]!);
    assert.ok(position.lon >= Math.min(...lons) - 0.01 && position.lon <= Math.max(...lons) + 0.01);
  }
});

test("a typed mutation stores what it says, read back by a typed query", async () => {
  const entityId = randomUUID();
  const observations = [0, 1, 2].map((i) => ({
    time: new Date(Date.UTC(2025, 5, 1, 12, 0, i * 10)).toISOString(),
    lon: 27.5 + i * 0.001,
    lat: 42.5,
    speed: 3,
    sourceType: "ts-sdk",
    entityId,
    entityKind: "ts-test",
    trackId: entityId,
  }));
  const stored = await client.request(IngestObservationsDocument, { observations });
  assert.deepEqual(stored.ingestObservations, { accepted: 3, entitiesCreated: 1, tracksUpdated: 1 });
  const details = await client.request(EntityDetailsDocument, { id: entityId });
  assert.equal(details.entity?.kind, "ts-test");
  assert.equal(details.entity?.latestObservation?.lon, 27.502);
  assert.equal(details.entity?.tracks[0]?.pointCount, 3);
});
