// The `graphql-ws` library's client (what Apollo Client, urql and GraphiQL use) subscribing to observationAdded
// on a real server. Usage: node graphql-ws-client.mjs WS_URL COUNT VARIABLES_JSON
// Prints "ready" once the subscription is attached — the server handles a connection's messages in order, so
// the answer to a query sent after the subscribe proves it — then one JSON line per event.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, count, variables] = process.argv.slice(2);
const client = createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
const query = `subscription Live($f: ObservationFilter) {
  observationAdded(filter: $f) { id lon lat entity { kind } }
}`;
let received = 0;
const done = new Promise((resolve, reject) => {
  client.subscribe({ query, variables: JSON.parse(variables) }, {
    next: (message) => {
      process.stdout.write(JSON.stringify(message) + "\n");
      received += 1;
      if (received >= Number(count)) resolve();
    },
    error: reject,
    complete: resolve,
  });
});
client.subscribe({ query: "{ __typename }" }, {
  next: () => {},
  error: (err) => { console.error(err); process.exit(2); },
  complete: () => process.stdout.write("ready\n"),
});
await done;
await client.dispose();
process.exit(0);
