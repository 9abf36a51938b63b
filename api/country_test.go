package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/client"
)

// TestPhoneCountryNeeded: a national number with no country is unknown /
// country_needed, never invalid, through GET and POST alike; with a
// country, or in + form, it is read.
func TestPhoneCountryNeeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t, api.Options{})
	tests := []struct {
		name    string
		phone   string
		country string // "" sends none
		verdict client.Verdict
		reason  client.Reason
	}{
		{"national, no country", "(415) 555-0132", "", client.VerdictUnknown, client.ReasonCountryNeeded},
		{"national, country", "(415) 555-0132", "US", client.VerdictValid, client.ReasonOk},
		{"national, lower-case country", "(415) 555-0132", "us", client.VerdictValid, client.ReasonOk},
		{"international, no country", "+1 415 555 0132", "", client.VerdictValid, client.ReasonOk},
		{"00 prefix, no country", "0044 20 7946 0958", "", client.VerdictValid, client.ReasonOk},
		{"short digits, no country", "12", "", client.VerdictUnknown, client.ReasonCountryNeeded},
		{"short digits, country", "12", "US", client.VerdictInvalid, client.ReasonTooShort},
		{"unused calling code", "+999 1234 5678", "", client.VerdictInvalid, client.ReasonInvalidCountryCode},
	}
	for _, tt := range tests {
		for _, method := range []string{"GET", "POST"} {
			t.Run(method+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				var country *string
				if tt.country != "" {
					country = ptr(tt.country)
				}
				var got *client.ValidateResponse
				var status int
				var body []byte
				if method == "GET" {
					resp, err := e.client.ValidateQueryWithResponse(context.Background(), &client.ValidateQueryParams{Phone: ptr(tt.phone), Country: country})
					if err != nil {
						t.Fatal(err)
					}
					got, status, body = resp.JSON200, resp.StatusCode(), resp.Body
				} else {
					resp, err := e.client.ValidateLeadWithResponse(context.Background(), client.ValidateRequest{Phone: ptr(tt.phone), Country: country})
					if err != nil {
						t.Fatal(err)
					}
					got, status, body = resp.JSON200, resp.StatusCode(), resp.Body
				}
				if got == nil || got.Phone == nil {
					t.Fatalf("got status %d body %s, want 200 with a phone result", status, body)
				}
				p := got.Phone
				if p.Verdict != tt.verdict || p.Reason != tt.reason || got.Verdict != tt.verdict {
					t.Errorf("got phone %s/%s, lead %s, want %s/%s (message %q)", p.Verdict, p.Reason, got.Verdict, tt.verdict, tt.reason, deref(p.Message))
				}
				if tt.reason == client.ReasonCountryNeeded {
					msg := deref(p.Message)
					if !strings.Contains(msg, "country") || !strings.Contains(msg, "+") {
						t.Errorf("message: got %q, want one saying to send the country or the + form", msg)
					}
					if got.Score != 50 {
						t.Errorf("score: got %d, want 50 as for any unknown", got.Score)
					}
				}
			})
		}
	}
}

// TestBulkCountryNeeded: through the HTTP API, a file of national numbers
// without default_country counts its country_needed rows and advises
// default_country; with default_country it does not.
func TestBulkCountryNeeded(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{})
	file := []byte("phone,country\n(415) 555-0132,\n(415) 555-0133,US\n+1 415 555 0134,\n")
	for _, tt := range []struct {
		name           string
		fields         map[string]string
		countryNeeded  int
		wantAdvice     bool
		unknown, valid int
	}{
		{"without default_country", nil, 1, true, 1, 2},
		{"with default_country", map[string]string{"default_country": "US"}, 0, false, 0, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			job := e.mustCreate(upload{filename: "leads.csv", content: file, fields: tt.fields})
			done := e.wait(job.Id)
			c := done.Counts
			if done.Status != client.BulkStatusCompleted || c.CountryNeeded != tt.countryNeeded || c.Unknown != tt.unknown || c.Valid != tt.valid {
				t.Fatalf("got %s with counts %+v, want completed with %d country_needed, %d unknown, %d valid", done.Status, c, tt.countryNeeded, tt.unknown, tt.valid)
			}
			var advice []client.BulkAdvice
			if done.Advice != nil {
				advice = *done.Advice
			}
			if !tt.wantAdvice {
				if len(advice) != 0 {
					t.Errorf("advice: got %+v, want none", advice)
				}
				return
			}
			if len(advice) != 1 || advice[0].Code != "set_default_country" || !strings.Contains(advice[0].Message, "default_country") {
				t.Errorf("advice: got %+v, want set_default_country naming default_country", advice)
			}
		})
	}
}
