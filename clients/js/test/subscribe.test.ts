import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import WebSocket from "ws";

import { Atlas4DError, createClient, IngestObservationsDocument, ObservationAddedDocument } from "../src/index.js";
import { GRAPHQL_URL } from "./env.js";

// Node 20 has no global WebSocket: the `ws` package stands in (browsers and Node 22+ need nothing)
const client = createClient({ url: GRAPHQL_URL, webSocketImpl: WebSocket });

test("subscribe receives the observations written in its bbox after it started, typed, in order", async () => {
  const box = { minLon: 11.0, minLat: -41.0, maxLon: 11.5, maxLat: -40.5 };
  const live = client.subscribe(ObservationAddedDocument, { filter: { bbox: box } });
  await live.ready;
  const entityId = randomUUID();
  const at = (i: number, lon: number) => ({
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    lon,
    lat: -40.75,
    sourceType: "ts-live",
    entityId,
    entityKind: "ts-test",
  });
  // the middle one is outside the box
  await client.request(IngestObservationsDocument, { observations: [at(0, 11.1), at(1, 12.0), at(2, 11.2)] });
  const seen: Array<{ lon: number | null; entityId: string | null; sourceType: string | null }> = [];
  for await (const data of live) {
    const { lon, entityId: id, sourceType } = data.observationAdded;
    seen.push({ lon, entityId: id, sourceType });
    if (seen.length === 2) break;
  }
  assert.deepEqual(seen, [
    { lon: 11.1, entityId, sourceType: "ts-live" },
    { lon: 11.2, entityId, sourceType: "ts-live" },
  ]);
});

test("a bad filter rejects the subscription with the server's code", async () => {
  const bad = { bbox: { minLon: 11, minLat: -40, maxLon: 12, maxLat: -41 } };
  const live = client.subscribe(ObservationAddedDocument, { filter: bad });
  await assert.rejects(
    (async () => {
      for await (const _ of live) assert.fail("no event expected");
    })(),
    (error: unknown) => error instanceof Atlas4DError && error.code === "BAD_BBOX",
  );
  await client.close();
});
