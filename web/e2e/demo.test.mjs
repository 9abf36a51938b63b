// The demo page's bulk panel, in headless Chromium: upload a CSV, watch the
// progress bar reach 100 %, read the counts, download the results.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe } from "node:test";
import { browserTest, waitMs } from "./browser.mjs";

const rows = [
  ["name", "email", "phone", "country"],
  ["Jane", "jane@gmail.com", "(415) 555-0132", "US"],
  ["Joe", "joe@nosuch.test", "", "US"],
  ["Ann", "ann@acme.test", "020 7946 0958", "GB"],
  // No country of its own: read in the country chosen for the upload.
  ["Kim", "kim@acme.test", "(415) 555-0177", ""],
];

/** writeLeads writes rows as a CSV file in a fresh directory. */
function writeLeads(t) {
  const dir = mkdtempSync(join(tmpdir(), "leadcheck-e2e-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "leads.csv");
  writeFileSync(file, rows.map((r) => r.join(",")).join("\n") + "\n");
  return { dir, file };
}

/** parseCSV reads the small, well-formed CSV the results download is. */
function parseCSV(text) {
  const out = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      out.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  if (cell || row.length) {
    row.push(cell);
    out.push(row);
  }
  return out;
}

describe("demo page", () => {
  browserTest("bulk upload shows progress, counts and a download", async (page, t) => {
    const { dir, file } = writeLeads(t);

    // Every value the progress bar takes, in order.
    await page.evaluate(() => {
      const bar = document.querySelector("#bulk-progress");
      window.progressSeen = [];
      new MutationObserver(() => window.progressSeen.push(bar.value)).observe(bar, {
        attributes: true,
        attributeFilter: ["value"],
      });
    });
    await page.setInputFiles("#bulk-file", file);
    await page.click("#bulk-form button[type=submit]");

    await page.waitForFunction(() => document.querySelector("#bulk-progress").value === 100, null, { timeout: waitMs });
    const seen = await page.evaluate(() => window.progressSeen);
    assert.equal(seen.at(-1), 100, `progress values: ${seen}`);
    assert.deepEqual([...seen].sort((a, b) => a - b), seen, `progress went backwards: ${seen}`);

    const link = page.locator("#bulk-download");
    await link.waitFor({ state: "visible" });
    const state = await page.textContent("#bulk-state");
    assert.match(state, /^Completed/, `state: ${state}`);
    assert.match(state, /4 of 4 rows/, `state: ${state}`);
    const count = async (v) => Number(await page.textContent("#count-" + v));
    assert.deepEqual(
      { valid: await count("valid"), invalid: await count("invalid"), risky: await count("risky"), unknown: await count("unknown") },
      { valid: 3, invalid: 1, risky: 0, unknown: 0 },
    );
    assert.equal(await page.isHidden("#bulk-advice"), true, "advice shown for a job that needs none");

    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    const saved = join(dir, "results.csv");
    await download.saveAs(saved);
    const table = parseCSV(readFileSync(saved, "utf8").replace(/^\uFEFF/, ""));
    const header = table[0];
    assert.deepEqual(header.slice(0, rows[0].length), rows[0], "original columns first, in order");
    const verdict = header.indexOf("leadcheck_verdict");
    assert.notEqual(verdict, -1, `no leadcheck_verdict column in ${header}`);
    const byEmail = Object.fromEntries(table.slice(1).map((r) => [r[1], r[verdict]]));
    assert.deepEqual(byEmail, {
      "jane@gmail.com": "valid",
      "joe@nosuch.test": "invalid",
      "ann@acme.test": "valid",
      "kim@acme.test": "valid",
    });
  });

  browserTest("bulk upload without a country leaves national numbers unknown and says so", async (page, t) => {
    const { file } = writeLeads(t);
    await page.selectOption("#bulk-country", "");
    await page.setInputFiles("#bulk-file", file);
    await page.click("#bulk-form button[type=submit]");
    await page.locator("#bulk-download").waitFor({ state: "visible" });
    const count = async (v) => Number(await page.textContent("#count-" + v));
    assert.deepEqual(
      { valid: await count("valid"), invalid: await count("invalid"), unknown: await count("unknown") },
      { valid: 2, invalid: 1, unknown: 1 },
    );
    const advice = await page.textContent("#bulk-advice");
    assert.match(advice, /^1 phone number had no country/, `advice: ${advice}`);
    assert.equal(await page.isVisible("#bulk-advice"), true);
  });
});
