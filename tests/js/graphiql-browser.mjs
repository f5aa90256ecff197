// Open our GraphiQL in headless Chromium (Debian's, driven by playwright-core), pick an example, run it.
// Usage: node graphiql-browser.mjs URL EXAMPLE_LABEL; prints one JSON line with what the page did.
// Every request is recorded; one to another host than 127.0.0.1 is aborted and reported (the page must work
// offline).
import { chromium } from "playwright-core";

const [url, example] = process.argv.slice(2);
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
    await page.waitForSelector(".graphiql-container", { timeout: 30000 });
    await page.waitForSelector(".atlas4d-examples button", { timeout: 30000 });
    out.examples = await page.$$eval(".atlas4d-examples button", (buttons) => buttons.map((b) => b.textContent));
    await page.click(`.atlas4d-examples button:text-is("${example}")`);
    const editorValue = () =>
      page.evaluate(() => document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.getValue());
    out.query = await editorValue();
    await page.click(".graphiql-execute-button");
    await page.waitForFunction(
      () => {
        const cm = document.querySelector(".result-window .CodeMirror");
        return cm && cm.CodeMirror.getValue().includes('"data"');
      },
      null,
      { timeout: 30000, polling: 200 },
    );
    out.result = JSON.parse(
      await page.evaluate(() => document.querySelector(".result-window .CodeMirror").CodeMirror.getValue()),
    );
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
