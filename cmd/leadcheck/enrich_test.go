package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

const enrichTestZone = `
$ORIGIN test.
@           300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
$ORIGIN com.
@           300 IN SOA ns.com. hostmaster.com. 1 3600 600 86400 60
gmail       300 IN MX  5 gmail-smtp-in.l.google.com.
outlook     300 IN MX  10 outlook-com.olc.protection.outlook.com.
`

// TestEnrichThroughServer runs the real server and asks /v1/enrich through
// the generated client. The leads need no web-site fetch (free providers,
// a domain that does not exist), because the server's fetches use the
// system resolver and tests reach nothing beyond loopback.
func TestEnrichThroughServer(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: enrichTestZone})
	srv := serveInProcess(t, map[string]string{
		"LEADCHECK_DNS":                  dns.Addr(),
		"LEADCHECK_ENRICH_FETCH_TIMEOUT": "2s",
		"LEADCHECK_ENRICH_SITE_TTL":      "6h",
	})
	c := newClient(t, srv.base)
	ctx := t.Context()

	email, phone := "jane.doe@gmail.com", "+33 6 12 34 56 78"
	resp, err := c.EnrichLeadWithResponse(ctx, client.ValidateRequest{Email: &email, Phone: &phone})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("got status %d body %s, want 200", resp.StatusCode(), resp.Body)
	}
	got := resp.JSON200
	if got.Mail == nil || got.Mail.Provider != "google" || !got.Mail.Free {
		t.Errorf("got mail %+v, want google, free", got.Mail)
	}
	if got.Person == nil || got.Person.FullName == nil || *got.Person.FullName != "Jane Doe" {
		t.Errorf("got person %+v, want Jane Doe", got.Person)
	}
	if got.Phone == nil || got.Phone.Carrier == nil || *got.Phone.Carrier != "SFR" || len(got.Phone.TimeZones) != 1 {
		t.Errorf("got phone %+v, want SFR in one time zone", got.Phone)
	}
	if got.Company != nil || len(got.Missing) != 1 || got.Missing[0].Reason != "free_provider" {
		t.Errorf("got company %+v gaps %+v, want only a free_provider gap", got.Company, got.Missing)
	}

	missing := "jane@missing.test"
	resp, err = c.EnrichLeadWithResponse(ctx, client.ValidateRequest{Email: &missing})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil || resp.JSON200.Mail == nil || resp.JSON200.Mail.Provider != "none" {
		t.Fatalf("got status %d body %s, want 200 with provider none", resp.StatusCode(), resp.Body)
	}

	yes := true
	outlook := "jane@outlook.com"
	vr, err := c.ValidateLeadWithResponse(ctx, client.ValidateRequest{Email: &outlook, Options: &client.ValidateOptions{Enrich: &yes}})
	if err != nil {
		t.Fatal(err)
	}
	if vr.JSON200 == nil || vr.JSON200.Verdict != client.VerdictValid || vr.JSON200.Enrichment == nil ||
		vr.JSON200.Enrichment.Mail == nil || vr.JSON200.Enrichment.Mail.Provider != "microsoft" {
		t.Fatalf("got status %d body %s, want a valid verdict with microsoft enrichment", vr.StatusCode(), vr.Body)
	}
}

func TestEnrichSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LEADCHECK_ENRICH_FETCH_TIMEOUT": "soon"}, "LEADCHECK_ENRICH_FETCH_TIMEOUT"},
		{map[string]string{"LEADCHECK_ENRICH_MAX_BODY_BYTES": "-1"}, "LEADCHECK_ENRICH_MAX_BODY_BYTES"},
		{map[string]string{"LEADCHECK_ENRICH_MAX_REDIRECTS": "100"}, "LEADCHECK_ENRICH_MAX_REDIRECTS"},
		{map[string]string{"LEADCHECK_ENRICH_HOST_CONCURRENCY": "0"}, "LEADCHECK_ENRICH_HOST_CONCURRENCY"},
		{map[string]string{"LEADCHECK_ENRICH_SITE_TTL": "1h", "LEADCHECK_ENRICH_NEGATIVE_TTL": "2h",
			"LEADCHECK_ADDR": "127.0.0.1:0", "LEADCHECK_DNS": "127.0.0.1:1"}, "LEADCHECK_ENRICH_NEGATIVE_TTL"},
	}
	for _, tt := range tests {
		err := run(context.Background(), []string{"leadcheck", "serve"}, envMap(tt.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v: got %v, want an error mentioning %s", tt.env, err, tt.want)
		}
	}
}

func TestUserAgentIsHonest(t *testing.T) {
	t.Parallel()
	ua := userAgent()
	if !strings.HasPrefix(ua, "leadcheck/") || !strings.Contains(ua, "+https://github.com/leadcheck/leadcheck") {
		t.Errorf("got User-Agent %q, want leadcheck/<version> with the project URL", ua)
	}
}

// TestEnricherWiring builds the enricher as serve does, checks bulk can use
// it, and closes what it opened.
func TestEnricherWiring(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: enrichTestZone})
	cfg := defaultConfig()
	cfg.DNSServers = []string{dns.Addr()}
	p := &parts{cfg: cfg, logger: slog.New(slog.DiscardHandler)}
	if err := p.newEngine(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.domains.Close() })
	if err := p.newEnricher(); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.enricher.(bulk.Enricher); !ok {
		t.Errorf("the enricher (%T) does not serve bulk jobs", p.enricher)
	}
	req := validate.Request{Email: "jane.doe@gmail.com"}
	res, err := p.engine.Validate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := p.enricher.EnrichResult(context.Background(), req, res)
	if got.Mail == nil || got.Mail.Provider != "google" || got.Person == nil {
		t.Errorf("got %+v, want Gmail and a person", got)
	}
	if err := p.closeEnricher(); err != nil {
		t.Errorf("closeEnricher: %v", err)
	}
}
