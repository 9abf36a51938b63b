package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// scrape reads a metrics page as text.
func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// sample returns the value of one series line, exactly as the text format
// writes it (labels sorted by name), or "" when the series is absent.
func sample(page, series string) string {
	for line := range strings.SplitSeq(page, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// keyedClient is a generated client that sends key (none when empty).
func keyedClient(t *testing.T, base, key string) *client.ClientWithResponses {
	t.Helper()
	c, err := client.NewClientWithResponses(base, client.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
		if key != "" {
			r.Header.Set("X-API-Key", key)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitJob polls a bulk job until it and its webhook (if any) are done.
func waitJob(t *testing.T, c *client.ClientWithResponses, id string) client.BulkJob {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		job := getJob(t, c, id)
		webhookDone := job.Webhook == nil || (job.Webhook.Delivered != nil && *job.Webhook.Delivered)
		if job.Status == client.BulkStatusCompleted && webhookDone {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not done: %+v", id, job)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsCounts makes a known set of requests, a bulk job and its
// webhook, then reads /metrics and checks every count they should have
// moved, and that no address, domain or key shows in the page.
func TestMetricsCounts(t *testing.T) {
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone})
	srv := serveInProcess(t, map[string]string{
		"LEADCHECK_DNS":                    dnsSrv.Addr(),
		"LEADCHECK_API_KEYS":               "k1-secret-key",
		"LEADCHECK_ALLOW_PRIVATE_NETWORKS": "true",
		"LEADCHECK_WEBHOOK_BACKOFF":        "20ms",
	})
	ctx := t.Context()
	keyed, anon, wrong := keyedClient(t, srv.base, "k1-secret-key"), keyedClient(t, srv.base, ""), keyedClient(t, srv.base, "nope")

	status := func(code int, err error) int {
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	str := func(s string) *string { return &s }
	for _, email := range []string{"jane@acme.test", "jane@acme.test", "joe@missing.test"} {
		r, err := keyed.ValidateQueryWithResponse(ctx, &client.ValidateQueryParams{Email: str(email)})
		if got := status(r.StatusCode(), err); got != http.StatusOK {
			t.Fatalf("validate: got %d %s", got, r.Body)
		}
	}
	r, err := anon.ValidateQueryWithResponse(ctx, &client.ValidateQueryParams{Email: str("jane@acme.test")})
	if got := status(r.StatusCode(), err); got != http.StatusUnauthorized {
		t.Fatalf("no key: got %d", got)
	}
	r, err = wrong.ValidateQueryWithResponse(ctx, &client.ValidateQueryParams{Email: str("jane@acme.test")})
	if got := status(r.StatusCode(), err); got != http.StatusUnauthorized {
		t.Fatalf("wrong key: got %d", got)
	}
	r, err = keyed.ValidateQueryWithResponse(ctx, &client.ValidateQueryParams{Phone: str("4155550100"), Country: str("ZZ")})
	if got := status(r.StatusCode(), err); got != http.StatusBadRequest {
		t.Fatalf("country ZZ: got %d", got)
	}
	resp, err := http.Get(srv.base + "/no/such/route/jane@acme.test")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// A bulk job of three rows whose webhook is refused once, then taken.
	var mu sync.Mutex
	calls := 0
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer rcv.Close()
	ct, body := multipartFile(t, "email\njane@acme.test\njoe@missing.test\nnot-an-email\n", map[string]string{"webhook_url": rcv.URL})
	created, err := keyed.CreateBulkJobWithBodyWithResponse(ctx, ct, body)
	if err != nil || created.JSON202 == nil {
		t.Fatalf("create: %v %s", err, created.Body)
	}
	waitJob(t, keyed, created.JSON202.Id)

	page := scrape(t, srv.base+"/metrics")
	want := map[string]int{
		`leadcheck_http_requests_total{method="GET",route="/v1/validate",status="2xx"}`:                 3,
		`leadcheck_http_requests_total{method="GET",route="/v1/validate",status="4xx"}`:                 3,
		`leadcheck_http_requests_total{method="GET",route="unmatched",status="4xx"}`:                    1,
		`leadcheck_http_requests_total{method="POST",route="/v1/bulk",status="2xx"}`:                    1,
		`leadcheck_http_request_duration_seconds_count{method="GET",route="/v1/validate",status="2xx"}`: 3,
		// Two API answers and one bulk row each.
		`leadcheck_validations_total{field="email",reason="ok",verdict="valid"}`:               3,
		`leadcheck_validations_total{field="lead",reason="ok",verdict="valid"}`:                3,
		`leadcheck_validations_total{field="email",reason="no_such_domain",verdict="invalid"}`: 2,
		`leadcheck_validations_total{field="email",reason="invalid_syntax",verdict="invalid"}`: 1,
		`leadcheck_validations_total{field="lead",reason="invalid_syntax",verdict="invalid"}`:  1,
		`leadcheck_bulk_rows_total{verdict="valid"}`:                                           1,
		`leadcheck_bulk_rows_total{verdict="invalid"}`:                                         2,
		`leadcheck_bulk_jobs{state="completed"}`:                                               1,
		`leadcheck_bulk_jobs{state="running"}`:                                                 0,
		`leadcheck_webhook_attempts_total{outcome="http_5xx"}`:                                 1,
		`leadcheck_webhook_attempts_total{outcome="delivered"}`:                                1,
		`leadcheck_refusals_total{key="none",reason="missing_api_key"}`:                        1,
		`leadcheck_refusals_total{key="none",reason="invalid_api_key"}`:                        1,
		`leadcheck_refusals_total{key="none",reason="not_found"}`:                              1,
		// Each domain once (the cache answers the rest): MX, A, AAAA, TXT
		// and the _dmarc TXT.
		`leadcheck_dns_queries_total{outcome="noerror",type="MX"}`:                 1,
		`leadcheck_dns_queries_total{outcome="noerror",type="A"}`:                  1,
		`leadcheck_dns_queries_total{outcome="noerror",type="AAAA"}`:               1,
		`leadcheck_dns_queries_total{outcome="noerror",type="TXT"}`:                2,
		`leadcheck_dns_queries_total{outcome="nxdomain",type="MX"}`:                1,
		`leadcheck_dns_queries_total{outcome="nxdomain",type="TXT"}`:               2,
		`leadcheck_dns_query_duration_seconds_count{outcome="noerror",type="TXT"}`: 2,
		// The cache counters are still there.
		`leadcheck_cache_loads_total`: 2,
	}
	for series, n := range want {
		if got := sample(page, series); got != strconv.Itoa(n) {
			t.Errorf("%s: got %q, want %d", series, got, n)
		}
	}
	// The refusal of a keyed caller names the key by its name, never the key.
	found := false
	for line := range strings.SplitSeq(page, "\n") {
		if strings.HasPrefix(line, `leadcheck_refusals_total{key="`) && strings.Contains(line, `reason="unknown_country"`) {
			found = !strings.Contains(line, `key="none"`) && strings.HasSuffix(line, " 1")
		}
	}
	if !found {
		t.Errorf("no refusal counted for the keyed caller's unknown_country:\n%s", grepLines(page, "leadcheck_refusals_total"))
	}
	for _, secret := range []string{"k1-secret-key", "acme.test", "missing.test", "jane", "/no/such"} {
		if strings.Contains(page, secret) {
			t.Errorf("/metrics shows %q:\n%s", secret, grepLines(page, secret))
		}
	}
}

// sum adds the values of the series that start with prefix and contain
// part.
func sum(page, prefix, part string) int {
	total := 0
	for line := range strings.SplitSeq(page, "\n") {
		if strings.HasPrefix(line, prefix) && strings.Contains(line, part) {
			if v, err := strconv.Atoi(line[strings.LastIndexByte(line, ' ')+1:]); err == nil {
				total += v
			}
		}
	}
	return total
}

// grepLines returns the lines of page that contain s.
func grepLines(page, s string) string {
	var out []string
	for line := range strings.SplitSeq(page, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsCardinality runs a bulk job over 10,000 distinct domains: the
// DNS and validation counts see every one of them, while the number of
// leadcheck_* series stays small and no domain appears in a label.
func TestMetricsCardinality(t *testing.T) {
	const n = 10_000
	zoneText, csv := manyDomains(n)
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zoneText})
	srv := serveInProcess(t, map[string]string{"LEADCHECK_DNS": dnsSrv.Addr()})
	c := keyedClient(t, srv.base, "")
	ct, body := multipartFile(t, csv, nil)
	created, err := c.CreateBulkJobWithBodyWithResponse(t.Context(), ct, body)
	if err != nil || created.JSON202 == nil {
		t.Fatalf("create: %v %s", err, created.Body)
	}
	waitJob(t, c, created.JSON202.Id)

	page := scrape(t, srv.base+"/metrics")
	// Every domain is asked once (a lost UDP answer may make one a
	// timeout), and every row is counted by its verdict.
	if got := sum(page, `leadcheck_dns_queries_total{`, `type="MX"}`); got != n {
		t.Errorf("MX queries: got %d, want %d:\n%s", got, n, grepLines(page, "leadcheck_dns_queries_total"))
	}
	if got := sum(page, `leadcheck_bulk_rows_total{`, ""); got != n {
		t.Errorf("rows: got %d, want %d", got, n)
	}
	series := 0
	for line := range strings.SplitSeq(page, "\n") {
		if strings.HasPrefix(line, "leadcheck_") {
			series++
		}
	}
	// Every family with its fixed label sets (histograms count a line per
	// bucket) fits in a few hundred lines; one series per domain would be
	// tens of thousands.
	if series > 400 {
		t.Errorf("%d leadcheck_ series after %d domains; labels must not carry domains:\n%s", series, n, grepLines(page, "leadcheck_"))
	}
	if strings.Contains(page, ".many") {
		t.Errorf("a domain shows in /metrics:\n%s", grepLines(page, ".many"))
	}
}

// adminAddr is the address from the "admin listening" log line.
func adminAddr(t *testing.T, logs *logWatcher) string {
	t.Helper()
	for line := range strings.SplitSeq(logs.text(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "admin listening" {
			return rec.Addr
		}
	}
	t.Fatalf("no admin listening line in:\n%s", logs.text())
	return ""
}

// TestAdminAddr: with LEADCHECK_ADMIN_ADDR, /metrics and the profiler are
// on the admin port and the main port answers 404 for both; the metrics
// there still count the main port's traffic.
func TestAdminAddr(t *testing.T) {
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone})
	srv := serveInProcess(t, map[string]string{"LEADCHECK_DNS": dnsSrv.Addr(), "LEADCHECK_ADMIN_ADDR": "127.0.0.1:0"})
	admin := "http://" + adminAddr(t, srv.logs)
	c := keyedClient(t, srv.base, "")
	email := "jane@acme.test"
	if r, err := c.ValidateQueryWithResponse(t.Context(), &client.ValidateQueryParams{Email: &email}); err != nil || r.StatusCode() != http.StatusOK {
		t.Fatalf("validate: %v %v", r, err)
	}
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		resp, err := http.Get(srv.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("main port %s: got %d, want 404", path, resp.StatusCode)
		}
	}
	page := scrape(t, admin+"/metrics")
	if got := sample(page, `leadcheck_http_requests_total{method="GET",route="/v1/validate",status="2xx"}`); got != "1" {
		t.Errorf("admin /metrics: validate requests got %q, want 1", got)
	}
	if got := sample(page, `leadcheck_http_requests_total{method="GET",route="/metrics",status="4xx"}`); got != "1" {
		t.Errorf("admin /metrics: main port's /metrics 404s got %q, want 1", got)
	}
	if prof := scrape(t, admin+"/debug/pprof/goroutine?debug=1"); !strings.Contains(prof, "goroutine profile:") {
		t.Errorf("goroutine profile: got %.200q", prof)
	}
	if idx := scrape(t, admin+"/debug/pprof/"); !strings.Contains(idx, "heap") {
		t.Errorf("pprof index: got %.200q", idx)
	}
}
