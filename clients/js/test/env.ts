// The live server the Python test harness started (tests/clients/test_js_sdk.py sets ATLAS4D_URL).
const base = process.env.ATLAS4D_URL;
if (!base) throw new Error("ATLAS4D_URL is not set: run these tests through tests/clients/test_js_sdk.py");
export const GRAPHQL_URL = `${base.replace(/\/$/, "")}/graphql`;

/** Runs `body` with console.warn/console.error recorded, returning what was logged. */
export async function logged(body: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const { warn, error } = console;
  console.warn = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    await body();
  } finally {
    console.warn = warn;
    console.error = error;
  }
  return lines;
}
