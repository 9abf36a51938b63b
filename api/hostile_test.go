package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/api"
)

// TestBulkJSONBodyLimit: a records body has its own limit, far below the
// file limit; past it (whether the length is announced or the body is
// streamed without one) the answer is a 413 that names the setting, and
// nothing is left behind.
func TestBulkJSONBodyLimit(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{api: api.Options{MaxBulkJSONBytes: 4 << 10}, noRun: true})
	body := `{"records": [` + strings.Repeat(`{"email": "jane@acme.test"},`, 400) + `{"email": "x@acme.test"}]}`
	for name, r := range map[string]func() io.Reader{
		"announced": func() io.Reader { return strings.NewReader(body) },
		"streamed":  func() io.Reader { return struct{ io.Reader }{strings.NewReader(body)} },
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), "application/json", r())
			if err != nil {
				t.Fatal(err)
			}
			code, _, msg := errorCode(t, resp.Body)
			if resp.StatusCode() != http.StatusRequestEntityTooLarge || code != "body_too_large" || !strings.Contains(msg, "LEADCHECK_BULK_MAX_JSON_BYTES") {
				t.Errorf("got %d %s, want 413 body_too_large naming LEADCHECK_BULK_MAX_JSON_BYTES", resp.StatusCode(), resp.Body)
			}
		})
	}
	// Within the limit, a records body is fine.
	small := `{"records": [{"email": "jane@acme.test"}]}`
	resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(small))
	if err != nil || resp.JSON202 == nil {
		t.Fatalf("small body: got %v %s", err, resp.Body)
	}
	for range 2 { // cancel, then forget
		if _, err := e.client.DeleteBulkJobWithResponse(context.Background(), resp.JSON202.Id); err != nil {
			t.Fatal(err)
		}
	}
	e.nothingLeft()
}
