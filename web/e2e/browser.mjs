// Shared set-up of the browser tests: where the server is, how Chromium is
// launched, and a wrapper that gives each test a fresh page and saves a
// screenshot of it whatever the outcome.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { chromium } from "playwright-core";

/** The leadcheck server under test, e.g. http://127.0.0.1:43210 (no trailing slash). */
export const baseURL = (process.env.BASE_URL || "").replace(/\/+$/, "");
if (!baseURL) {
  throw new Error("BASE_URL is not set: run these scripts through `go test ./cmd/leadcheck -run TestBrowser`");
}

/** Where screenshots go. */
export const artifacts = process.env.ARTIFACTS || new URL("../../artifacts/", import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });

/** How long any one wait may take; generous, machines are noisy. */
export const waitMs = 15_000;

let browser;

before(async () => {
  // launch() gives every run a fresh, throw-away user data dir.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox", // Chromium's sandbox refuses to run as root, as CI does
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

after(async () => {
  await browser?.close();
});

function slug(name) {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
}

/**
 * browserTest is `it` with a fresh browser context and page opened on the
 * demo page (or options.url); the page's console errors fail the test, and a full-page
 * screenshot is saved to ARTIFACTS/<name>.png when the test ends.
 */
export function browserTest(name, fn, options = {}) {
  const { url = baseURL + "/", ...itOptions } = options;
  it(name, itOptions, async (t) => {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(waitMs);
    const pageErrors = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));
    try {
      await page.goto(url);
      await fn(page, t);
      if (pageErrors.length) throw new Error("the page threw: " + pageErrors.join("; "));
    } finally {
      await snap(page, name).catch(() => {});
      await context.close();
    }
  });
}

/** snap saves a full-page screenshot as ARTIFACTS/<name>.png. */
export async function snap(page, name) {
  await page.screenshot({ path: join(artifacts, slug(name) + ".png"), fullPage: true });
}

/** statusOf is the live region the widget keeps under input. */
export async function statusOf(page, input) {
  const id = await page.locator(input).getAttribute("data-leadcheck-status");
  if (!id) throw new Error(`${input} has no status region: the widget did not attach`);
  return page.locator("#" + id);
}

/**
 * waitVerdict waits until the widget has shown a verdict for input and
 * returns it with the status text.
 */
export async function waitVerdict(page, input, verdict) {
  const status = await statusOf(page, input);
  try {
    await page.waitForFunction(
      ([sel, want]) => document.querySelector(sel)?.getAttribute("data-leadcheck-verdict") === want,
      [input, verdict],
      { timeout: waitMs },
    );
  } catch (err) {
    const got = await page.locator(input).getAttribute("data-leadcheck-verdict");
    throw new Error(`${input}: got verdict ${got} (status "${await status.textContent()}"), want ${verdict}`);
  }
  return (await status.textContent()).trim();
}
