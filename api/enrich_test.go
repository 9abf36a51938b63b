package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leadcheck/leadcheck"
	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/enrich"
	"github.com/leadcheck/leadcheck/internal/apitest"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

const enrichZone = `
$ORIGIN test.
@             300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
acme          300 IN MX  10 aspmx.l.google.com.
acme          300 IN TXT "v=spf1 include:_spf.google.com -all"
_dmarc.acme   300 IN TXT "v=DMARC1; p=quarantine"
down          300 IN MX  10 mx.down.test.
$ORIGIN com.
@             300 IN SOA ns.com. hostmaster.com. 1 3600 600 86400 60
gmail         300 IN MX  5 gmail-smtp-in.l.google.com.
`

const acmeHome = `<!doctype html><html lang="en"><head>
<title>Acme | Home</title>
<meta property="og:site_name" content="Acme">
<meta property="og:description" content="Widgets for everyone.">
<meta property="og:image" content="/logo.png">
</head><body><a href="https://www.linkedin.com/company/acme">LinkedIn</a></body></html>`

type enrichEnv struct {
	client   *client.ClientWithResponses
	url      string
	siteHits *atomic.Int64
}

// newEnrichEnv serves the API with an Enricher whose site fetches reach
// local servers: acme.test has a home page, down.test answers 500.
func newEnrichEnv(t *testing.T) *enrichEnv {
	t.Helper()
	fx := testenv.NewFixture(t, dnstest.Config{Zone: enrichZone}, 500*time.Millisecond)
	hits := &atomic.Int64{}
	acme := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(acmeHome))
	}))
	t.Cleanup(acme.Close)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(down.Close)
	closed := testenv.ClosedAddr(t)
	sites := map[string]string{
		"acme.test:80": acme.Listener.Addr().String(),
		"down.test:80": down.Listener.Addr().String(),
	}

	engine := fx.Engine()
	enricher := enrich.New(enrich.Config{
		AllowPrivate: true,
		Now:          func() time.Time { return time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC) },
		Resolve: func(hostport string) string {
			if a, ok := sites[hostport]; ok {
				return a
			}
			return closed // never the system resolver or the network
		},
	}, engine, fx.Lists, nil, nil)
	srv := api.NewServer(api.Options{}, api.Deps{
		Engine:   engine,
		Enricher: enricher,
		Spec:     leadcheck.OpenAPISpec,
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c, err := client.NewClientWithResponses(hs.URL, client.WithHTTPClient(&http.Client{
		Transport: apitest.Transport{Reporter: t},
	}))
	if err != nil {
		t.Fatal(err)
	}
	return &enrichEnv{client: c, url: hs.URL, siteHits: hits}
}

func enrichStr(s string) *string { return &s }

func TestEnrichEndpoint(t *testing.T) {
	t.Parallel()
	e := newEnrichEnv(t)
	resp, err := e.client.EnrichLeadWithResponse(context.Background(), client.ValidateRequest{
		Email: enrichStr("jane.doe@acme.test"),
		Phone: enrichStr("+49 151 23456789"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("got status %d body %s, want 200", resp.StatusCode(), resp.Body)
	}
	got := resp.JSON200
	wantMail := &client.MailEnrichment{Domain: "acme.test", Provider: "google_workspace", ProviderName: "Google Workspace",
		Spf: enrichStr("-all"), Dmarc: enrichStr("quarantine")}
	if diff := cmp.Diff(wantMail, got.Mail); diff != "" {
		t.Errorf("mail (-want +got):\n%s", diff)
	}
	if got.Company == nil || got.Company.Name == nil || *got.Company.Name != "Acme" {
		t.Fatalf("got company %+v, want Acme", got.Company)
	}
	if got.Company.Social == nil || (*got.Company.Social)["linkedin"] != "https://www.linkedin.com/company/acme" {
		t.Errorf("got social %v", got.Company.Social)
	}
	if l := got.Company.Logo; l == nil || *l != "http://acme.test/logo.png" {
		t.Errorf("got logo %v, want http://acme.test/logo.png", l)
	}
	if p := got.Person; p == nil || p.FullName == nil || *p.FullName != "Jane Doe" || p.Confidence < 0.8 {
		t.Errorf("got person %+v, want Jane Doe", got.Person)
	}
	if p := got.Phone; p == nil || p.Carrier == nil || *p.Carrier != "T-Mobile" || p.LocalTime == nil {
		t.Errorf("got phone %+v, want T-Mobile with a local time", got.Phone)
	} else if lt := p.LocalTime.Format(time.RFC3339); lt != "2026-01-15T13:00:00+01:00" {
		t.Errorf("got local time %s, want 2026-01-15T13:00:00+01:00", lt)
	}
	if len(got.Missing) != 0 {
		t.Errorf("got gaps %+v, want none", got.Missing)
	}
	if id := resp.HTTPResponse.Header.Get("X-Request-Id"); id == "" {
		t.Error("no X-Request-Id header")
	}
}

// TestEnrichNeverFailsForASite: a site answering 500 is a gap in a 200.
func TestEnrichNeverFailsForASite(t *testing.T) {
	t.Parallel()
	e := newEnrichEnv(t)
	resp, err := e.client.EnrichLeadWithResponse(context.Background(), client.ValidateRequest{Email: enrichStr("jane@down.test")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("got status %d body %s, want 200", resp.StatusCode(), resp.Body)
	}
	var reasons []string
	for _, g := range resp.JSON200.Missing {
		if g.Part == client.EnrichmentGapPartCompany {
			reasons = append(reasons, g.Reason)
		}
	}
	if diff := cmp.Diff([]string{"http_status"}, reasons); diff != "" {
		t.Errorf("company gaps (-want +got):\n%s", diff)
	}
	if resp.JSON200.Mail == nil || resp.JSON200.Mail.Provider != "self_hosted" {
		t.Errorf("got mail %+v, want self_hosted", resp.JSON200.Mail)
	}
}

// TestEnrichFreeProvider: no fetch for gmail.com.
func TestEnrichFreeProvider(t *testing.T) {
	t.Parallel()
	e := newEnrichEnv(t)
	resp, err := e.client.EnrichLeadWithResponse(context.Background(), client.ValidateRequest{Email: enrichStr("jane.doe@gmail.com")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("got status %d body %s, want 200", resp.StatusCode(), resp.Body)
	}
	if m := resp.JSON200.Mail; m == nil || m.Provider != "google" || !m.Free {
		t.Errorf("got mail %+v, want google, free", m)
	}
	if resp.JSON200.Company != nil {
		t.Errorf("got company %+v for a free provider", resp.JSON200.Company)
	}
	if n := e.siteHits.Load(); n != 0 {
		t.Errorf("sites got %d requests, want 0", n)
	}
}

func TestEnrichBadInput(t *testing.T) {
	t.Parallel()
	e := newEnrichEnv(t)
	tests := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"nothing to enrich", "application/json", `{"name":"Jane"}`, 400, "missing_field"},
		{"unknown field", "application/json", `{"emial":"jane@acme.test"}`, 400, "unknown_field"},
		{"not json", "application/json", `{"email":`, 400, "invalid_json"},
		{"wrong type", "text/plain", `email=jane@acme.test`, 415, "unsupported_media_type"},
		{"control character", "application/json", `{"email":"jane\u0000@acme.test"}`, 400, "control_character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := e.client.EnrichLeadWithBodyWithResponse(context.Background(), tt.contentType, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != tt.status {
				t.Fatalf("got status %d body %s, want %d", resp.StatusCode(), resp.Body, tt.status)
			}
			var body struct {
				Error struct{ Code string } `json:"error"`
			}
			if err := json.Unmarshal(resp.Body, &body); err != nil || body.Error.Code != tt.code {
				t.Errorf("got body %s (%v), want code %s", resp.Body, err, tt.code)
			}
		})
	}
}

// TestValidateWithEnrichOption: options.enrich adds "enrichment" to the
// validate answer and keeps every validate field at the top level.
func TestValidateWithEnrichOption(t *testing.T) {
	t.Parallel()
	e := newEnrichEnv(t)
	yes, no := true, false
	tests := []struct {
		name    string
		options *client.ValidateOptions
		want    bool
	}{
		{"asked", &client.ValidateOptions{Enrich: &yes}, true},
		{"declined", &client.ValidateOptions{Enrich: &no}, false},
		{"empty options", &client.ValidateOptions{}, false},
		{"no options", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := e.client.ValidateLeadWithResponse(context.Background(), client.ValidateRequest{
				Email: enrichStr("jane.doe@acme.test"), Options: tt.options,
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.JSON200 == nil {
				t.Fatalf("got status %d body %s, want 200", resp.StatusCode(), resp.Body)
			}
			got := resp.JSON200
			if got.Verdict != client.VerdictValid || got.Email == nil || got.Email.Verdict != client.VerdictValid {
				t.Errorf("got verdict %s, want the plain validation to be intact", got.Verdict)
			}
			if (got.Enrichment != nil) != tt.want {
				t.Fatalf("got enrichment %+v, want present: %v", got.Enrichment, tt.want)
			}
			if tt.want && (got.Enrichment.Company == nil || got.Enrichment.Company.Name == nil || *got.Enrichment.Company.Name != "Acme") {
				t.Errorf("got company %+v, want Acme", got.Enrichment.Company)
			}
		})
	}
}

// TestEnrichOptionUnknownField: a misspelt option is refused like any
// other unknown field.
func TestEnrichOptionUnknownField(t *testing.T) {
	t.Parallel()
	e := newEnrichEnv(t)
	resp, err := e.client.ValidateLeadWithBodyWithResponse(context.Background(), "application/json",
		bytes.NewReader([]byte(`{"email":"jane@acme.test","option":{"enrich":true}}`)))
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON400 == nil {
		t.Fatalf("got status %d body %s, want 400", resp.StatusCode(), resp.Body)
	}
	if msg := resp.JSON400.Error.Message; !strings.Contains(msg, "options") {
		t.Errorf("got message %q, want it to list options", msg)
	}
}

// TestEnrichWithoutEnricher: a server built without an Enricher refuses
// /v1/enrich plainly and validates without enrichment when asked for it.
func TestEnrichWithoutEnricher(t *testing.T) {
	t.Parallel()
	fx := testenv.NewFixture(t, dnstest.Config{Zone: enrichZone}, 500*time.Millisecond)
	hs := httptest.NewServer(api.NewServer(api.Options{}, api.Deps{
		Engine: fx.Engine(),
		Spec:   leadcheck.OpenAPISpec,
	}))
	t.Cleanup(hs.Close)

	// Plain client: 501 is not in the contract, because the leadcheck
	// binary always has an Enricher.
	resp, err := http.Post(hs.URL+"/v1/enrich", "application/json", strings.NewReader(`{"email":"jane@acme.test"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("POST /v1/enrich: got status %d, want 501", resp.StatusCode)
	}

	c, err := client.NewClientWithResponses(hs.URL, client.WithHTTPClient(&http.Client{Transport: apitest.Transport{Reporter: t}}))
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	vr, err := c.ValidateLeadWithResponse(context.Background(), client.ValidateRequest{
		Email: enrichStr("jane@acme.test"), Options: &client.ValidateOptions{Enrich: &yes},
	})
	if err != nil {
		t.Fatal(err)
	}
	if vr.JSON200 == nil || vr.JSON200.Enrichment != nil {
		t.Errorf("got status %d body %s, want 200 without enrichment", vr.StatusCode(), vr.Body)
	}
}
