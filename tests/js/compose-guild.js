// Compose subgraphs with The Guild's composition (what Hive uses).
// stdin: JSON [{"name", "url", "sdl"}]; stdout: JSON {"supergraphSdl"} or {"errors": [{"code", "message"}]}.
const { composeServices } = require("@theguild/federation-composition");
const { parse } = require("graphql");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const services = JSON.parse(input).map((s) => ({ name: s.name, url: s.url, typeDefs: parse(s.sdl) }));
  const result = composeServices(services);
  if (result.errors && result.errors.length) {
    const errors = result.errors.map((e) => ({ code: e.extensions && e.extensions.code, message: e.message }));
    process.stdout.write(JSON.stringify({ errors }));
  } else {
    process.stdout.write(JSON.stringify({ supergraphSdl: result.supergraphSdl }));
  }
});
