package bulk

import (
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// TestCountryNeeded: a national phone number with no region from the row
// or the job is unknown / country_needed, counted, and advised on; with a
// country cell or a default_country it is read in that country.
func TestCountryNeeded(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, nil)
		e.start()

		type want struct {
			verdict validate.Verdict
			reason  validate.Reason
		}
		valid := want{validate.Valid, validate.ReasonOK}
		needed := want{validate.Unknown, validate.ReasonCountryNeeded}
		tests := []struct {
			name           string
			file           string
			defaultCountry string
			rows           []want
			countryNeeded  int
		}{
			{
				name:          "no country column, no default",
				file:          "phone\n(415) 555-0132\n+1 415 555 0132\n12\n",
				rows:          []want{needed, valid, needed},
				countryNeeded: 2,
			},
			{
				name:           "no country column, default_country",
				file:           "phone\n(415) 555-0132\n+1 415 555 0132\n",
				defaultCountry: "us",
				rows:           []want{valid, valid},
			},
			{
				name: "country column, no default",
				file: "phone,country\n(415) 555-0132,US\n020 7946 0958,\n020 7946 0958,Great Britain\n020 7946 0958,GB\n",
				rows: []want{valid, needed, needed, valid},
				// The cell "Great Britain" is no ISO code, so the row has no
				// region either.
				countryNeeded: 2,
			},
			{
				name:           "country column and default_country",
				file:           "phone,country\n(415) 555-0132,US\n020 7946 0958,\n020 7946 0958,Great Britain\n",
				defaultCountry: "GB",
				rows:           []want{valid, valid, valid},
			},
			{
				name:          "email valid, phone needs a country",
				file:          "email,phone\njane@acme.test,(415) 555-0132\n",
				rows:          []want{needed},
				countryNeeded: 1,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				st := e.mustSubmit("", tt.file, Options{DefaultCountry: tt.defaultCountry})
				done := e.wait("", st.ID)
				if done.Status != StatusCompleted {
					t.Fatalf("got %+v, want completed", done)
				}
				rows := parseNDJSON(t, e.download("", st.ID, FormatNDJSON, ""))
				if len(rows) != len(tt.rows) {
					t.Fatalf("got %d rows, want %d", len(rows), len(tt.rows))
				}
				for i, r := range rows {
					p := r.Result.Phone
					if p == nil {
						t.Fatalf("row %d: got no phone result", i+1)
					}
					if got := (want{p.Verdict, p.Reason}); got != tt.rows[i] {
						t.Errorf("row %d (%v): got %s/%s, want %s/%s", i+1, r.Record, got.verdict, got.reason, tt.rows[i].verdict, tt.rows[i].reason)
					}
					if p.Reason == validate.ReasonCountryNeeded && (!strings.Contains(p.Message, "country") || !strings.Contains(p.Message, "+")) {
						t.Errorf("row %d: got message %q, want one saying to send the country or the + form", i+1, p.Message)
					}
				}
				if done.Counts.CountryNeeded != tt.countryNeeded {
					t.Errorf("counts.country_needed: got %d, want %d", done.Counts.CountryNeeded, tt.countryNeeded)
				}
				if tt.countryNeeded == 0 {
					if done.Advice != nil {
						t.Errorf("advice: got %+v, want none", done.Advice)
					}
					return
				}
				if len(done.Advice) != 1 || done.Advice[0].Code != "set_default_country" || !strings.Contains(done.Advice[0].Message, "default_country") {
					t.Errorf("advice: got %+v, want set_default_country naming default_country", done.Advice)
				}
			})
		}
	})
}
