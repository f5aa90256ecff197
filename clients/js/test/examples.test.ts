import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";

import type { TypedDocumentNode } from "@graphql-typed-document-node/core";

import * as sdk from "../src/index.js";
import { createClient, VehiclesLatestDocument, ObservationsInABoxDocument } from "../src/index.js";
import { GRAPHQL_URL } from "./env.js";

const client = createClient({ url: GRAPHQL_URL });
const EXAMPLES = new URL("../../../../graphql/examples/", import.meta.url);

function pascal(file: string): string {
  return file
    .replace(/\.graphql$/, "")
    .split("-")
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");
}

test("every example operation has a typed document node that runs on the demo", async () => {
  const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".graphql"));
  assert.ok(files.length >= 8, `only ${files.length} examples`);
  const documents = sdk as unknown as Record<string, TypedDocumentNode<Record<string, unknown>, Record<string, never>>>;
  for (const file of files) {
    const name = `${pascal(file)}Document`;
    const document = documents[name];
    assert.ok(document, `${file}: no ${name} exported (run npm run codegen)`);
    const data = await client.request(document);
    for (const [field, value] of Object.entries(data)) {
      assert.notEqual(value, null, `${file}: ${field} is null`);
    }
  }
});

test("results are typed as the operation selected them", async () => {
  const data = await client.request(VehiclesLatestDocument);
  const first = data.entities.nodes[0];
  assert.ok(first);
  const kind: string = first.kind;
  const lon: number | null | undefined = first.latestObservation?.lon;
  assert.equal(kind, "vehicle");
  assert.equal(typeof lon, "number");
  // @ts-expect-error VehiclesLatest does not select `id`: tsc --strict fails here if the types were loose
  assert.equal(first.id, undefined);
  const box = await client.request(ObservationsInABoxDocument);
  const total: number = box.observations.totalCount;
  assert.ok(total >= box.observations.nodes.length && box.observations.nodes.length === 20);
});
