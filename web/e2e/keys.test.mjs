// The widget and the demo page against a server that holds callers to a keys
// file: the 401, 403 and 429 answers here are the server's own.
import assert from "node:assert/strict";
import { describe } from "node:test";
import { browserTest, snap, waitVerdict } from "./browser.mjs";

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these scripts through \`go test ./cmd/leadcheck -run TestBrowser\``);
  return v;
}

/** The keyed server: its publishable keys and what each allows. */
const keyedURL = required("KEYED_URL").replace(/\/+$/, "");
const siteKey = required("SITE_KEY"); // for pages on SITE_URL's origin
const tightKey = required("TIGHT_KEY"); // the same origin, one check an hour
const otherSiteKey = required("OTHER_SITE_KEY"); // for https://www.acme.com only

// A customer's sign-up page on an origin of its own (served by the Go
// test) that embeds the keyed server's widget with the key it is given.
const siteURL = required("SITE_URL").replace(/\/+$/, "");

async function openSite(page, key) {
  await page.goto(siteURL + "/?key=" + encodeURIComponent(key));
  await page.waitForFunction(() => document.querySelector("#email")?.hasAttribute("data-leadcheck-status"));
}

async function submitGoesThrough(page) {
  await page.click("#signup button[type=submit]");
  await page.locator("#sent", { hasText: /./ }).waitFor();
  assert.equal(await page.textContent("#sent"), "sent", "the widget held the submit back");
}

describe("widget and demo page against a keyed server", () => {
  browserTest("a publishable key checks from its own site, across origins", async (page) => {
    await openSite(page, siteKey);
    assert.equal(await waitVerdictAfter(page, "jane@gmail.com", "valid"), "Looks good.");
    assert.deepEqual(await page.evaluate(() => window.refusals), []);
    await submitGoesThrough(page);
  });

  browserTest("a key for another site: 403 origin_not_allowed, a neutral note, submit goes", async (page) => {
    await openSite(page, otherSiteKey);
    const text = await waitVerdictAfter(page, "jane@gmail.com", "unknown");
    assert.match(text, /could not check/);
    assert.doesNotMatch(text, /key|limit|quota|origin/i, "the note speaks of keys, limits or origins");
    assert.equal(await page.getAttribute("#email", "aria-invalid"), null);
    const refusals = await page.evaluate(() => window.refusals);
    assert.equal(refusals.length, 1, JSON.stringify(refusals));
    assert.equal(refusals[0].status, 403);
    assert.equal(refusals[0].code, "origin_not_allowed");
    assert.ok(refusals[0].message, "the server's message did not reach the page");
    await snap(page, "keyed 403 origin not allowed");
    await submitGoesThrough(page);
  });

  browserTest("the demo page without a key shows the server's 401 message", async (page) => {
    await page.fill("#email", "jane@gmail.com");
    await page.press("#email", "Tab");
    const text = await waitVerdict(page, "#email", "unknown");
    assert.match(text, /could not check/);
    await page.locator("#lead-note", { hasText: "401 missing_api_key" }).waitFor();
    assert.match(await page.textContent("#lead-note"), /Enter an API key below/);
    await snap(page, "keyed 401 on the demo page");
    await page.click("#lead-form button[type=submit]");
    await page.locator("#sent", { hasText: "Lead accepted." }).waitFor();
  }, { url: keyedURL + "/" });

  browserTest("past a key's rate limit: 429 rate_limited, then a neutral note", async (page) => {
    // One check an hour: the first is answered, the next refused.
    await page.fill("#bulk-key", tightKey);
    await page.fill("#email", "jane@gmail.com");
    await page.press("#email", "Tab");
    assert.equal(await waitVerdict(page, "#email", "valid"), "Looks good.");

    await page.fill("#email", "joe@gmail.com");
    await page.press("#email", "Tab");
    const text = await waitVerdict(page, "#email", "unknown");
    assert.match(text, /you can still send the form/);
    assert.doesNotMatch(text, /key|limit|quota/i, "the note speaks of keys or limits");
    await page.locator("#lead-note", { hasText: "429 rate_limited" }).waitFor();
    await snap(page, "keyed 429 on the demo page");
    await page.click("#lead-form button[type=submit]");
    await page.locator("#sent", { hasText: "Lead accepted." }).waitFor();
  }, { url: keyedURL + "/" });
});

// waitVerdictAfter types an address into #email, leaves the field and waits
// for the verdict.
async function waitVerdictAfter(page, value, verdict) {
  await page.fill("#email", value);
  await page.press("#email", "Tab");
  return waitVerdict(page, "#email", verdict);
}
