package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadcheck/leadcheck"
	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/apitest"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

type env struct {
	dns    *dnstest.Server
	url    string
	client *client.ClientWithResponses
	logs   *testenv.LogBuffer
}

func newEnv(t testing.TB, opts api.Options) *env {
	t.Helper()
	return newEnvDNSTimeout(t, opts, 200*time.Millisecond)
}

// newEnvDNSTimeout is newEnv with the resolver's per-query timeout given.
func newEnvDNSTimeout(t testing.TB, opts api.Options, dnsTimeout time.Duration) *env {
	t.Helper()
	fx := testenv.NewFixture(t, dnstest.Config{
		Behaviours: map[string]dnstest.Behaviour{
			"broken.test": dnstest.Servfail(),
			"slow.test":   dnstest.Blackhole(),
		},
	}, dnsTimeout)
	logs := &testenv.LogBuffer{}
	srv := api.NewServer(opts, api.Deps{
		Engine: fx.Engine(),
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		Spec:   leadcheck.OpenAPISpec,
		Checks: map[string]func() api.Check{"redis": func() api.Check { return api.Check{State: "disabled"} }},
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c, err := client.NewClientWithResponses(hs.URL, client.WithHTTPClient(&http.Client{
		Transport: apitest.Transport{Reporter: t, CheckRequests: true},
	}))
	if err != nil {
		t.Fatal(err)
	}
	return &env{dns: fx.DNS, url: hs.URL, client: c, logs: logs}
}

func ptr(s string) *string { return &s }

func TestValidateEmailOutcomes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{ValidateTimeout: 2 * time.Second})
	tests := []struct {
		email       string
		verdict     client.Verdict
		reason      client.Reason
		implicitMX  bool
		nullMX      bool
		didYouMean  string
		flagsWanted func(client.EmailFlags) bool
	}{
		{email: "jane@acme.test", verdict: client.VerdictValid, reason: client.ReasonOk},
		{email: "  Jane.Doe@ACME.test ", verdict: client.VerdictValid, reason: client.ReasonOk},
		{email: "jane@implicit.test", verdict: client.VerdictValid, reason: client.ReasonOk, implicitMX: true},
		{email: "jane@nullmx.test", verdict: client.VerdictInvalid, reason: client.ReasonNullMx, nullMX: true},
		{email: "jane@nomail.test", verdict: client.VerdictInvalid, reason: client.ReasonNoMailServer},
		{email: "jane@missing.test", verdict: client.VerdictInvalid, reason: client.ReasonNoSuchDomain},
		{email: "jane@broken.test", verdict: client.VerdictUnknown, reason: client.ReasonDnsError},
		{email: "jane@slow.test", verdict: client.VerdictUnknown, reason: client.ReasonDnsError},
		{email: "info@acme.test", verdict: client.VerdictRisky, reason: client.ReasonRoleAccount,
			flagsWanted: func(f client.EmailFlags) bool { return f.Role }},
		{email: "jane@mailinator.com", verdict: client.VerdictRisky, reason: client.ReasonDisposable,
			flagsWanted: func(f client.EmailFlags) bool { return f.Disposable }},
		{email: "jane+news@gmail.com", verdict: client.VerdictValid, reason: client.ReasonOk,
			flagsWanted: func(f client.EmailFlags) bool { return f.Free && f.Subaddressed }},
		{email: "jane@gmial.com", verdict: client.VerdictInvalid, reason: client.ReasonNoSuchDomain, didYouMean: "jane@gmail.com"},
		{email: "jane@@acme.test", verdict: client.VerdictInvalid, reason: client.ReasonInvalidSyntax},
		{email: strings.Repeat("a", 65) + "@acme.test", verdict: client.VerdictInvalid, reason: client.ReasonTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			t.Parallel()
			resp, err := e.client.ValidateQueryWithResponse(context.Background(), &client.ValidateQueryParams{Email: ptr(tt.email)})
			if err != nil {
				t.Fatal(err)
			}
			if resp.JSON200 == nil {
				t.Fatalf("got status %d body %s, want 200", resp.StatusCode(), resp.Body)
			}
			got := resp.JSON200
			if got.Email == nil {
				t.Fatal("got no email result")
			}
			if got.Email.Verdict != tt.verdict || got.Email.Reason != tt.reason {
				t.Errorf("got %s/%s, want %s/%s (message %q)", got.Email.Verdict, got.Email.Reason, tt.verdict, tt.reason, deref(got.Email.Message))
			}
			if got.Verdict != tt.verdict {
				t.Errorf("lead verdict: got %s, want %s", got.Verdict, tt.verdict)
			}
			if d := got.Email.Dns; d != nil {
				if d.ImplicitMx != tt.implicitMX || d.NullMx != tt.nullMX {
					t.Errorf("got implicit_mx=%v null_mx=%v, want %v %v", d.ImplicitMx, d.NullMx, tt.implicitMX, tt.nullMX)
				}
			}
			if deref(got.Email.DidYouMean) != tt.didYouMean {
				t.Errorf("did_you_mean: got %q, want %q", deref(got.Email.DidYouMean), tt.didYouMean)
			}
			if tt.flagsWanted != nil && !tt.flagsWanted(got.Email.Flags) {
				t.Errorf("flags: got %+v", got.Email.Flags)
			}
		})
	}
}

func TestValidateEmailDetails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{})
	resp, err := e.client.ValidateLeadWithResponse(context.Background(), client.ValidateRequest{Email: ptr("Jane.Doe@ACME.test")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("got status %d body %s", resp.StatusCode(), resp.Body)
	}
	em := resp.JSON200.Email
	if got, want := deref(em.Normalized), "Jane.Doe@acme.test"; got != want {
		t.Errorf("normalized: got %q, want %q", got, want)
	}
	wantMX := []client.MX{{Host: "mx1.acme.test", Preference: 10}, {Host: "mx2.acme.test", Preference: 20}}
	if diff := cmp.Diff(wantMX, em.Dns.Mx); diff != "" {
		t.Errorf("mx (-want +got):\n%s", diff)
	}
	if !em.Dns.Spf.Found || deref(em.Dns.Spf.Policy) != "-all" {
		t.Errorf("spf: got %+v", em.Dns.Spf)
	}
	if !em.Dns.Dmarc.Found || deref(em.Dns.Dmarc.Policy) != "reject" {
		t.Errorf("dmarc: got %+v", em.Dns.Dmarc)
	}
	if resp.JSON200.Cached {
		t.Error("got cached=true from a server without a cache")
	}
	if id := resp.HTTPResponse.Header.Get("X-Request-Id"); id == "" {
		t.Error("no X-Request-Id header")
	}
}

// TestValidateBudget proves a validation answers within its time budget when
// DNS never answers, and says unknown rather than invalid.
func TestValidateBudget(t *testing.T) {
	t.Parallel()
	// The resolver alone would wait 20s: only the budget can end the call
	// within the bound below.
	e := newEnvDNSTimeout(t, api.Options{ValidateTimeout: 300 * time.Millisecond}, 20*time.Second)
	e.dns.SetBehaviour("acme.test", dnstest.Blackhole())
	start := time.Now()
	resp, err := e.client.ValidateQueryWithResponse(context.Background(), &client.ValidateQueryParams{Email: ptr("jane@acme.test")})
	if err != nil {
		t.Fatal(err)
	}
	// A generous bound: it proves the call did not hang, not how fast it is.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s with a 300ms budget", took)
	}
	if resp.JSON200 == nil || resp.JSON200.Verdict != client.VerdictUnknown {
		t.Fatalf("got %d %s, want 200 with verdict unknown", resp.StatusCode(), resp.Body)
	}
}

func TestValidateLead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{})
	tests := []struct {
		name    string
		req     client.ValidateRequest
		verdict client.Verdict
		check   func(t *testing.T, r *client.ValidateResponse)
	}{
		{
			name:    "email and phone",
			req:     client.ValidateRequest{Email: ptr("jane@acme.test"), Phone: ptr("020 7946 0958"), Country: ptr("GB")},
			verdict: client.VerdictValid,
			check: func(t *testing.T, r *client.ValidateResponse) {
				if r.Phone == nil || deref(r.Phone.E164) != "+442079460958" || !r.Phone.Valid {
					t.Errorf("phone: got %+v", r.Phone)
				}
			},
		},
		{
			name:    "worst field wins",
			req:     client.ValidateRequest{Email: ptr("jane@acme.test"), Phone: ptr("12"), Country: ptr("US")},
			verdict: client.VerdictInvalid,
			check: func(t *testing.T, r *client.ValidateResponse) {
				if r.Email.Verdict != client.VerdictValid || r.Phone.Verdict != client.VerdictInvalid {
					t.Errorf("got email %s phone %s", r.Email.Verdict, r.Phone.Verdict)
				}
				if r.Score != 0 {
					t.Errorf("score: got %d, want 0 for an invalid lead", r.Score)
				}
			},
		},
		{
			name:    "unknown beats valid",
			req:     client.ValidateRequest{Email: ptr("jane@broken.test"), Domain: ptr("acme.test")},
			verdict: client.VerdictUnknown,
		},
		{
			name:    "domain only",
			req:     client.ValidateRequest{Domain: ptr("acme.test")},
			verdict: client.VerdictValid,
			check: func(t *testing.T, r *client.ValidateResponse) {
				if r.Domain == nil || deref(r.Domain.AsciiDomain) != "acme.test" || r.Domain.Dns == nil || !r.Domain.Dns.MxFound {
					t.Errorf("domain: got %+v", r.Domain)
				}
			},
		},
		{
			name:    "idn domain",
			req:     client.ValidateRequest{Domain: ptr("bücher.test")},
			verdict: client.VerdictInvalid,
			check: func(t *testing.T, r *client.ValidateResponse) {
				if deref(r.Domain.AsciiDomain) != "xn--bcher-kva.test" || r.Domain.Reason != client.ReasonNoSuchDomain {
					t.Errorf("domain: got %+v", r.Domain)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := e.client.ValidateLeadWithResponse(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.JSON200 == nil {
				t.Fatalf("got status %d body %s", resp.StatusCode(), resp.Body)
			}
			if resp.JSON200.Verdict != tt.verdict {
				t.Errorf("verdict: got %s, want %s (body %s)", resp.JSON200.Verdict, tt.verdict, resp.Body)
			}
			if tt.check != nil {
				tt.check(t, resp.JSON200)
			}
		})
	}
}

// TestBadInput sends every kind of bad request and wants a 4xx JSON error
// naming the problem, never a 5xx.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{MaxBodyBytes: 4096})
	tests := []struct {
		name        string
		method      string
		query       string
		contentType string
		body        string
		status      int
		code        string
		field       string
	}{
		{name: "malformed json", method: "POST", body: `{"email": "jane@acme.test",}`, status: 400, code: "invalid_json"},
		{name: "truncated json", method: "POST", body: `{"email": "jane@`, status: 400, code: "invalid_json"},
		{name: "empty body", method: "POST", body: ``, status: 400, code: "empty_body"},
		{name: "whitespace body", method: "POST", body: " \n ", status: 400, code: "empty_body"},
		{name: "json array", method: "POST", body: `["jane@acme.test"]`, status: 400, code: "invalid_json"},
		{name: "two objects", method: "POST", body: `{"email":"a@acme.test"} {}`, status: 400, code: "invalid_json"},
		{name: "no fields", method: "POST", body: `{}`, status: 400, code: "missing_field", field: "email"},
		{name: "only name", method: "POST", body: `{"name": "Jane"}`, status: 400, code: "missing_field", field: "email"},
		{name: "unknown field", method: "POST", body: `{"emial": "jane@acme.test"}`, status: 400, code: "unknown_field", field: "emial"},
		{name: "wrong type", method: "POST", body: `{"email": 42}`, status: 400, code: "invalid_field_type", field: "email"},
		{name: "oversize body", method: "POST", body: `{"email": "` + strings.Repeat("a", 5000) + `@acme.test"}`, status: 413, code: "body_too_large"},
		{name: "absurd length", method: "POST", body: `{"email": "` + strings.Repeat("a", 2000) + `@acme.test"}`, status: 400, code: "field_too_long", field: "email"},
		{name: "control character", method: "POST", body: `{"email": "jane\u0007@acme.test"}`, status: 400, code: "control_character", field: "email"},
		{name: "nul byte", method: "POST", body: `{"phone": "+1415\u00005550100"}`, status: 400, code: "control_character", field: "phone"},
		{name: "unknown country", method: "POST", body: `{"phone": "4155550100", "country": "ZZ"}`, status: 400, code: "unknown_country", field: "country"},
		{name: "not json content type", method: "POST", contentType: "text/plain", body: `email=jane@acme.test`, status: 415, code: "unsupported_media_type"},
		{name: "query without fields", method: "GET", query: "", status: 400, code: "missing_field", field: "email"},
		{name: "query nul byte", method: "GET", query: "email=jane%00@acme.test", status: 400, code: "control_character", field: "email"},
		{name: "query bad utf8", method: "GET", query: "domain=%ff%fe.test", status: 400, code: "invalid_encoding", field: "domain"},
		{name: "query unknown country", method: "GET", query: "phone=4155550100&country=XX", status: 400, code: "unknown_country", field: "country"},
		{name: "query absurd length", method: "GET", query: "domain=" + strings.Repeat("a", 1500), status: 400, code: "field_too_long", field: "domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, e.url+"/v1/validate?"+tt.query, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.method == "POST" {
				ct := tt.contentType
				if ct == "" {
					ct = "application/json"
				}
				req.Header.Set("Content-Type", ct)
			}
			resp, err := (&http.Client{Transport: apitest.Transport{Reporter: t}}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("got status %d, want %d (body %s)", resp.StatusCode, tt.status, body)
			}
			var got client.ErrorResponse
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("error body is not JSON: %v: %s", err, body)
			}
			if got.Error.Code != tt.code || deref(got.Error.Field) != tt.field {
				t.Errorf("got code %q field %q, want %q %q (message %q)", got.Error.Code, deref(got.Error.Field), tt.code, tt.field, got.Error.Message)
			}
			if got.Error.Message == "" || got.Error.RequestId == "" {
				t.Errorf("error lacks message or request id: %s", body)
			}
			if got.Error.RequestId != resp.Header.Get("X-Request-Id") {
				t.Errorf("request id: body %q, header %q", got.Error.RequestId, resp.Header.Get("X-Request-Id"))
			}
		})
	}
}

// TestUnknownRoutes covers what the spec cannot describe: routes that do not
// exist still answer with the JSON error envelope.
func TestUnknownRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{})
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v2/validate", 404},
		{"DELETE", "/v1/validate", 405},
	} {
		req, _ := http.NewRequest(tt.method, e.url+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var got client.ErrorResponse
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != tt.status || err != nil || got.Error.Code == "" {
			t.Errorf("%s %s: got %d %+v (%v), want %d with a JSON error", tt.method, tt.path, resp.StatusCode, got, err, tt.status)
		}
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{APIKeys: []string{"k1", "k2"}})
	tests := []struct {
		name   string
		header func(*http.Request)
		status int
	}{
		{"none", func(*http.Request) {}, 401},
		{"wrong", func(r *http.Request) { r.Header.Set("X-API-Key", "nope") }, 401},
		{"header", func(r *http.Request) { r.Header.Set("X-API-Key", "k2") }, 200},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer k1") }, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := e.client.ValidateQueryWithResponse(context.Background(), &client.ValidateQueryParams{Domain: ptr("acme.test")},
				func(_ context.Context, r *http.Request) error { tt.header(r); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != tt.status {
				t.Errorf("got %d, want %d: %s", resp.StatusCode(), tt.status, resp.Body)
			}
		})
	}
	// Probes stay open so orchestrators need no key.
	resp, err := e.client.HealthzWithResponse(context.Background())
	if err != nil || resp.StatusCode() != 200 {
		t.Errorf("healthz with keys set: got %v %v", resp.StatusCode(), err)
	}
}

func TestOpsRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{})
	ctx := context.Background()
	if r, err := e.client.HealthzWithResponse(ctx); err != nil || r.JSON200 == nil || r.JSON200.Status != client.HealthStatusOk {
		t.Errorf("healthz: %v %v", r, err)
	}
	r, err := e.client.ReadyzWithResponse(ctx)
	if err != nil || r.JSON200 == nil {
		t.Fatalf("readyz: %v %v", r, err)
	}
	if r.JSON200.Status != client.ReadinessStatusReady || r.JSON200.Checks["redis"] != "disabled" {
		t.Errorf("readyz: got %+v", r.JSON200)
	}
	spec, err := e.client.OpenapiSpecWithResponse(ctx)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !bytes.Equal(spec.Body, leadcheck.OpenAPISpec) {
		t.Errorf("openapi.yaml: got %d bytes, want the embedded spec", len(spec.Body))
	}
}

// TestRequestIDPropagation: a caller's plain id is kept; junk is replaced.
func TestRequestIDPropagation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{})
	for _, tt := range []struct{ sent, want string }{
		{"abc-123", "abc-123"},
		{"bad id with spaces", ""},
		{strings.Repeat("x", 65), ""},
	} {
		req, _ := http.NewRequest("GET", e.url+"/healthz", nil)
		req.Header.Set("X-Request-Id", tt.sent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if tt.want != "" && got != tt.want || tt.want == "" && (got == "" || got == tt.sent) {
			t.Errorf("sent %q: got %q", tt.sent, got)
		}
	}
}

// TestLogsHideLeads: log lines carry the request id but never an address or
// a phone number, even when the request fails.
func TestLogsHideLeads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{})
	ctx := context.Background()
	_, _ = e.client.ValidateQueryWithResponse(ctx, &client.ValidateQueryParams{Email: ptr("secret.person@acme.test"), Phone: ptr("+442079460958")})
	_, _ = e.client.ValidateLeadWithResponse(ctx, client.ValidateRequest{Email: ptr("secret.person@broken.test"), Country: ptr("ZZ"), Phone: ptr("+442079460958")})
	logs := e.logs.String()
	if !strings.Contains(logs, `"request_id"`) {
		t.Errorf("logs have no request id:\n%s", logs)
	}
	for _, secret := range []string{"secret.person", "2079460958"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestCORS: an allowed origin gets CORS headers on the request and the
// preflight; any other origin gets none; with no origins configured there
// are no CORS headers at all.
func TestCORS(t *testing.T) {
	t.Parallel()
	allowed := newEnv(t, api.Options{CORSOrigins: []string{"https://forms.acme.test"}})
	closed := newEnv(t, api.Options{})
	tests := []struct {
		name, base, method, origin, wantAllow string
	}{
		{"allowed get", allowed.url, http.MethodGet, "https://forms.acme.test", "https://forms.acme.test"},
		{"allowed preflight", allowed.url, http.MethodOptions, "https://forms.acme.test", "https://forms.acme.test"},
		{"other origin get", allowed.url, http.MethodGet, "https://evil.test", ""},
		{"other origin preflight", allowed.url, http.MethodOptions, "https://evil.test", ""},
		{"not configured", closed.url, http.MethodGet, "https://forms.acme.test", ""},
		{"not configured preflight", closed.url, http.MethodOptions, "https://forms.acme.test", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.base+"/v1/validate?domain=acme.test", nil)
			req.Header.Set("Origin", tt.origin)
			if tt.method == http.MethodOptions {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "content-type,x-api-key")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantAllow {
				t.Errorf("Access-Control-Allow-Origin: got %q, want %q", got, tt.wantAllow)
			}
			if tt.wantAllow != "" && tt.method == http.MethodOptions {
				if resp.StatusCode != http.StatusNoContent || !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "x-api-key") {
					t.Errorf("preflight: got %d, allow-headers %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Headers"))
				}
			}
			if tt.wantAllow != "" && tt.method == http.MethodGet && !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
				t.Errorf("X-Request-Id is not exposed: %q", resp.Header.Get("Access-Control-Expose-Headers"))
			}
		})
	}
}

// FuzzValidateBody: whatever the body, POST /v1/validate answers 200 or a
// 4xx JSON error, never a 5xx, and the answer matches the spec.
func FuzzValidateBody(f *testing.F) {
	for _, s := range []string{`{"email":"jane@acme.test"}`, `{}`, `[]`, `{"email":1}`, `{"phone":"+44 20 7946 0958","country":"GB"}`,
		`{"email":"a@b","options":{"enrich":true}}`, `{"domain":"bücher.test"}`, `{"email":"\u0000"}`, `nul`, `{"email":"x"}{}`} {
		f.Add([]byte(s))
	}
	e := newEnv(f, api.Options{ValidateTimeout: time.Second})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/validate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := (&http.Client{Transport: apitest.Transport{Reporter: t}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 500 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d for %q: %s", resp.StatusCode, body, b)
		}
	})
}
