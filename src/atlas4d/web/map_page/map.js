// The /map page: MapLibre GL JS (served by us from npm, no CDN) over an inline style with our own layers only
// (no external basemap, no glyphs or sprites: works offline). Entities, tracks and observations in view for a
// time window chosen with the slider; a click on anything opens its entity's panel. Everything comes from
// /graphql: one query per view change (observations as GeoJSON built by PostGIS, tracks with their simplified
// line, entities with their newest observation in the window), one per panel. Live: the page subscribes to
// observationAdded for the view's bbox (graphql-ws over WebSocket, served by us) and draws each new point.
import * as maplibregl from "/map/vendor/maplibre-gl.mjs";

const GRAPHQL = "/graphql";
const COLORS = {
  vehicle: "#ff6b6b", adsb: "#c792ea", olt: "#7ee787", switch: "#4fc3f7", cpe: "#ffb74d", camera: "#f06292",
};
const OTHER = "#b0bec5";
const colour = ["match", ["coalesce", ["get", "sourceType"], ""], ...Object.entries(COLORS).flat(), OTHER];
const EMPTY = { type: "FeatureCollection", features: [] };

const VIEW_QUERY = `query MapView($bbox: BBoxInput!, $time: TimeFilter!) {
  observationsGeoJSON(filter: {bbox: $bbox, time: $time}, limit: 5000)
  tracks(filter: {bbox: $bbox, time: $time}, first: 500) {
    nodes { id entityId sourceType startTime endTime lengthMeters geometry(simplify: 5) }
  }
  entities(filter: {observations: {bbox: $bbox, time: $time}}, first: 1000) {
    nodes { id name kind sourceType observations(time: $time, first: 1) { time lon lat speed heading } }
  }
}`;
const SPAN_QUERY = `query MapSpan {
  oldest: observations(first: 1, orderBy: TIME_ASC) { nodes { time } }
  newest: observations(first: 1, orderBy: TIME_DESC) { nodes { time } }
  observationGrid(cellSize: 0.1) { count center { lon lat } }
}`;
const ENTITY_QUERY = `query MapEntity($id: ID!) {
  entity(id: $id) {
    id kind name sourceType properties createdAt
    latestObservation { time lon lat altitude speed heading }
    tracks(first: 5) { id startTime endTime lengthMeters pointCount }
  }
}`;
const LIVE_SUBSCRIPTION = `subscription MapLive($bbox: BBoxInput!) {
  observationAdded(filter: {bbox: $bbox}) { id time lon lat speed sourceType entityId }
}`;
const LIVE_KEEP = 5000; // newest live points kept on the map
const CONTEXT_QUERIES = [
  `{ geofences { id name geometry } }`,
  `{ restrictedZones { id name geometry } }`,
];

const $ = (id) => document.getElementById(id);
// a Core Spec row may have no position (lon/lat null): nothing to draw for it
const placed = (o) => Boolean(o) && o.lon !== null && o.lat !== null;
const state = { time: 0, windowMinutes: 15, loads: 0, counts: {}, selected: null, shownWindow: null };

async function gql(query, variables = {}) {
  const response = await fetch(GRAPHQL, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json, application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    throw new Error(`${e.extensions?.code ?? "ERROR"}: ${e.message}`);
  }
  return body.data;
}

function graticule(bounds, zoom) {
  const step = [10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005][Math.max(0, Math.min(10, Math.floor(zoom / 1.5)))];
  const features = [];
  const west = Math.floor(bounds.getWest() / step) * step, east = bounds.getEast();
  const south = Math.max(-90, Math.floor(bounds.getSouth() / step) * step), north = Math.min(90, bounds.getNorth());
  for (let lon = west; lon <= east; lon += step) {
    features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: [[lon, south], [lon, north]] } });
  }
  for (let lat = south; lat <= north; lat += step) {
    features.push({ type: "Feature", properties: {}, geometry: { type: "LineString", coordinates: [[west, lat], [east, lat]] } });
  }
  return { type: "FeatureCollection", features };
}

function style() {
  const source = () => ({ type: "geojson", data: EMPTY });
  return {
    version: 8,
    sources: { graticule: source(), context: source(), tracks: source(), observations: source(), entities: source(),
      live: source() },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#0e1a26" } },
      { id: "graticule", type: "line", source: "graticule", paint: { "line-color": "#1f3347", "line-width": 1 } },
      { id: "context-fill", type: "fill", source: "context", paint: { "fill-color": "#29455f", "fill-opacity": 0.35 } },
      { id: "context-line", type: "line", source: "context", paint: { "line-color": "#4a7196", "line-width": 1 } },
      { id: "tracks", type: "line", source: "tracks",
        paint: { "line-color": colour, "line-width": ["case", ["boolean", ["get", "selected"], false], 4, 1.6], "line-opacity": 0.75 } },
      { id: "observations", type: "circle", source: "observations",
        paint: { "circle-color": colour, "circle-radius": 2.5, "circle-opacity": 0.85 } },
      { id: "entities", type: "circle", source: "entities",
        paint: { "circle-color": colour, "circle-radius": ["case", ["boolean", ["get", "selected"], false], 10, 7],
          "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 } },
      { id: "live", type: "circle", source: "live",
        paint: { "circle-color": colour, "circle-radius": 5, "circle-stroke-color": "#fff176", "circle-stroke-width": 2 } },
    ],
  };
}

const map = new maplibregl.Map({ container: "map", style: style(), center: [27.47, 42.5], zoom: 11, hash: true, attributionControl: false });
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "bottom-right");
window.atlas4d = { map, state };

function iso(ms) {
  return new Date(ms).toISOString();
}

function viewBox() {
  const b = map.getBounds();
  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
  const wide = b.getEast() - b.getWest() >= 360;
  return {
    minLon: wide ? -180 : clamp(((b.getWest() + 540) % 360) - 180, -180, 180),
    maxLon: wide ? 180 : clamp(((b.getEast() + 540) % 360) - 180, -180, 180),
    minLat: clamp(b.getSouth(), -90, 90),
    maxLat: clamp(b.getNorth(), -90, 90),
  };
}

let pending = 0;
async function loadView() {
  const ticket = ++pending;
  const to = state.time + 1;
  const window = { from: iso(to - state.windowMinutes * 60_000), to: iso(to) };
  map.getSource("graticule").setData(graticule(map.getBounds(), map.getZoom()));
  try {
    const data = await gql(VIEW_QUERY, { bbox: viewBox(), time: window });
    if (ticket !== pending) return; // a newer view is loading
    const observations = data.observationsGeoJSON;
    const tracks = data.tracks.nodes.filter((t) => t.geometry).map((t) => ({
      type: "Feature", id: undefined, geometry: t.geometry,
      properties: { id: t.id, entityId: t.entityId, sourceType: t.sourceType, selected: t.entityId === state.selected },
    }));
    const entities = data.entities.nodes.filter((e) => placed(e.observations[0])).map((e) => ({
      type: "Feature", geometry: { type: "Point", coordinates: [e.observations[0].lon, e.observations[0].lat] },
      properties: { id: e.id, entityId: e.id, name: e.name, kind: e.kind, sourceType: e.sourceType ?? e.kind,
        time: e.observations[0].time, selected: e.id === state.selected },
    }));
    map.getSource("observations").setData(observations);
    map.getSource("tracks").setData({ type: "FeatureCollection", features: tracks });
    map.getSource("entities").setData({ type: "FeatureCollection", features: entities });
    state.counts = { observations: observations.features.length, tracks: tracks.length, entities: entities.length };
    state.shownWindow = window;
    state.shownBox = viewBox();
    follow(state.shownBox);
    const times = observations.features.map((f) => f.properties.time).sort();
    state.shownTimes = times.length ? { first: times[0], last: times[times.length - 1] } : null;
    $("counts").textContent = `${entities.length} entities · ${tracks.length} tracks · ${observations.features.length} observations`;
    $("error").textContent = "";
    map.once("idle", () => {
      state.loads += 1;
      document.body.dataset.loads = String(state.loads);
    });
    map.triggerRepaint();
  } catch (error) {
    $("error").textContent = String(error.message ?? error);
  }
}

// One graphql-ws client (one socket, reconnecting by itself); one subscription for the current view's bbox,
// replaced when the view moves. `document.body.dataset.live` is "on" once the server has started it (it
// answered a query sent after the subscribe on the same socket: messages are handled in order).
const live = { client: null, stop: null, key: null, features: [] };

function follow(box) {
  const key = JSON.stringify(box);
  if (!globalThis.graphqlWs || key === live.key) return;
  live.client ??= globalThis.graphqlWs.createClient({
    url: `${location.origin.replace(/^http/, "ws")}${GRAPHQL}`,
    retryAttempts: 1_000_000,
    shouldRetry: () => true,
  });
  live.key = key;
  if (live.stop) live.stop();
  document.body.dataset.live = "starting";
  live.stop = live.client.subscribe({ query: LIVE_SUBSCRIPTION, variables: { bbox: box } }, {
    next: (message) => message.data && drawLive(message.data.observationAdded),
    error: (error) => ($("error").textContent = `live: ${Array.isArray(error) ? error[0].message : error.reason ?? error}`),
    complete: () => {},
  });
  live.client.subscribe({ query: "{ __typename }" }, {
    next: () => {}, error: () => {}, complete: () => { if (live.key === key) document.body.dataset.live = "on"; },
  });
}

function drawLive(o) {
  if (!placed(o)) return;
  live.features.push({ type: "Feature", geometry: { type: "Point", coordinates: [o.lon, o.lat] },
    properties: { id: o.id, entityId: o.entityId, sourceType: o.sourceType, time: o.time, speed: o.speed } });
  if (live.features.length > LIVE_KEEP) live.features.splice(0, live.features.length - LIVE_KEEP);
  map.getSource("live").setData({ type: "FeatureCollection", features: live.features });
  state.live = live.features.length;
  document.body.dataset.liveCount = String(live.features.length);
}

async function loadContext() {
  const features = [];
  for (const query of CONTEXT_QUERIES) {
    try {
      const data = await gql(query);
      for (const list of Object.values(data)) {
        for (const item of list) features.push({ type: "Feature", geometry: item.geometry, properties: { name: item.name } });
      }
    } catch {
      // the module serving this layer is not enabled: the map works without it
    }
  }
  map.getSource("context").setData({ type: "FeatureCollection", features });
}

function setTime(ms) {
  state.time = ms;
  $("time").value = String(Math.round(ms / 1000));
  $("time-label").textContent = `${iso(ms - state.windowMinutes * 60_000).slice(0, 16)} – ${iso(ms).slice(11, 16)} UTC`;
}

function row(name, value) {
  const tr = document.createElement("tr");
  for (const text of [name, value]) {
    const td = document.createElement("td");
    td.textContent = text;
    tr.append(td);
  }
  return tr;
}

async function openPanel(id) {
  state.selected = id;
  const panel = $("panel"), body = $("panel-body");
  panel.hidden = false;
  body.textContent = "Loading…";
  const { entity } = await gql(ENTITY_QUERY, { id });
  if (state.selected !== id) return;
  body.textContent = "";
  if (!entity) {
    body.textContent = "No such entity.";
    return;
  }
  const title = document.createElement("h2");
  title.textContent = entity.name ?? entity.id;
  const table = document.createElement("table");
  table.append(row("id", entity.id), row("kind", entity.kind), row("source", entity.sourceType ?? "—"));
  const latest = entity.latestObservation;
  if (latest) {
    table.append(row("last seen", latest.time));
    if (placed(latest)) table.append(row("position", `${latest.lon.toFixed(5)}, ${latest.lat.toFixed(5)}`));
    if (latest.speed !== null) table.append(row("speed", `${latest.speed.toFixed(1)} m/s`));
  }
  for (const [key, value] of Object.entries(entity.properties ?? {})) table.append(row(key, JSON.stringify(value)));
  for (const t of entity.tracks) {
    table.append(row("track", `${t.startTime.slice(0, 16)} · ${(t.lengthMeters / 1000).toFixed(1)} km · ${t.pointCount} pts`));
  }
  body.append(title, table);
  body.dataset.entity = entity.id;
  loadView();
}

function legend() {
  $("legend").replaceChildren(...Object.entries(COLORS).flatMap(([name, c]) => {
    const dot = document.createElement("span");
    dot.style.background = c;
    return [dot, document.createTextNode(name)];
  }));
}

async function start() {
  legend();
  const span = await gql(SPAN_QUERY);
  const oldest = span.oldest.nodes[0], newest = span.newest.nodes[0];
  if (!newest) {
    $("error").textContent = "No observations yet: ingest some, or load the demo (atlas4d demo).";
    return;
  }
  const slider = $("time");
  slider.min = String(Math.floor(Date.parse(oldest.time) / 1000));
  slider.max = String(Math.ceil(Date.parse(newest.time) / 1000));
  setTime(Date.parse(newest.time));
  const busiest = span.observationGrid.filter((c) => c.count >= span.observationGrid[0].count / 20);
  if (!location.hash && busiest.length) {
    const lons = busiest.map((c) => c.center.lon), lats = busiest.map((c) => c.center.lat);
    map.fitBounds([[Math.min(...lons) - 0.05, Math.min(...lats) - 0.05], [Math.max(...lons) + 0.05, Math.max(...lats) + 0.05]],
      { animate: false });
  }
  let timer;
  slider.addEventListener("input", () => {
    setTime(Number(slider.value) * 1000);
    clearTimeout(timer);
    timer = setTimeout(loadView, 120);
  });
  $("window").addEventListener("change", (e) => {
    state.windowMinutes = Number(e.target.value);
    setTime(state.time);
    loadView();
  });
  $("panel-close").addEventListener("click", () => {
    $("panel").hidden = true;
    state.selected = null;
    loadView();
  });
  for (const layer of ["entities", "observations", "tracks", "live"]) {
    map.on("click", layer, (e) => {
      const f = e.features && e.features[0];
      if (f && f.properties.entityId) openPanel(f.properties.entityId);
    });
    map.on("mouseenter", layer, () => (map.getCanvas().style.cursor = "pointer"));
    map.on("mouseleave", layer, () => (map.getCanvas().style.cursor = ""));
  }
  map.on("moveend", loadView);
  await loadContext();
  await loadView();
}

map.on("load", () => {
  start().catch((error) => ($("error").textContent = String(error.message ?? error)));
});
