// Films a page of Debian's Chromium (driven by playwright-core) into a WebM: frames come from the DevTools
// screencast (Page.startScreencast) and are written at a constant rate to Debian's ffmpeg. Playwright's own
// recordVideo needs an ffmpeg build downloaded from Playwright's CDN, which this machine cannot reach.
//
//   node capture.mjs terminal CAST OUT.webm       asciinema-player plays the recorded quick start
//   node capture.mjs map URL OUT.webm POSTER.png  the /map page of the server at URL, driven like a visitor
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = dirname(fileURLToPath(import.meta.url));
const SIZE = { width: 1280, height: 720 };
const FPS = 10;
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-dev-shm-usage",
  "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
  "--hide-scrollbars",
];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function film(page, out, act) {
  const ffmpeg = spawn("ffmpeg", [
    "-loglevel", "error", "-y", "-f", "image2pipe", "-framerate", String(FPS), "-c:v", "mjpeg", "-i", "-",
    "-vf", "scale=960:-2", "-c:v", "libvpx-vp9", "-b:v", "0", "-crf", "40", "-deadline", "good", "-cpu-used", "4",
    "-row-mt", "1", "-pix_fmt", "yuv420p", out,
  ], { stdio: ["pipe", "inherit", "inherit"] });
  const done = new Promise((resolve, reject) => ffmpeg.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}`)))));
  const cdp = await page.context().newCDPSession(page);
  let frame = null;
  cdp.on("Page.screencastFrame", ({ data, sessionId }) => {
    frame = Buffer.from(data, "base64");
    cdp.send("Page.screencastFrameAck", { sessionId }).catch(() => {});
  });
  await cdp.send("Page.startScreencast", { format: "jpeg", quality: 85, maxWidth: SIZE.width, maxHeight: SIZE.height });
  const ticker = setInterval(() => {
    if (frame) ffmpeg.stdin.write(frame);
  }, 1000 / FPS);
  try {
    await act();
  } finally {
    clearInterval(ticker);
    await cdp.send("Page.stopScreencast").catch(() => {});
    ffmpeg.stdin.end();
  }
  await done;
}

// asciinema-player from this folder's node_modules, and the cast, on a loopback port
function playerServer(cast) {
  const bundle = join(HERE, "node_modules", "asciinema-player", "dist", "bundle");
  const files = {
    "/": ["text/html", `<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="/player.css">
      <style>body{margin:0;background:#121314;display:flex;align-items:center;justify-content:center;height:100vh}
      #p{width:1240px}</style></head><body><div id="p"></div><script src="/player.js"></script><script>
      const player = AsciinemaPlayer.create("/demo.cast", document.getElementById("p"),
        {autoPlay: true, cols: 110, rows: 30, idleTimeLimit: 1.2, speed: 1.3, fit: "width", theme: "monokai"});
      player.addEventListener("ended", () => { window.ended = true; });
      </script></body></html>`],
    "/player.js": ["text/javascript", readFileSync(join(bundle, "asciinema-player.min.js"))],
    "/player.css": ["text/css", readFileSync(join(bundle, "asciinema-player.css"))],
    "/demo.cast": ["text/plain", readFileSync(cast)],
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, "http://x").pathname];
    if (!file) return res.writeHead(404).end();
    res.writeHead(200, { "content-type": file[0] }).end(file[1]);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

async function terminal(page, cast, out) {
  const server = await playerServer(cast);
  try {
    await page.goto(`http://127.0.0.1:${server.address().port}/`, { waitUntil: "load" });
    await film(page, out, async () => {
      await page.waitForFunction(() => window.ended === true, null, { timeout: 300000, polling: 200 });
      await sleep(1500);
    });
  } finally {
    server.close();
  }
}

async function map(page, url, out, poster) {
  const loads = () => page.evaluate(() => Number(document.body.dataset.loads || 0));
  const loaded = (n) => page.waitForFunction((k) => Number(document.body.dataset.loads || 0) > k, n, { timeout: 60000 });
  await page.goto(`${url}/map`, { waitUntil: "load" });
  await loaded(0);
  await film(page, out, async () => {
    await sleep(2000);
    // the time slider, back through the evening, a step every half second
    for (let step = 0; step < 12; step += 1) {
      const before = await loads();
      await page.evaluate(() => {
        const slider = document.getElementById("time");
        slider.value = String(Number(slider.value) - 1800);
        slider.dispatchEvent(new Event("input", { bubbles: true }));
      });
      await loaded(before);
      await sleep(400);
    }
    // a wider window, then closer to the centre
    let before = await loads();
    await page.selectOption("#window", "60");
    await loaded(before);
    await sleep(1500);
    before = await loads();
    await page.evaluate(() => window.atlas4d.map.easeTo({ zoom: window.atlas4d.map.getZoom() + 1.5, duration: 2500 }));
    await sleep(2700);
    await loaded(before);
    // click the entity nearest the centre: its panel opens
    const target = await page.evaluate(() => {
      const { map } = window.atlas4d;
      const box = map.getCanvas().getBoundingClientRect();
      let best = null;
      for (const f of map.queryRenderedFeatures({ layers: ["entities"] })) {
        const p = map.project(f.geometry.coordinates);
        const d = Math.hypot(p.x - box.width / 2, p.y - box.height / 2);
        if (p.y > 80 && (!best || d < best.d)) best = { d, x: p.x + box.left, y: p.y + box.top };
      }
      return best;
    });
    if (target) {
      await page.mouse.move(target.x - 120, target.y - 60);
      await page.mouse.move(target.x, target.y, { steps: 15 });
      await page.mouse.click(target.x, target.y);
      await page.waitForSelector("#panel:not([hidden]) #panel-body[data-entity]", { timeout: 30000 });
    }
    await sleep(3500);
    await page.screenshot({ path: poster });
  });
}

async function main() {
  const [mode, source, out, poster] = process.argv.slice(2);
  const profile = mkdtempSync(join(tmpdir(), "atlas4d-video-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium", args: FLAGS, headless: true, viewport: SIZE,
  });
  try {
    const page = await context.newPage();
    await page.route("**/*", (route) => {
      const target = new URL(route.request().url());
      return target.hostname === "127.0.0.1" || target.protocol === "data:" ? route.continue() : route.abort();
    });
    if (mode === "terminal") await terminal(page, source, out);
    else await map(page, source, out, poster);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
