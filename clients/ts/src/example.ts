// A typed leadcheck client for the browser or Node, built from the types
// generated from openapi.yaml. `tsc --noEmit` checks it in CI, so a change to
// the contract that breaks callers breaks the build.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type ValidateResponse = components["schemas"]["ValidateResponse"];
export type BulkJob = components["schemas"]["BulkJob"];

export function leadcheck(baseUrl: string, apiKey?: string) {
  return createClient<paths>({
    baseUrl,
    headers: apiKey ? { "X-API-Key": apiKey } : {},
  });
}

// validateLead checks one lead and tells a form what to show.
export async function validateLead(
  client: ReturnType<typeof leadcheck>,
  email: string,
  phone?: string,
  country?: string,
): Promise<{ ok: boolean; hint?: string; result?: ValidateResponse }> {
  const { data, error } = await client.POST("/v1/validate", {
    body: { email, phone, country },
  });
  if (error) {
    // A 4xx names the field and the fix.
    return { ok: true, hint: `${error.error.field ?? "request"}: ${error.error.message}` };
  }
  // Only a definite "invalid" should stop a form; "unknown" never does.
  const ok = data.verdict !== "invalid";
  return { ok, hint: data.email?.did_you_mean, result: data };
}

// waitForJob uploads records, polls until the job ends and returns the CSV.
export async function cleanRecords(
  client: ReturnType<typeof leadcheck>,
  records: Array<Record<string, string>>,
  onProgress: (job: BulkJob) => void,
): Promise<string> {
  const created = await client.POST("/v1/bulk", {
    body: { records },
  });
  if (created.error) throw new Error(created.error.error.message);
  let job: BulkJob = created.data;
  while (job.status === "queued" || job.status === "running") {
    await new Promise((r) => setTimeout(r, 500));
    const polled = await client.GET("/v1/bulk/{id}", { params: { path: { id: job.id } } });
    if (polled.error) throw new Error(polled.error.error.message);
    job = polled.data;
    onProgress(job);
  }
  if (job.status !== "completed") throw new Error(`job ${job.status}: ${job.error ?? ""}`);
  const results = await client.GET("/v1/bulk/{id}/results", {
    params: { path: { id: job.id }, query: { format: "csv" } },
    parseAs: "text",
  });
  if (results.error) throw new Error(results.error.error.message);
  return results.data as string;
}
