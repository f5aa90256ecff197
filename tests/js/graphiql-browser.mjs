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
    const isPost = (r) => r.request().method() === "POST" && new URL(r.url()).pathname === new URL(url).pathname;
    const schemaLoaded = page.waitForResponse(isPost, { timeout: 90000 });  // GraphiQL's introspection
    const response = await page.goto(url, { waitUntil: "load" });
    out.status = response.status();
    out.title = await page.title();
    await page.waitForSelector(".graphiql-container", { timeout: 90000 });
    await page.waitForSelector(".atlas4d-examples button", { timeout: 90000 });
    out.schemaStatus = (await schemaLoaded).status();
    out.examples = await page.$$eval(".atlas4d-examples button", (buttons) => buttons.map((b) => b.textContent));
    await page.click(`.atlas4d-examples button:text-is("${example}")`);
    const editorText = (selector) =>
      page.evaluate((s) => document.querySelector(s)?.CodeMirror?.getValue() ?? null, selector);
    out.query = await editorText(".graphiql-query-editor .CodeMirror");
    const [executed] = await Promise.all([
      page.waitForResponse(isPost, { timeout: 90000 }),
      page.click(".graphiql-execute-button"),
    ]);
    out.executeStatus = executed.status();
    try {
      await page.waitForFunction(
        () => (document.querySelector(".result-window .CodeMirror")?.CodeMirror?.getValue() ?? "").trim() !== "",
        null,
        { timeout: 90000, polling: 200 },
      );
    } finally {
      out.resultText = await editorText(".result-window .CodeMirror");
    }
    out.result = JSON.parse(out.resultText);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
