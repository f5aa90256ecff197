// Open our REST docs page (/docs, Swagger UI from our own files) in headless Chromium (Debian's, driven by
// playwright-core), try one operation, and report. Usage: node swagger-browser.mjs URL OPERATION_ID
// Prints one JSON line. Every request is recorded; one to another host than 127.0.0.1 is aborted and reported
// (the page must work offline).
import { chromium } from "playwright-core";

const [url, operationId] = process.argv.slice(2);
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-default-apps", "--disable-sync", "--disable-domain-reliability", "--no-first-run",
  "--metrics-recording-only", "--disable-dev-shm-usage",
];

async function main() {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: FLAGS, headless: true });
  const out = { requests: [], external: [], pageErrors: [] };
  try {
    const page = await browser.newPage();
    page.on("pageerror", (error) => out.pageErrors.push(String(error)));
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
    const response = await page.goto(url, { waitUntil: "load" });
    out.status = response.status();
    out.title = await page.title();
    await page.waitForSelector(".opblock", { timeout: 30000 });
    out.operations = await page.$$eval(".opblock .opblock-summary-path", (els) =>
      els.map((e) => e.getAttribute("data-path")),
    );
    const block = `#operations-default-${operationId}`;
    await page.click(`${block} .opblock-summary`);
    // the page enables "Try it out" by default; the button then reads "Cancel"
    await page.waitForSelector(`${block} .execute`, { timeout: 30000 });
    await page.click(`${block} .execute`);
    const answer = `${block} .live-responses-table tbody tr.response`;
    await page.waitForSelector(answer, { timeout: 30000 });
    out.responseStatus = (await page.textContent(`${answer} .response-col_status`)).trim();
    out.responseBody = await page.textContent(`${answer} .response-col_description pre`);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
