package main

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/bulk"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the configuration table in README.md")

const (
	configStart = "<!-- config:start (written by: go test ./cmd/leadcheck -run TestREADMEConfig -update-readme) -->"
	configEnd   = "<!-- config:end -->"
)

// configTable renders settings() as the README's configuration table, so
// the table cannot drift from what the binary reads.
func configTable() string {
	var b strings.Builder
	b.WriteString("| variable | flag | meaning |\n|---|---|---|\n")
	for _, s := range settings() {
		fl := ""
		if s.flag != "" {
			fl = "`--" + s.flag + "`"
		}
		b.WriteString("| `" + s.env + "` | " + fl + " | " + strings.ReplaceAll(s.usage, "|", "\\|") + " |\n")
	}
	return b.String()
}

func TestREADMEConfig(t *testing.T) {
	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start, end := strings.Index(readme, configStart), strings.Index(readme, configEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the configuration markers %q ... %q", configStart, configEnd)
	}
	got := readme[start+len(configStart)+1 : end]
	want := configTable()
	if got == want {
		return
	}
	if *updateREADME {
		readme = readme[:start+len(configStart)+1] + want + readme[end:]
		if err := os.WriteFile(path, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's configuration table is stale; run: go test ./cmd/leadcheck -run TestREADMEConfig -update-readme")
}

// TestLimitSettingsExist: every setting a bulk refusal names is one the
// binary reads.
func TestLimitSettingsExist(t *testing.T) {
	known := map[string]bool{}
	for _, s := range settings() {
		known[s.env] = true
	}
	for limit, env := range bulk.LimitSettings {
		if !known[env] {
			t.Errorf("bulk.LimitSettings[%q] = %s, which is not a setting", limit, env)
		}
	}
}
