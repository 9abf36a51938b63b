package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// TestValidateCommandCountryNeeded: the in-process validate command goes
// through the same engine as the API, so a national number without
// --country is unknown / country_needed, never invalid.
func TestValidateCommandCountryNeeded(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	env := envMap(map[string]string{"LEADCHECK_DNS": dns.Addr()})
	tests := []struct {
		args            []string
		verdict, reason string
	}{
		{[]string{"(415) 555-0132"}, "unknown", "country_needed"},
		{[]string{"--country", "US", "(415) 555-0132"}, "valid", "ok"},
		{[]string{"+1 415 555 0132"}, "valid", "ok"},
		{[]string{"020 7946 0958"}, "unknown", "country_needed"},
		{[]string{"--country", "GB", "020 7946 0958"}, "valid", "ok"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"leadcheck", "validate"}, tt.args...), env, &out)
			var got struct {
				Verdict string
				Phone   struct{ Verdict, Reason, Message string }
			}
			if jerr := json.Unmarshal(out.Bytes(), &got); jerr != nil {
				t.Fatalf("output is not one JSON object: %v (run: %v)\n%s", jerr, err, out.String())
			}
			// The exit status (run's error) is the CLI's own business; the
			// verdict is what this test is about.
			if got.Phone.Verdict != tt.verdict || got.Phone.Reason != tt.reason || got.Verdict != tt.verdict {
				t.Errorf("got phone %s/%s, lead %s, want %s/%s (message %q)", got.Phone.Verdict, got.Phone.Reason, got.Verdict, tt.verdict, tt.reason, got.Phone.Message)
			}
		})
	}
}

// TestBulkCommandCountryNeeded: the in-process bulk command leaves a
// national number unknown / country_needed without --default-country and
// reads it with one.
func TestBulkCommandCountryNeeded(t *testing.T) {
	t.Parallel()
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone})
	dir := t.TempDir()
	leads := filepath.Join(dir, "leads.csv")
	if err := os.WriteFile(leads, []byte("phone\n(415) 555-0132\n+1 415 555 0133\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := envMap(map[string]string{"LEADCHECK_DNS": dnsSrv.Addr(), "LEADCHECK_DATA_DIR": filepath.Join(dir, "unused")})
	for _, tt := range []struct {
		name    string
		flags   []string
		reasons []string
	}{
		{"without --default-country", nil, []string{"country_needed", "ok"}},
		{"with --default-country", []string{"--default-country", "US"}, []string{"ok", "ok"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			outPath := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".ndjson")
			args := append(append([]string{"leadcheck", "bulk", "--poll", "10ms", "--format", "ndjson", "-o", outPath}, tt.flags...), leads)
			var out bytes.Buffer
			err := run(context.Background(), args, env, &out)
			body, rerr := os.ReadFile(outPath)
			if rerr != nil {
				t.Fatalf("results: %v (run: %v)\n%s", rerr, err, out.String())
			}
			var reasons []string
			dec := json.NewDecoder(bytes.NewReader(body))
			for dec.More() {
				var row struct {
					Result struct{ Phone struct{ Reason string } }
				}
				if err := dec.Decode(&row); err != nil {
					t.Fatalf("results: %v\n%s", err, body)
				}
				reasons = append(reasons, row.Result.Phone.Reason)
			}
			if strings.Join(reasons, ",") != strings.Join(tt.reasons, ",") {
				t.Errorf("phone reasons: got %v, want %v", reasons, tt.reasons)
			}
		})
	}
}
