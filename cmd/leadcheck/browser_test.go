//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
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

	// A second server holds callers to a keys file, so the widget's and the
	// demo page's handling of refusals meets real 401, 403 and 429 answers.
	// A customer's site on a third loopback origin embeds its widget with
	// the key its URL names; "tight" allows one check an hour per visitor.
	var keyedBase atomic.Value
	siteSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = customerSite.Execute(w, map[string]string{"Widget": keyedBase.Load().(string) + "/widget.js", "Key": r.URL.Query().Get("key")})
	}))
	t.Cleanup(siteSrv.Close)
	keysPath := filepath.Join(t.TempDir(), "keys.yaml")
	site, tight, other := randomKey(t, "pk_"), randomKey(t, "pk_"), randomKey(t, "pk_")
	keysYAML := "keys:\n" +
		"  - name: site\n    key: " + site + "\n    kind: publishable\n    origins: [" + siteSrv.URL + "]\n" +
		"  - name: tight\n    key: " + tight + "\n    kind: publishable\n    origins: [" + siteSrv.URL + "]\n    rate: 1/h\n    burst: 1\n" +
		"  - name: other-site\n    key: " + other + "\n    kind: publishable\n    origins: [https://www.acme.com]\n"
	if err := os.WriteFile(keysPath, []byte(keysYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	keyed := startProcess(t, map[string]string{
		"LEADCHECK_DNS":              dns.Addr(),
		"LEADCHECK_DNS_TIMEOUT":      "3s",
		"LEADCHECK_VALIDATE_TIMEOUT": "4s",
		"LEADCHECK_KEYS_FILE":        keysPath,
	})
	keyedBase.Store(keyed.base)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "widget.test.mjs", "demo.test.mjs", "keys.test.mjs")
	cmd.Dir = e2e
	cmd.Env = append(os.Environ(),
		"BASE_URL="+p.base,
		"ARTIFACTS="+artifacts,
		"CHROMIUM="+chromiumPath,
		"SLOW_DOMAIN=slow.test",
		"SERVFAIL_DOMAIN=flaky.test",
		"KEYED_URL="+keyed.base,
		"SITE_URL="+siteSrv.URL,
		"SITE_KEY="+site,
		"TIGHT_KEY="+tight,
		"OTHER_SITE_KEY="+other,
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
		t.Fatalf("browser tests failed (%v); screenshots in %s:\n%s\nserver logs:\n%s\nkeyed server logs:\n%s", err, artifacts, out.String(), p.logs.text(), keyed.logs.text())
	}
	// A browser test marked skip or todo would pass quietly: only a run
	// where every test ran counts.
	summary := reporterSummary(out.String())
	if summary["pass"] == 0 || summary["skipped"] != 0 || summary["todo"] != 0 {
		t.Fatalf("browser tests: got %v, want passes and nothing skipped or todo:\n%s", summary, out.String())
	}
	t.Logf("browser tests passed; screenshots in %s:\n%s", artifacts, out.String())
}

// customerSite is a customer's sign-up page embedding the widget with a
// key, as the README's snippet does. Its own submit listener records
// whether the widget held the submit back, and it keeps every
// leadcheck:error the widget fires.
var customerSite = template.Must(template.New("site").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer site</title></head>
<body>
<form id="signup">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" data-leadcheck="email">
  <button type="submit">Sign up</button>
</form>
<p id="sent"></p>
<script src="{{.Widget}}" data-key="{{.Key}}" defer></script>
<script>
  window.refusals = [];
  var form = document.getElementById("signup");
  form.addEventListener("leadcheck:error", function (ev) { window.refusals.push(ev.detail); });
  form.addEventListener("submit", function (ev) {
    var held = ev.defaultPrevented;
    ev.preventDefault();
    document.getElementById("sent").textContent = held ? "held back" : "sent";
  });
</script>
</body></html>
`))

// randomKey is a fresh key with the given prefix, as keys new makes them.
func randomKey(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
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
