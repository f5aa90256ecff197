// The `graphql-sse` library's client in single connection mode (`singleConnection: true`) on a real server:
// two subscriptions and a query share one event stream. Usage:
//   node graphql-sse-single.mjs URL VARIABLES_A_JSON VARIABLES_B_JSON [AUTHORIZATION]
// Prints one JSON line per happening: {"stream": "opened"} for each GET of an event stream, {"ready": true}
// once the server accepted (202) both subscriptions (it attaches them before answering), {"op": "A"|"B"|"Q",
// "data": …} per result, {"stopped": "A"} once the server answered A's DELETE. A stops after 2 events, then
// the query runs; the script ends when B has 2 events and the query completed.
import { createClient } from "graphql-sse";

const [url, variablesA, variablesB, authorization] = process.argv.slice(2);
const say = (line) => process.stdout.write(JSON.stringify(line) + "\n");
let accepted = 0;
const client = createClient({
  url,
  singleConnection: true,
  retryAttempts: 0,
  headers: authorization ? { authorization } : {},
  fetchFn: async (input, init) => {
    const res = await fetch(input, init);
    const method = init?.method ?? "GET";
    if (method === "GET") say({ stream: "opened", status: res.status });
    if (method === "POST" && res.status === 202 && ++accepted === 2) say({ ready: true });
    if (method === "DELETE") say({ stopped: "A", status: res.status });
    return res;
  },
});
const live = `subscription Live($f: ObservationFilter) { observationAdded(filter: $f) { id lon lat } }`;

function run(op, request, max, onDone) {
  let received = 0;
  let stop = () => {};
  return new Promise((resolve, reject) => {
    stop = client.subscribe(request, {
      next: (message) => {
        say({ op, data: message.data, errors: message.errors });
        received += 1;
        if (max && received >= max) {
          onDone?.(stop);
          resolve();
        }
      },
      error: reject,
      complete: resolve,
    });
  });
}

const a = run("A", { query: live, variables: JSON.parse(variablesA) }, 2, (stop) => stop());
const b = run("B", { query: live, variables: JSON.parse(variablesB) }, 2);
await a;
await run("Q", { query: "{ __typename }" });
await b;
client.dispose();
process.exit(0);
