package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/client"
)

// TestBulkUploadPastQuotaRefused: a file with more rows than the key has
// left today is refused with 429 quota_exceeded before anything is
// stored; one that fits is accepted and spends its rows, so the quota
// then refuses validations too.
func TestBulkUploadPastQuotaRefused(t *testing.T) {
	t.Parallel()
	set := keysFile(t, "    daily_quota: 5\n", "")
	e := newBulkEnv(t, bulkEnvOptions{api: api.Options{Keys: set}, noRun: true, headers: map[string]string{"X-API-Key": secretKey}})
	ct, body := upload{filename: "leads.csv", content: []byte("email\na@acme.test\nb@acme.test\nc@acme.test\nd@acme.test\ne@acme.test\nf@acme.test\n")}.body()
	resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, body)
	if err != nil {
		t.Fatal(err)
	}
	code, field, msg := errorCode(t, resp.Body)
	if resp.StatusCode() != http.StatusTooManyRequests || code != "quota_exceeded" || field != "file" || resp.HTTPResponse.Header.Get("Retry-After") == "" {
		t.Fatalf("6 rows against a quota of 5: got %d %s (%s)", resp.StatusCode(), code, msg)
	}
	e.nothingLeft()

	ct, body = upload{filename: "leads.csv", content: []byte("email\na@acme.test\nb@acme.test\nc@acme.test\nd@acme.test\n")}.body()
	resp, err = e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, body)
	if err != nil || resp.StatusCode() != http.StatusAccepted {
		t.Fatalf("4 rows: got %d %s %v", resp.StatusCode(), resp.Body, err)
	}
	// One validation is left, then none.
	for i, want := range []int{200, 429} {
		r, err := e.client.ValidateQueryWithResponse(context.Background(), &client.ValidateQueryParams{Domain: ptr("acme.test")})
		if err != nil || r.StatusCode() != want {
			t.Errorf("validation %d after the upload: got %d %v, want %d", i, r.StatusCode(), err, want)
		}
	}
}

// TestTooManyJobsThroughAPI: past its queued cap a key's upload is 429
// too_many_jobs with Retry-After; another key is not affected.
func TestTooManyJobsThroughAPI(t *testing.T) {
	t.Parallel()
	set := keysFile(t, "    max_queued_jobs: 1\n", "")
	e := newBulkEnv(t, bulkEnvOptions{api: api.Options{Keys: set}, noRun: true, headers: map[string]string{"X-API-Key": secretKey},
		bulk: func(c *bulk.Config) {
			c.JobLimits = func(caller string) (int, int) {
				k, _ := set.Named(caller)
				return k.MaxRunningJobs, k.MaxQueuedJobs
			}
		}})
	send := func() *client.CreateBulkJobResponse {
		ct, body := upload{filename: "leads.csv", content: []byte("email\na@acme.test\n")}.body()
		resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, body)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := send(); r.StatusCode() != http.StatusAccepted {
		t.Fatalf("first job: %d %s", r.StatusCode(), r.Body)
	}
	r := send()
	if code, _, _ := errorCode(t, r.Body); r.StatusCode() != http.StatusTooManyRequests || code != "too_many_jobs" || r.HTTPResponse.Header.Get("Retry-After") == "" {
		t.Errorf("second job: got %d %s, want 429 too_many_jobs", r.StatusCode(), r.Body)
	}
}
