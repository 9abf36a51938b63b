package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck"
	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/internal/apitest"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/keys"
	"github.com/leadcheck/leadcheck/internal/limits"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

const (
	secretKey      = "sk_test_secret_0000000000"
	publishableKey = "pk_test_public_0000000000"
	siteOrigin     = "https://www.acme.com"
)

// keysFile is a keys file with one secret and one publishable key; extra
// is appended to the publishable entry.
func keysFile(t testing.TB, extraSecret, extraPublishable string) *keys.Set {
	t.Helper()
	src := "keys:\n" +
		"  - name: backend\n    key: " + secretKey + "\n    kind: secret\n" + extraSecret +
		"  - name: signup-form\n    key: " + publishableKey + "\n    kind: publishable\n    origins: [" + siteOrigin + "]\n" + extraPublishable
	set, err := keys.Parse([]byte(src), "test", keys.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// keyedServer is the real API over the fixture DNS, with the given keys
// and limiter, behind a real HTTP listener.
type keyedServer struct {
	url  string
	logs *testenv.LogBuffer
}

func newKeyedServer(t testing.TB, opts api.Options, limiter *limits.Limiter, now func() time.Time) *keyedServer {
	t.Helper()
	fx := testenv.NewFixture(t, dnstest.Config{}, 200*time.Millisecond)
	logs := &testenv.LogBuffer{}
	srv := api.NewServer(opts, api.Deps{
		Engine:  fx.Engine(),
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
		Spec:    leadcheck.OpenAPISpec,
		Limiter: limiter,
		Now:     now,
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &keyedServer{url: hs.URL, logs: logs}
}

// call sends one request through the contract-checking transport and
// returns the response with its body read.
func call(t testing.TB, method, url, key string, hdr map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: apitest.Transport{Reporter: t}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// callUnchecked is call without the contract check, for routes whose
// service this server lacks (501 is not part of the contract).
func callUnchecked(t testing.TB, method, url, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func codeOf(b []byte) string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(b, &e)
	return e.Error.Code
}

// TestPublishableScope: a publishable key may validate, and every bulk
// route and enrich answer 403 key_not_allowed; the secret key passes the
// same gate.
func TestPublishableScope(t *testing.T) {
	t.Parallel()
	s := newKeyedServer(t, api.Options{Keys: keysFile(t, "", "")}, nil, nil)
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/enrich", `{"email":"jane@acme.test"}`},
		{"POST", "/v1/bulk", `{"records":[{"email":"jane@acme.test"}]}`},
		{"GET", "/v1/bulk", ""},
		{"GET", "/v1/bulk/abc", ""},
		{"DELETE", "/v1/bulk/abc", ""},
		{"GET", "/v1/bulk/abc/results", ""},
	} {
		resp, b := call(t, r.method, s.url+r.path, publishableKey, nil, r.body)
		if resp.StatusCode != 403 || codeOf(b) != "key_not_allowed" {
			t.Errorf("publishable %s %s: got %d %s, want 403 key_not_allowed", r.method, r.path, resp.StatusCode, b)
		}
		// The secret key gets past the key check (the bulk service is not
		// wired here, so those answer 501 or 404; enrich likewise).
		resp, b = callUnchecked(t, r.method, s.url+r.path, secretKey, r.body)
		if resp.StatusCode == 401 || resp.StatusCode == 403 || resp.StatusCode == 429 {
			t.Errorf("secret %s %s: got %d %s", r.method, r.path, resp.StatusCode, b)
		}
	}
	for _, m := range []string{"GET", "POST"} {
		body := ""
		if m == "POST" {
			body = `{"domain":"acme.test"}`
		}
		resp, b := call(t, m, s.url+"/v1/validate?domain=acme.test", publishableKey, map[string]string{"Origin": siteOrigin}, body)
		if resp.StatusCode != 200 {
			t.Errorf("publishable %s /v1/validate: got %d %s", m, resp.StatusCode, b)
		}
	}
}

// TestOriginBinding: a publishable key answers its own origins and
// requests without Origin, and refuses other origins; the secret key is
// not bound to origins.
func TestOriginBinding(t *testing.T) {
	t.Parallel()
	s := newKeyedServer(t, api.Options{Keys: keysFile(t, "", "")}, nil, nil)
	for _, tc := range []struct {
		key, origin string
		status      int
		code        string
	}{
		{publishableKey, siteOrigin, 200, ""},
		{publishableKey, "", 200, ""},
		{publishableKey, "https://evil.example", 403, "origin_not_allowed"},
		{publishableKey, "https://www.acme.com.evil.example", 403, "origin_not_allowed"},
		{publishableKey, "http://www.acme.com", 403, "origin_not_allowed"},
		{secretKey, "https://evil.example", 200, ""},
	} {
		hdr := map[string]string{}
		if tc.origin != "" {
			hdr["Origin"] = tc.origin
		}
		resp, b := call(t, "GET", s.url+"/v1/validate?domain=acme.test", tc.key, hdr, "")
		if resp.StatusCode != tc.status || codeOf(b) != tc.code {
			t.Errorf("key %s origin %q: got %d %s, want %d %s", tc.key[:3], tc.origin, resp.StatusCode, b, tc.status, tc.code)
		}
	}
}

// TestPreflight: a preflight (no key) is answered for the publishable
// origins and LEADCHECK_CORS_ORIGINS, and for nothing else.
func TestPreflight(t *testing.T) {
	t.Parallel()
	s := newKeyedServer(t, api.Options{Keys: keysFile(t, "", ""), CORSOrigins: []string{"https://admin.acme.com"}}, nil, nil)
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, s.url+"/v1/validate", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "x-api-key, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, o := range []string{siteOrigin, "https://admin.acme.com"} {
		resp := preflight(o)
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != o {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q, want it echoed", o, got)
		}
		if !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-api-key") {
			t.Errorf("preflight from %s: allowed headers %q lack X-API-Key", o, resp.Header.Get("Access-Control-Allow-Headers"))
		}
	}
	if got := preflight("https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("preflight from another site: Access-Control-Allow-Origin %q, want none", got)
	}
	// The real request from a CORS origin that is not the key's is still
	// held to the key's origins.
	resp, b := call(t, "GET", s.url+"/v1/validate?domain=acme.test", publishableKey, map[string]string{"Origin": "https://admin.acme.com"}, "")
	if resp.StatusCode != 403 || codeOf(b) != "origin_not_allowed" {
		t.Errorf("publishable key from another CORS origin: got %d %s", resp.StatusCode, b)
	}
}

// TestRateLimitHeadersAndRefusal: a burst of 3 at 1/h allows three
// requests, then 429 rate_limited with Retry-After; every keyed answer
// carries RateLimit-Policy and RateLimit.
func TestRateLimitHeadersAndRefusal(t *testing.T) {
	t.Parallel()
	s := newKeyedServer(t, api.Options{Keys: keysFile(t, "    rate: 1/h\n    burst: 3\n", "")}, nil, nil)
	for i := range 4 {
		resp, b := call(t, "GET", s.url+"/v1/validate?domain=acme.test", secretKey, nil, "")
		if got := resp.Header.Get("RateLimit-Policy"); got != `"rate";q=3;w=3600` {
			t.Errorf("request %d: RateLimit-Policy %q", i, got)
		}
		if got, want := resp.Header.Get("RateLimit"), `"rate";r=`+strconv.Itoa(max(2-i, 0))+`;t=`; !strings.HasPrefix(got, want) {
			t.Errorf("request %d: RateLimit %q, want prefix %q", i, got, want)
		}
		if i < 3 {
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: got %d %s", i, resp.StatusCode, b)
			}
			continue
		}
		if resp.StatusCode != 429 || codeOf(b) != "rate_limited" {
			t.Fatalf("request %d: got %d %s, want 429 rate_limited", i, resp.StatusCode, b)
		}
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 3500 || ra > 3600 {
			t.Errorf("Retry-After %q, want about an hour (one request an hour)", resp.Header.Get("Retry-After"))
		}
	}
	// The publishable key has its own budget.
	if resp, b := call(t, "GET", s.url+"/v1/validate?domain=acme.test", publishableKey, nil, ""); resp.StatusCode != 200 {
		t.Errorf("publishable key after the secret one ran out: got %d %s", resp.StatusCode, b)
	}
}

// TestForwardedForIgnoredWithoutTrustedProxies: the publishable key's
// limit is per client IP; rotating X-Forwarded-For escapes it only when
// the peer is a trusted proxy.
func TestForwardedForIgnoredWithoutTrustedProxies(t *testing.T) {
	t.Parallel()
	set := keysFile(t, "", "    rate: 1/h\n    burst: 1\n")
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		wantOK  int // of three requests, each from a "new" forwarded address
	}{
		{"untrusted", nil, 1},
		{"trusted loopback", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, 3},
		{"other proxy trusted", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newKeyedServer(t, api.Options{Keys: set, TrustedProxies: tc.trusted}, nil, nil)
			ok := 0
			for i := range 3 {
				hdr := map[string]string{"X-Forwarded-For": "203.0.113." + strconv.Itoa(i+1)}
				resp, _ := call(t, "GET", s.url+"/v1/validate?domain=acme.test", publishableKey, hdr, "")
				if resp.StatusCode == 200 {
					ok++
				} else if resp.StatusCode != 429 {
					t.Errorf("got %d", resp.StatusCode)
				}
			}
			if ok != tc.wantOK {
				t.Errorf("got %d answers of 3, want %d", ok, tc.wantOK)
			}
		})
	}
}

// TestQuotaResetsAtUTCMidnight, against the real test Redis, with an
// injected clock: a quota of 2 allows two validations, refuses the third
// with quota_exceeded and a Retry-After up to midnight, and allows again
// on the next UTC day. /v1/usage tells the same story.
func TestQuotaResetsAtUTCMidnight(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.Redis(t)
	rc := testenv.RedisClient(t, url)
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	lim := limits.New(limits.Config{Redis: rc, Prefix: prefix, Now: clock})
	s := newKeyedServer(t, api.Options{Keys: keysFile(t, "    daily_quota: 2\n", "")}, lim, clock)
	get := func() (*http.Response, []byte) {
		return call(t, "GET", s.url+"/v1/validate?domain=acme.test", secretKey, nil, "")
	}
	for i := range 2 {
		if resp, b := get(); resp.StatusCode != 200 {
			t.Fatalf("validation %d: got %d %s", i, resp.StatusCode, b)
		}
	}
	resp, b := get()
	if resp.StatusCode != 429 || codeOf(b) != "quota_exceeded" {
		t.Fatalf("third validation: got %d %s, want 429 quota_exceeded", resp.StatusCode, b)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "60" {
		t.Errorf("Retry-After %q, want 60 (seconds to midnight UTC)", ra)
	}
	if got := resp.Header.Get("RateLimit"); !strings.Contains(got, `"daily";r=0;t=60`) {
		t.Errorf("RateLimit %q lacks the daily item", got)
	}
	var u struct {
		Name           string    `json:"name"`
		Kind           string    `json:"kind"`
		DailyQuota     int64     `json:"daily_quota"`
		UsedToday      int64     `json:"used_today"`
		RemainingToday *int64    `json:"remaining_today"`
		ResetsAt       time.Time `json:"resets_at"`
	}
	resp, b = call(t, "GET", s.url+"/v1/usage", secretKey, nil, "")
	if err := json.Unmarshal(b, &u); err != nil || resp.StatusCode != 200 {
		t.Fatalf("usage: %d %s", resp.StatusCode, b)
	}
	if u.Name != "backend" || u.Kind != "secret" || u.DailyQuota != 2 || u.UsedToday != 2 || u.RemainingToday == nil || *u.RemainingToday != 0 ||
		!u.ResetsAt.Equal(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("usage: got %+v", u)
	}
	if n, err := rc.Keys(context.Background(), prefix+"quota:backend:*").Result(); err != nil || len(n) != 1 {
		t.Errorf("quota counter in Redis: got %v %v, want one key", n, err)
	}

	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if resp, b := get(); resp.StatusCode != 200 {
		t.Fatalf("after midnight: got %d %s", resp.StatusCode, b)
	}
	resp, b = call(t, "GET", s.url+"/v1/usage", secretKey, nil, "")
	if err := json.Unmarshal(b, &u); err != nil || resp.StatusCode != 200 || u.UsedToday != 1 {
		t.Errorf("usage after midnight: got %s", b)
	}
}

// TestUsagePublishable: a publishable key sees its own name, kind, origins
// and limits, and never anything of another key.
func TestUsagePublishable(t *testing.T) {
	t.Parallel()
	s := newKeyedServer(t, api.Options{Keys: keysFile(t, "", "")}, nil, nil)
	resp, b := call(t, "GET", s.url+"/v1/usage", publishableKey, map[string]string{"Origin": siteOrigin}, "")
	if resp.StatusCode != 200 {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	for _, want := range []string{`"name":"signup-form"`, `"kind":"publishable"`, `"rate":"30/m"`, `"burst":10`, `"daily_quota":50000`, siteOrigin} {
		if !strings.Contains(string(b), want) {
			t.Errorf("usage %s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), "backend") || strings.Contains(string(b), publishableKey) {
		t.Errorf("usage %s shows another key or the key itself", b)
	}
	if resp, _ := call(t, "GET", s.url+"/v1/usage", "", nil, ""); resp.StatusCode != 401 {
		t.Errorf("usage without a key: got %d", resp.StatusCode)
	}
}

// TestLogsNameTheKey: access and error logs never carry the key.
func TestLogsNameTheKey(t *testing.T) {
	t.Parallel()
	s := newKeyedServer(t, api.Options{Keys: keysFile(t, "", "")}, nil, nil)
	call(t, "GET", s.url+"/v1/validate?domain=acme.test", secretKey, nil, "")
	call(t, "GET", s.url+"/v1/bulk", publishableKey, nil, "")
	if logs := s.logs.String(); strings.Contains(logs, secretKey) || strings.Contains(logs, publishableKey) {
		t.Errorf("logs carry a key:\n%s", logs)
	}
}
