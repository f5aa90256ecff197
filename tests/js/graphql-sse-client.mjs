// The `graphql-sse` library's client (distinct connections mode) subscribing to observationAdded on a real
// server. Usage: node graphql-sse-client.mjs URL COUNT VARIABLES_JSON [AUTHORIZATION]
// Prints "ready" once the server answered the subscription's request (it is attached before the answer), then
// one JSON line per event.
import { createClient } from "graphql-sse";

const [url, count, variables, authorization] = process.argv.slice(2);
const client = createClient({
  url,
  retryAttempts: 0,
  headers: authorization ? { authorization } : {},
});
const query = `subscription Live($f: ObservationFilter) {
  observationAdded(filter: $f) { id lon lat entity { kind } }
}`;
let received = 0;
let stop = () => {};
await new Promise((resolve, reject) => {
  stop = client.subscribe(
    { query, variables: JSON.parse(variables) },
    {
      next: (message) => {
        process.stdout.write(JSON.stringify(message) + "\n");
        received += 1;
        if (received >= Number(count)) resolve();
      },
      error: reject,
      complete: resolve,
    },
    { connected: () => process.stdout.write("ready\n") },
  );
});
stop();
client.dispose();
process.exit(0);
