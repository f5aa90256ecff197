// Open our /map in headless Chromium (Debian's, driven by playwright-core; WebGL through SwiftShader), check
// that features are drawn, take a screenshot and measure it, move the time slider, click an entity.
// Usage: node map-browser.mjs URL SCREENSHOT.png; prints one JSON line with what the page did.
// Every request is recorded; one to another host than 127.0.0.1 is aborted and reported (offline page).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshotPath] = process.argv.slice(2);
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-domain-reliability",
  "--metrics-recording-only", "--disable-dev-shm-usage",
  "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
];

const loads = (page) => page.evaluate(() => Number(document.body.dataset.loads || 0));

async function waitForLoad(page, after) {
  await page.waitForFunction((n) => Number(document.body.dataset.loads || 0) > n, after, { timeout: 60000, polling: 100 });
}

// Pixels of the screenshot (decoded by the browser itself): how many differ from the map background, and how
// many have each layer colour.
async function measure(page, png) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const { data } = ctx.getImageData(0, 0, img.width, img.height);
    const near = (i, [r, g, b]) => Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 40;
    const palette = { background: [14, 26, 38], vehicle: [255, 107, 107], olt: [126, 231, 135], switch: [79, 195, 247], cpe: [255, 183, 77], adsb: [199, 146, 234], white: [255, 255, 255] };
    const counts = Object.fromEntries(Object.keys(palette).map((k) => [k, 0]));
    const colours = new Set();
    for (let i = 0; i < data.length; i += 4) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      for (const [name, rgb] of Object.entries(palette)) if (near(i, rgb)) { counts[name] += 1; break; }
    }
    return { width: img.width, height: img.height, pixels: img.width * img.height, counts, distinctColours: colours.size };
  }, png.toString("base64"));
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), "atlas4d-map-"));
  // a fresh profile per run (Playwright passes it as --user-data-dir)
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium", args: FLAGS, headless: true, viewport: { width: 1280, height: 800 },
  });
  const out = { requests: [], external: [], pageErrors: [], console: [] };
  try {
    const page = await browser.newPage();
    page.on("pageerror", (error) => out.pageErrors.push(String(error)));
    page.on("console", (msg) => { if (msg.type() === "error" || msg.type() === "warning") out.console.push(msg.text()); });
    await page.route("**/*", (route) => {
      const target = new URL(route.request().url());
      if (target.protocol === "data:" || target.protocol === "blob:") return route.continue();
      out.requests.push(`${route.request().method()} ${target.pathname}`);
      if (target.hostname !== "127.0.0.1") {
        out.external.push(target.href);
        return route.abort();
      }
      return route.continue();
    });
    const response = await page.goto(`${url}/map`, { waitUntil: "load" });
    out.status = response.status();
    out.title = await page.title();
    await waitForLoad(page, 0);
    const snapshot = () => page.evaluate(() => {
      const { map, state } = window.atlas4d;
      const rendered = {};
      for (const layer of ["entities", "tracks", "observations", "graticule"]) {
        rendered[layer] = map.queryRenderedFeatures({ layers: [layer] }).length;
      }
      return { counts: state.counts, window: state.shownWindow, box: state.shownBox, times: state.shownTimes, rendered,
        webgl2: map.painter.context.gl instanceof WebGL2RenderingContext };
    });
    out.first = await snapshot();
    const png = await page.screenshot({ type: "png" });
    writeFileSync(screenshotPath, png);
    out.screenshot = await measure(page, png);

    // live: an observation written while the page is open, in the view (away from its centre, where the click below goes), after
    // the page's subscription started
    await page.waitForFunction(() => document.body.dataset.live === "on", null, { timeout: 30000, polling: 100 });
    const centre = await page.evaluate(() => {
      const { map } = window.atlas4d;
      const canvas = map.getCanvas().getBoundingClientRect();
      return map.unproject([canvas.width * 0.25, canvas.height * 0.75]).toArray();
    });
    const entityId = randomUUID();
    const written = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: "mutation($o: [ObservationInput!]!) { ingestObservations(observations: $o) { accepted } }",
        // a late report (June 2025): the live layer shows what is written now, whatever its time; a time of now
        // would move the newest observation, which later tests of the shared demo server rely on
        variables: { o: [{ time: "2025-06-01T12:00:00Z", lon: centre[0], lat: centre[1], sourceType: "vehicle",
          entityId, entityKind: "map-test" }] },
      }),
    }).then((r) => r.json());
    await page.waitForFunction((id) => {
      const { map } = window.atlas4d;
      const source = map.getSource("live").serialize().data;
      return source.features.some((f) => f.properties.entityId === id);
    }, entityId, { timeout: 30000, polling: 100 });
    await page.evaluate(() => new Promise((resolve) => {
      const { map } = window.atlas4d;
      map.once("idle", resolve);
      map.triggerRepaint(); // an idle map fires "idle" again only after something renders
    }));
    out.live = await page.evaluate((id) => {
      const { map } = window.atlas4d;
      const drawn = map.queryRenderedFeatures({ layers: ["live"] }).filter((f) => f.properties.entityId === id);
      return { rendered: drawn.map((f) => ({ coordinates: f.geometry.coordinates, sourceType: f.properties.sourceType })) };
    }, entityId);
    out.live.written = { entityId, lon: centre[0], lat: centre[1], answer: written };

    // the time slider: six hours earlier
    const before = await loads(page);
    out.slider = await page.evaluate(() => {
      const slider = document.getElementById("time");
      slider.value = String(Number(slider.value) - 6 * 3600);
      slider.dispatchEvent(new Event("input", { bubbles: true }));
      return { value: Number(slider.value), min: Number(slider.min), max: Number(slider.max) };
    });
    await waitForLoad(page, before);
    out.afterSlider = await snapshot();

    // click the entity drawn nearest the centre of the map
    const target = await page.evaluate(() => {
      const { map } = window.atlas4d;
      const canvas = map.getCanvas().getBoundingClientRect();
      const centre = { x: canvas.width / 2, y: canvas.height / 2 };
      const features = map.queryRenderedFeatures({ layers: ["entities"] });
      let best = null;
      for (const f of features) {
        const p = map.project(f.geometry.coordinates);
        const d = Math.hypot(p.x - centre.x, p.y - centre.y);
        if (p.y > 80 && (best === null || d < best.d)) best = { d, x: p.x + canvas.left, y: p.y + canvas.top, id: f.properties.id, name: f.properties.name };
      }
      return best;
    });
    out.clicked = target;
    if (target) {
      await page.mouse.click(target.x, target.y);
      await page.waitForSelector("#panel:not([hidden]) #panel-body[data-entity]", { timeout: 30000 });
      out.panel = await page.evaluate(() => ({
        entity: document.getElementById("panel-body").dataset.entity,
        title: document.querySelector("#panel h2").textContent,
        text: document.getElementById("panel-body").textContent,
      }));
    }
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
