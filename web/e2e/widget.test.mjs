// The on-blur widget on the demo page's lead form, in headless Chromium.
import assert from "node:assert/strict";
import { describe } from "node:test";
import { browserTest, snap, statusOf, waitMs, waitVerdict } from "./browser.mjs";

// Names the Go test's DNS server answers slowly (never: the check ends at
// the DNS timeout) and with SERVFAIL.
const slowDomain = process.env.SLOW_DOMAIN || "slow.test";
const servfailDomain = process.env.SERVFAIL_DOMAIN || "flaky.test";

const suggestion = ".leadcheck-suggestion";

describe("on-blur widget", () => {
  browserTest("typo suggestion fixes the email in one click", async (page) => {
    await page.fill("#email", "jane@gmial.com");
    await page.press("#email", "Tab");
    const text = await waitVerdict(page, "#email", "invalid");
    const status = await statusOf(page, "#email");
    const button = status.locator(suggestion);
    assert.equal(await button.textContent(), "Did you mean jane@gmail.com?", `status: "${text}"`);
    assert.equal(await page.getAttribute("#email", "aria-invalid"), "true");
    await snap(page, "typo suggestion shown");

    await button.click();
    assert.equal(await page.inputValue("#email"), "jane@gmail.com");
    const fixed = await waitVerdict(page, "#email", "valid");
    assert.equal(fixed, "Looks good.");
    assert.equal(await page.getAttribute("#email", "aria-invalid"), null);
    assert.equal(await status.locator(suggestion).count(), 0, "the suggestion is still shown");
  });

  browserTest("without a country select, the phone's data-country is its country", async (page) => {
    await page.evaluate(() => {
      document.querySelector("#country").remove();
      document.querySelector("#phone").setAttribute("data-country", "GB");
    });
    await page.fill("#phone", "020 7946 0958");
    await page.press("#phone", "Tab");
    assert.equal(await waitVerdict(page, "#phone", "valid"), "Looks good.");
    assert.equal(await page.inputValue("#phone"), "+442079460958");
  });

  browserTest("a phone in national format is rewritten in E.164", async (page) => {
    await page.selectOption("#country", "US");
    await page.fill("#phone", "(415) 555-0132");
    await page.press("#phone", "Tab");
    assert.equal(await waitVerdict(page, "#phone", "valid"), "Looks good.");
    assert.equal(await page.inputValue("#phone"), "+14155550132");

    // The country select is the phone's country, and changing it checks
    // the phone again.
    await page.fill("#phone", "020 7946 0958");
    await page.selectOption("#country", "GB");
    await page.waitForFunction(() => document.querySelector("#phone").value === "+442079460958", null, { timeout: waitMs });
    assert.equal(await waitVerdict(page, "#phone", "valid"), "Looks good.");
  });

  browserTest("keyboard: Tab reaches the suggestion and Enter applies it", async (page) => {
    const status = await statusOf(page, "#email");
    assert.equal(await status.getAttribute("role"), "status");
    assert.equal(await status.getAttribute("aria-live"), "polite");
    const describedBy = (await page.getAttribute("#email", "aria-describedby")) || "";
    assert.ok(describedBy.split(" ").includes(await status.getAttribute("id")), `aria-describedby is "${describedBy}"`);

    await page.focus("#email");
    await page.keyboard.type("jane@gmial.com");
    await page.keyboard.press("Tab");
    await waitVerdict(page, "#email", "invalid");
    await status.locator(suggestion).waitFor();

    // Focus went on to the country select before the suggestion came: one
    // Shift+Tab reaches it, and from the field it is the next Tab stop.
    const onSuggestion = () =>
      page.waitForFunction(() => document.activeElement?.classList.contains("leadcheck-suggestion"), null, {
        timeout: waitMs,
      });
    await page.keyboard.press("Shift+Tab");
    await onSuggestion();
    await page.keyboard.press("Shift+Tab");
    await page.waitForFunction(() => document.activeElement?.id === "email", null, { timeout: waitMs });
    await page.keyboard.press("Tab");
    await onSuggestion();
    await snap(page, "suggestion focused from the keyboard");
    await page.keyboard.press("Enter");
    assert.equal(await page.inputValue("#email"), "jane@gmail.com");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "email", "focus did not return to the field");
    assert.equal(await waitVerdict(page, "#email", "valid"), "Looks good.");
  });

  // The 401, 403 and 429 refusals come from a real keyed server in
  // keys.test.mjs.

  browserTest("a network error never blocks submit", async (page) => {
    let aborted = 0;
    await page.route("**/v1/validate?**", (route) => {
      aborted++;
      return route.abort("connectionrefused");
    });
    await page.fill("#email", "jane@acme.test");
    await page.press("#email", "Tab");
    assert.equal(await waitVerdict(page, "#email", "unknown"), "");
    assert.equal(aborted, 1, "requests to /v1/validate");
    await page.click("#lead-form button[type=submit]");
    await page.locator("#sent", { hasText: "Lead accepted." }).waitFor();
  });

  browserTest("unknown never blocks submit, invalid does", async (page) => {
    await page.fill("#email", `joe@${servfailDomain}`);
    await page.press("#email", "Tab");
    assert.equal(await waitVerdict(page, "#email", "unknown"), "");
    await page.click("#lead-form button[type=submit]");
    await page.locator("#sent", { hasText: "Lead accepted." }).waitFor();

    await page.fill("#email", "joe@nosuch.test");
    await page.press("#email", "Tab");
    const text = await waitVerdict(page, "#email", "invalid");
    assert.match(text, /does not exist/);
    await page.click("#lead-form button[type=submit]");
    await page.locator("#sent", { hasText: "Please fix" }).waitFor();
    await snap(page, "invalid blocks submit");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "email", "focus is not on the invalid field");

    // Fixing the value lifts the block at once, before any new check.
    await page.fill("#email", "joe@acme.test");
    await page.press("#email", "Enter");
    await page.locator("#sent", { hasText: "Lead accepted." }).waitFor();
  });

  browserTest("a newer value cancels the request for an older one", async (page) => {
    const sent = [];
    const failed = [];
    page.on("request", (r) => r.url().includes("/v1/validate") && sent.push(new URL(r.url()).searchParams.get("email")));
    page.on("requestfailed", (r) => {
      if (r.url().includes("/v1/validate")) failed.push([new URL(r.url()).searchParams.get("email"), r.failure()?.errorText]);
    });

    const slow = `jane@${slowDomain}`;
    const slowRequest = page.waitForRequest((r) => r.url().includes(encodeURIComponent(slow)));
    await page.fill("#email", slow);
    await page.press("#email", "Tab");
    await slowRequest; // in flight: its DNS lookup cannot finish for seconds

    await page.fill("#email", "jane@acme.test");
    await page.press("#email", "Tab");
    assert.equal(await waitVerdict(page, "#email", "valid"), "Looks good.");
    assert.deepEqual(sent, [slow, "jane@acme.test"]);
    assert.equal(failed.length, 1, `failed requests: ${JSON.stringify(failed)}`);
    assert.equal(failed[0][0], slow);
    assert.match(failed[0][1], /ABORTED/);
    assert.equal(await page.inputValue("#email"), "jane@acme.test");
    const status = await statusOf(page, "#email");
    assert.equal(await status.getAttribute("aria-busy"), null, "the status is still marked busy");
  });
});
