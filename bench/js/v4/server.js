// PostGraphile v4 with @graphile/postgis and the connection-filter plugins (what spatial users run today).
// Usage: DATABASE_URL=... PORT=... node server.js
const http = require("http");
const { postgraphile } = require("postgraphile");
const PostgisPlugin = require("@graphile/postgis").default;
const ConnectionFilterPlugin = require("postgraphile-plugin-connection-filter");
const PostgisFilterPlugin = require("postgraphile-plugin-connection-filter-postgis");

const middleware = postgraphile(process.env.DATABASE_URL, ["bench"], {
  appendPlugins: [PostgisPlugin, ConnectionFilterPlugin, PostgisFilterPlugin],
  graphiql: false,
  disableQueryLog: true,
  retryOnInitFail: false,
  dynamicJson: true,
  setofFunctionsContainNulls: false,
});
http.createServer(middleware).listen(Number(process.env.PORT), "127.0.0.1");
