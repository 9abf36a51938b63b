package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck"
	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/apitest"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

// TestValidateSurvivesALostUDPAnswer: when the first answer of every
// question about a domain is lost, /v1/validate still answers valid within
// its budget, because the resolver sends a query with no answer once more.
func TestValidateSurvivesALostUDPAnswer(t *testing.T) {
	t.Parallel()
	fx := testenv.NewFixture(t, dnstest.Config{
		Behaviours: map[string]dnstest.Behaviour{"acme.test": dnstest.FailFirst(dnstest.Blackhole(), 1)},
	}, 2*time.Second)
	srv := api.NewServer(api.Options{ValidateTimeout: 10 * time.Second}, api.Deps{
		Engine: fx.Engine(),
		Logger: slog.New(slog.DiscardHandler),
		Spec:   leadcheck.OpenAPISpec,
	})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	c, err := client.NewClientWithResponses(hs.URL, client.WithHTTPClient(&http.Client{Transport: apitest.Transport{Reporter: t}}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.ValidateQueryWithResponse(context.Background(), &client.ValidateQueryParams{Email: ptr("jane@acme.test")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil || resp.JSON200.Email == nil {
		t.Fatalf("got %d %s, want 200 with an email result", resp.StatusCode(), resp.Body)
	}
	if e := resp.JSON200.Email; e.Verdict != client.VerdictValid {
		t.Errorf("got %s/%s (%q), want valid", e.Verdict, e.Reason, deref(e.Message))
	}
}
