package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// manyDomains is a zone of n domains that receive mail, and a CSV with one
// row per domain (email, n), so every row costs a DNS round trip.
func manyDomains(n int) (zoneText, csv string) {
	var z, f strings.Builder
	z.WriteString("$ORIGIN many.\n@ 300 IN SOA ns.many. h.many. 1 3600 600 86400 60\n")
	f.WriteString("email,n\n")
	for i := range n {
		fmt.Fprintf(&z, "d%d 300 IN MX 10 mx.d%d.many.\n", i, i)
		fmt.Fprintf(&f, "lead%d@d%d.many,%d\n", i, i, i)
	}
	return z.String(), f.String()
}

func multipartFile(t *testing.T, content string, fields map[string]string) (string, *bytes.Buffer) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	part, err := mw.CreateFormFile("file", "leads.csv")
	if err != nil {
		t.Fatal(err)
	}
	part.Write([]byte(content))
	mw.Close()
	return mw.FormDataContentType(), &b
}

func getJob(t *testing.T, c *client.ClientWithResponses, id string) client.BulkJob {
	t.Helper()
	resp, err := c.GetBulkJobWithResponse(context.Background(), id)
	if err != nil || resp.JSON200 == nil {
		t.Fatalf("get job %s: %v %v", id, err, resp)
	}
	return *resp.JSON200
}

// TestBulkKillResume: kill -9 the server mid-job, start it again on the
// same data directory, and the job completes with every row exactly once.
func TestBulkKillResume(t *testing.T) {
	t.Parallel()
	const rows = 1500
	zoneSrc, file := manyDomains(rows)
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zoneSrc, Latency: 20 * time.Millisecond})
	env := map[string]string{
		"LEADCHECK_DNS":          dnsSrv.Addr(),
		"LEADCHECK_DATA_DIR":     t.TempDir(),
		"LEADCHECK_BULK_WORKERS": "4",
	}
	first := startProcess(t, env)
	c := newClient(t, first.base)
	ct, body := multipartFile(t, file, nil)
	created, err := c.CreateBulkJobWithBodyWithResponse(context.Background(), ct, body)
	if err != nil || created.JSON202 == nil {
		t.Fatalf("create: %v %s", err, created.Body)
	}
	id := created.JSON202.Id
	deadline := time.Now().Add(30 * time.Second)
	for {
		job := getJob(t, c, id)
		if job.ProcessedRows >= 200 {
			if job.Status != client.BulkStatusRunning || job.ProcessedRows >= rows {
				t.Fatalf("got %s with %d rows, want it running and unfinished; slow the DNS down", job.Status, job.ProcessedRows)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job made no progress in 30s: %+v; logs:\n%s", job, first.logs.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done

	// The restart may use another worker count: the checkpoint counts
	// rows, not chunks.
	env["LEADCHECK_BULK_WORKERS"] = "64"
	second := startProcess(t, env)
	c = newClient(t, second.base)
	if job := getJob(t, c, id); job.Status != client.BulkStatusRunning && job.Status != client.BulkStatusCompleted {
		t.Fatalf("after restart: got %s, want running (resumed)", job.Status)
	}
	deadline = time.Now().Add(60 * time.Second)
	var job client.BulkJob
	for {
		job = getJob(t, c, id)
		if job.Status == client.BulkStatusCompleted {
			break
		}
		if job.Status != client.BulkStatusRunning || time.Now().After(deadline) {
			t.Fatalf("after restart: got %s with %d rows; logs:\n%s", job.Status, job.ProcessedRows, second.logs.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Every row is valid, or unknown when the loaded machine let a DNS
	// query time out; never invalid, never missing or twice.
	if job.ProcessedRows != rows || job.Counts.Valid+job.Counts.Unknown != rows {
		t.Errorf("got %d rows, %+v, want %d valid", job.ProcessedRows, job.Counts, rows)
	}
	if job.Counts.Unknown > 0 {
		t.Logf("%d rows unknown (DNS timeouts under load)", job.Counts.Unknown)
	}
	format := client.GetBulkResultsParamsFormat("ndjson")
	res, err := c.GetBulkResultsWithResponse(context.Background(), id, &client.GetBulkResultsParams{Format: &format})
	if err != nil || res.StatusCode() != http.StatusOK {
		t.Fatalf("results: %v %d", err, res.StatusCode())
	}
	dec := json.NewDecoder(bytes.NewReader(res.Body))
	for i := 0; ; i++ {
		var row struct {
			Row    int               `json:"row"`
			Record map[string]string `json:"record"`
			Result struct {
				Verdict string
				Email   struct{ DNS struct{ Error string } }
			}
		}
		if err := dec.Decode(&row); errors.Is(err, io.EOF) {
			if i != rows {
				t.Errorf("got %d rows, want %d", i, rows)
			}
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if row.Row != i+1 || row.Record["n"] != strconv.Itoa(i) || (row.Result.Verdict != "valid" && row.Result.Verdict != "unknown") {
			t.Fatalf("position %d: got row %d n=%s %s (%s), want row %d n=%d valid", i, row.Row, row.Record["n"], row.Result.Verdict, row.Result.Email.DNS.Error, i+1, i)
		}
		if row.Result.Verdict == "unknown" {
			t.Logf("row %d unknown: %s", row.Row, row.Result.Email.DNS.Error)
		}
	}
	csvRes, err := c.GetBulkResultsWithResponse(context.Background(), id, nil)
	if err != nil || csvRes.StatusCode() != http.StatusOK {
		t.Fatalf("csv results: %v", err)
	}
	table, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(csvRes.Body, []byte("\xef\xbb\xbf")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(table) != rows+1 {
		t.Fatalf("csv: got %d lines, want %d", len(table), rows+1)
	}
	for i, r := range table[1:] {
		if r[1] != strconv.Itoa(i) {
			t.Fatalf("csv line %d: got n=%s, want %d", i+2, r[1], i)
		}
	}
}

// TestBulkThroughServer runs the server in-process with keys, a data
// directory and private webhooks allowed, and drives it with the bulk
// command (--server) and a signed webhook.
func TestBulkThroughServer(t *testing.T) {
	t.Parallel()
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone})
	dataDir := t.TempDir()
	srv := serveInProcess(t, map[string]string{
		"LEADCHECK_DNS":                    dnsSrv.Addr(),
		"LEADCHECK_DATA_DIR":               dataDir,
		"LEADCHECK_API_KEYS":               "k1",
		"LEADCHECK_ALLOW_PRIVATE_NETWORKS": "true",
		"LEADCHECK_WEBHOOK_BACKOFF":        "50ms",
		"LEADCHECK_BULK_MAX_UPLOAD_BYTES":  "2000",
	})
	base := srv.base
	ctx := t.Context()

	// The generated secret is stored 0600 and its path (never the secret)
	// is logged.
	secretPath := filepath.Join(dataDir, "webhook-secret")
	secret, err := os.ReadFile(secretPath)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(secretPath); st.Mode().Perm() != 0o600 {
		t.Errorf("secret mode: got %v, want 0600", st.Mode())
	}
	if logs := srv.logs.text(); !strings.Contains(logs, secretPath) || strings.Contains(logs, strings.TrimSpace(string(secret))) {
		t.Errorf("logs must name the secret's path and not the secret:\n%s", logs)
	}

	leads := filepath.Join(t.TempDir(), "leads.csv")
	if err := os.WriteFile(leads, []byte("Email,Phone\njane@acme.test,(415) 555-0100\njoe@missing.test,\n=cmd|x,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = run(ctx, []string{"leadcheck", "bulk", "--server", base, "--api-key", "k1", "--default-country", "US", "--poll", "20ms", "--format", "ndjson", leads}, envMap(nil), &out)
	if !errors.Is(err, errSomeInvalid) {
		t.Fatalf("bulk --server: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), ": 1 valid, 2 invalid, 0 risky, 0 unknown") {
		t.Errorf("summary: got %q", out.String())
	}
	got, err := os.ReadFile(strings.TrimSuffix(leads, ".csv") + ".leadcheck.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(got, []byte("\n")); n != 3 {
		t.Errorf("results: got %d lines, want 3:\n%s", n, got)
	}
	if err := run(ctx, []string{"leadcheck", "bulk", "--server", base, leads}, envMap(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "missing_api_key") {
		t.Errorf("without a key: got %v, want missing_api_key", err)
	}

	// The upload limit comes from LEADCHECK_BULK_MAX_UPLOAD_BYTES.
	c, err := client.NewClientWithResponses(base, client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		r.Header.Set("X-API-Key", "k1")
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	ct, body := multipartFile(t, "email\n"+strings.Repeat("jane@acme.test\n", 200), nil)
	big, err := c.CreateBulkJobWithBodyWithResponse(ctx, ct, body)
	if err != nil || big.StatusCode() != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize: got %v %v, want 413", big.StatusCode(), err)
	}

	// A webhook to a local receiver (allowed by
	// LEADCHECK_ALLOW_PRIVATE_NETWORKS) verifies with the stored secret.
	verifier, err := standardwebhooks.NewWebhook(strings.TrimSpace(string(secret)))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls int
	var verr error
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if err := verifier.Verify(b, r.Header); err != nil {
			verr = err
		}
		if calls < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer rcv.Close()
	ct, body = multipartFile(t, "email\njane@acme.test\n", map[string]string{"webhook_url": rcv.URL})
	created, err := c.CreateBulkJobWithBodyWithResponse(ctx, ct, body)
	if err != nil || created.JSON202 == nil {
		t.Fatalf("create: %v %s", err, created.Body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		job := getJob(t, c, created.JSON202.Id)
		if w := job.Webhook; w != nil && w.Delivered != nil && *w.Delivered {
			if len(w.Attempts) != 3 {
				t.Errorf("attempts: got %d, want 3", len(w.Attempts))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook not delivered: %+v", job.Webhook)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if verr != nil || calls != 3 {
		t.Errorf("receiver: %d calls, verify error %v", calls, verr)
	}
}

// TestBulkCommandLocal runs `leadcheck bulk FILE` with no server.
func TestBulkCommandLocal(t *testing.T) {
	t.Parallel()
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone})
	dir := t.TempDir()
	leads := filepath.Join(dir, "leads.csv")
	if err := os.WriteFile(leads, []byte("Email;Mobile;Note\njane@acme.test;020 7946 0958;=1+1\njoe@missing.test;;\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envMap(map[string]string{"LEADCHECK_DNS": dnsSrv.Addr(), "LEADCHECK_DATA_DIR": filepath.Join(dir, "unused")})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"leadcheck", "bulk", "--default-country", "GB", "--poll", "10ms", leads}, env, &out); !errors.Is(err, errSomeInvalid) {
		t.Fatalf("bulk: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), ": 1 valid, 1 invalid") || !strings.Contains(out.String(), strings.TrimSuffix(leads, ".csv")+".leadcheck.csv") {
		t.Errorf("summary: got %q", out.String())
	}
	got, err := os.ReadFile(strings.TrimSuffix(leads, ".csv") + ".leadcheck.csv")
	if err != nil {
		t.Fatal(err)
	}
	body, ok := bytes.CutPrefix(got, []byte("\xef\xbb\xbf"))
	if !ok {
		t.Error("results lack the UTF-8 BOM")
	}
	// A semicolon file comes back with semicolons.
	r := csv.NewReader(bytes.NewReader(body))
	r.Comma = ';'
	table, err := r.ReadAll()
	if err != nil || len(table) != 3 {
		t.Fatalf("results: %v %q", err, table)
	}
	if table[0][0] != "Email" || table[0][3] != "leadcheck_verdict" || table[1][2] != "'=1+1" || table[1][3] != "valid" || table[2][3] != "invalid" {
		t.Errorf("results: got %q", table)
	}
	if _, err := os.Stat(filepath.Join(dir, "unused")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the in-process command touched the data directory: %v", err)
	}

	// A filter and another format and path.
	outPath := filepath.Join(dir, "valid.ndjson")
	if err := run(context.Background(), []string{"leadcheck", "bulk", "--default-country", "GB", "--format", "ndjson", "--verdict", "valid", "-o", outPath, leads}, env, io.Discard); !errors.Is(err, errSomeInvalid) {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outPath); bytes.Count(got, []byte("\n")) != 1 || !bytes.Contains(got, []byte("jane@acme.test")) {
		t.Errorf("filtered ndjson: got %s", got)
	}

	// Bad input says what is wrong with the file and writes nothing.
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("first,last\nJane,Doe\n"), 0o600)
	err = run(context.Background(), []string{"leadcheck", "bulk", bad}, env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "first, last") {
		t.Errorf("no lead column: got %v, want the headers named", err)
	}
	if _, err := os.Stat(strings.TrimSuffix(bad, filepath.Ext(bad)) + ".leadcheck.csv"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a results file was written for a bad input: %v", err)
	}
	if err := run(context.Background(), []string{"leadcheck", "bulk"}, env, io.Discard); err == nil {
		t.Error("no FILE: got nil error")
	}
}

func TestBulkSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LEADCHECK_BULK_WORKERS": "0"}, "LEADCHECK_BULK_WORKERS"},
		{map[string]string{"LEADCHECK_BULK_CONCURRENT_JOBS": "many"}, "LEADCHECK_BULK_CONCURRENT_JOBS"},
		{map[string]string{"LEADCHECK_BULK_MAX_ROWS": "-1"}, "LEADCHECK_BULK_MAX_ROWS"},
		{map[string]string{"LEADCHECK_BULK_MAX_UPLOAD_BYTES": "1GB"}, "LEADCHECK_BULK_MAX_UPLOAD_BYTES"},
		{map[string]string{"LEADCHECK_BULK_RETENTION": "a week"}, "LEADCHECK_BULK_RETENTION"},
		{map[string]string{"LEADCHECK_WEBHOOK_SECRET": "hunter2"}, "LEADCHECK_WEBHOOK_SECRET"},
		{map[string]string{"LEADCHECK_WEBHOOK_BACKOFF": "0s"}, "LEADCHECK_WEBHOOK_BACKOFF"},
	}
	for _, tt := range tests {
		err := run(context.Background(), []string{"leadcheck", "serve"}, envMap(tt.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v: got %v, want an error naming %s", tt.env, err, tt.want)
		}
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, _, err := loadConfig(fs, nil, envMap(map[string]string{
		"LEADCHECK_BULK_WORKERS": "16", "LEADCHECK_BULK_CONCURRENT_JOBS": "3", "LEADCHECK_BULK_MAX_ROWS": "10",
		"LEADCHECK_BULK_MAX_UPLOAD_BYTES": "1000", "LEADCHECK_BULK_RETENTION": "24h",
		"LEADCHECK_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "LEADCHECK_WEBHOOK_BACKOFF": "1s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := bulkConfig{Workers: 16, ConcurrentJobs: 3, MaxRows: 10, MaxUploadBytes: 1000, Retention: 24 * time.Hour,
		WebhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", WebhookBackoff: time.Second}
	if cfg.Bulk != want {
		t.Errorf("got %+v, want %+v", cfg.Bulk, want)
	}
}
