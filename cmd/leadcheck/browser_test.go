//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// chromiumPath is where Debian's chromium package puts the browser; the
// browser scripts launch it through playwright-core.
const chromiumPath = "/usr/bin/chromium"

// browserZone is what the browser tests resolve: gmail.com receives mail,
// gmial.com (the typo) does not exist, and two names misbehave through the
// behaviours set in TestBrowser.
const browserZone = `
$ORIGIN com.
@          300 IN SOA ns.com. hostmaster.com. 1 3600 600 86400 60
gmail      300 IN MX  5  gmail-smtp-in.l.google.com.
gmail      300 IN MX  10 alt1.gmail-smtp-in.l.google.com.
$ORIGIN test.
@          300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
acme       300 IN MX  10 mx1.acme.test.
slow       300 IN MX  10 mx.slow.test.
flaky      300 IN MX  10 mx.flaky.test.
`

// TestBrowser runs the widget and demo page scripts of web/e2e (node's test
// runner driving headless Chromium through playwright-core) against a real
// server process. Screenshots land in $ARTIFACTS (default <repo>/artifacts).
func TestBrowser(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	e2e := filepath.Join(repo, "web", "e2e")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; run scripts/test, which installs what the browser tests need")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("%s is missing; run scripts/test, which installs Debian's chromium", chromiumPath)
	}
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core")); err != nil {
		t.Skip("web/e2e/node_modules is missing; run scripts/test, which runs npm ci there")
	}
	artifacts := os.Getenv("ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(repo, "artifacts")
	}
	// Node runs in web/e2e: a relative ARTIFACTS means the caller's dir.
	if artifacts, err = filepath.Abs(artifacts); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}

	// slow.test never answers, so its check ends only at the DNS timeout:
	// long enough for the page to replace it with a newer value. flaky.test
	// answers SERVFAIL, which the API reports as unknown.
	dns := dnstest.Start(t, dnstest.Config{
		Zone: browserZone,
		Behaviours: map[string]dnstest.Behaviour{
			"slow.test":  dnstest.Blackhole(),
			"flaky.test": dnstest.Servfail(),
		},
	})
	p := startProcess(t, map[string]string{
		"LEADCHECK_DNS":              dns.Addr(),
		"LEADCHECK_DNS_TIMEOUT":      "3s",
		"LEADCHECK_VALIDATE_TIMEOUT": "4s",
		"LEADCHECK_CACHE_ERROR_TTL":  "0s",
		"LEADCHECK_DATA_DIR":         t.TempDir(),
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "widget.test.mjs", "demo.test.mjs")
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(),
		"BASE_URL="+p.base,
		"ARTIFACTS="+artifacts,
		"CHROMIUM="+chromiumPath,
		"SLOW_DOMAIN=slow.test",
		"SERVFAIL_DOMAIN=flaky.test",
	)
	// Node starts Chromium, which starts its own helpers: on timeout the
	// whole process group goes, so no browser outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err = cmd.Run()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("browser tests did not finish within 2 minutes:\n%s", out.String())
	}
	if err != nil {
		t.Fatalf("browser tests failed (%v); screenshots in %s:\n%s\nserver logs:\n%s", err, artifacts, out.String(), p.logs.text())
	}
	// A browser test marked skip or todo would pass quietly: only a run
	// where every test ran counts.
	summary := reporterSummary(out.String())
	if summary["pass"] == 0 || summary["skipped"] != 0 || summary["todo"] != 0 {
		t.Fatalf("browser tests: got %v, want passes and nothing skipped or todo:\n%s", summary, out.String())
	}
	t.Logf("browser tests passed; screenshots in %s:\n%s", artifacts, out.String())
}

// summaryLine is one count at the end of node's spec reporter ("ℹ pass 7").
var summaryLine = regexp.MustCompile(`(?m)^ℹ (\w+) (\d+)$`)

// reporterSummary reads the counts (tests, pass, fail, skipped, todo, ...)
// at the end of node's spec reporter output.
func reporterSummary(out string) map[string]int {
	counts := make(map[string]int)
	for _, m := range summaryLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[2])
		counts[m[1]] = n
	}
	return counts
}
