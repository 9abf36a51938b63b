package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// The CLI tests run the real binary, built once with go build, as a
// script would: arguments in, stdout, stderr and the exit status out.
var (
	buildOnce sync.Once
	builtExe  string
	buildErr  error
	buildDir  string
)

// leadcheckBinary builds ./cmd/leadcheck once per test run.
func leadcheckBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "leadcheck-cli-")
		if buildErr != nil {
			return
		}
		builtExe = filepath.Join(buildDir, "leadcheck")
		out, err := exec.Command("go", "build", "-o", builtExe, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(err.Error() + ": " + string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("go build: %v", buildErr)
	}
	return builtExe
}

// removeBuiltBinary runs after every test (TestMain).
func removeBuiltBinary() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with args and only env (plus PATH and HOME).
func runCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(leadcheckBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run %v: %v", args, err)
	}
	return cliResult{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// TestCLIArgumentOrder: flags work before, between and after the values.
func TestCLIArgumentOrder(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	env := map[string]string{"LEADCHECK_DNS": dns.Addr()}
	for _, args := range [][]string{
		{"validate", "--country", "GB", "jane@acme.test", "020 7946 0958"},
		{"validate", "jane@acme.test", "020 7946 0958", "--country", "GB"},
		{"validate", "jane@acme.test", "--country=GB", "020 7946 0958"},
		{"validate", "-country", "GB", "jane@acme.test", "--", "020 7946 0958"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, env, args...)
			if r.code != exitOK {
				t.Fatalf("exit %d, want 0\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
			}
			var got struct {
				Verdict string
				Email   struct{ Normalized string }
				Phone   struct{ E164 string }
				Domain  *struct{}
			}
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, r.stdout)
			}
			if got.Verdict != "valid" || got.Email.Normalized != "jane@acme.test" || got.Phone.E164 != "+442079460958" || got.Domain != nil {
				t.Errorf("got %+v from %s", got, r.stdout)
			}
		})
	}
	// After "--" a value that looks like a flag is a value.
	r := runCLI(t, env, "validate", "--", "--country")
	if r.code == exitError || !strings.Contains(r.stdout, `"domain"`) {
		t.Errorf("-- then --country: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCLIExitStatus: 0 when nothing is invalid, 2 when something is, 1 on
// an error, for validate and bulk; errors name flags as typed.
func TestCLIExitStatus(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	env := map[string]string{"LEADCHECK_DNS": dns.Addr()}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	mixed := filepath.Join(dir, "mixed.csv")
	os.WriteFile(good, []byte("email\njane@acme.test\n"), 0o644)
	os.WriteFile(mixed, []byte("email\njane@acme.test\njoe@missing.test\n"), 0o644)
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"validate", "jane@acme.test"}, exitOK, ""},
		{[]string{"validate", "joe@missing.test"}, exitInvalid, ""},
		{[]string{"validate", "jane@acme.test", "joe@missing.test"}, exitInvalid, ""},
		{[]string{"validate", "jane@acme.test", "--bogus"}, exitError, "--bogus"},
		{[]string{"validate", "jane@acme.test", "--country"}, exitError, "--country"},
		{[]string{"validate"}, exitError, "no value"},
		{[]string{"bulk", good, "-o", filepath.Join(dir, "good.out.csv")}, exitOK, ""},
		{[]string{"bulk", mixed, "-o", filepath.Join(dir, "mixed.out.csv")}, exitInvalid, ""},
		{[]string{"bulk", filepath.Join(dir, "none.csv")}, exitError, "none.csv"},
		{[]string{"bulk", good, "--format", "xml"}, exitError, "--format"},
		{[]string{"bulk", good, "--poll=soon"}, exitError, "--poll"},
		{[]string{"frobnicate"}, exitError, "serve, validate, bulk"},
		{nil, exitError, "serve, validate, bulk"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, env, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout %s\nstderr %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if tt.stderr != "" && !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr %q does not mention %q", r.stderr, tt.stderr)
			}
			if tt.code == exitInvalid && r.stderr != "" {
				t.Errorf("a run that worked wrote to stderr: %q", r.stderr)
			}
		})
	}
	// With no command, the usage names every command.
	r := runCLI(t, env)
	for _, cmd := range []string{"serve", "validate", "bulk", "help"} {
		if !strings.Contains(r.stdout, "leadcheck "+cmd) {
			t.Errorf("usage does not name %s:\n%s", cmd, r.stdout)
		}
	}
}

// TestCLINDJSON: several leads print as one compact JSON object per line.
func TestCLINDJSON(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	r := runCLI(t, map[string]string{"LEADCHECK_DNS": dns.Addr()}, "validate", "jane@acme.test", "joe@missing.test", "--country", "US", "bob@acme.test")
	if r.code != exitInvalid {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	var verdicts []string
	for _, l := range lines {
		var v struct{ Verdict string }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q is not a JSON object: %v\n%s", l, err, r.stdout)
		}
		verdicts = append(verdicts, v.Verdict)
	}
	if strings.Join(verdicts, " ") != "valid invalid valid" {
		t.Errorf("got verdicts %v, want valid invalid valid\n%s", verdicts, r.stdout)
	}
}

// TestCLIHelp: validate and bulk list their own flags only, spelled
// --name; -h is not an error.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	serverOnly := []string{"--addr", "--redis-url", "--data-dir", "--cors-origins", "--log-format"}
	for _, tt := range []struct {
		cmd  string
		want []string
	}{
		{"validate", []string{"--country", "--server", "--api-key", "--dns"}},
		{"bulk", []string{"--excel-safe", "--default-country", "--format", "--verdict", "--server", "-o", "--dns"}},
	} {
		for _, h := range []string{"--help", "-h"} {
			r := runCLI(t, nil, tt.cmd, h)
			if r.code != exitOK {
				t.Errorf("%s %s: exit %d", tt.cmd, h, r.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, "  "+w+" ") && !strings.Contains(r.stdout, "  "+w+"\n") {
					t.Errorf("%s %s lacks %s:\n%s", tt.cmd, h, w, r.stdout)
				}
			}
			for _, w := range serverOnly {
				if strings.Contains(r.stdout, w) {
					t.Errorf("%s %s lists the server's %s:\n%s", tt.cmd, h, w, r.stdout)
				}
			}
		}
	}
	if r := runCLI(t, nil, "serve", "--help"); r.code != exitOK || !strings.Contains(r.stdout, "addr") {
		t.Errorf("serve --help: exit %d\n%s", r.code, r.stdout)
	}
}

// TestCLIBulkFiles: results are named after the input, keep its mode and
// delimiter; --excel-safe=false writes cells unchanged.
func TestCLIBulkFiles(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	env := map[string]string{"LEADCHECK_DNS": dns.Addr()}
	dir := t.TempDir()
	in := filepath.Join(dir, "export.tsv")
	if err := os.WriteFile(in, []byte("Email\tNote\njane@acme.test\t=1+1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(in, 0o640) // whatever the umask
	for _, tt := range []struct {
		args []string
		note string
	}{
		{nil, "'=1+1"},
		{[]string{"--excel-safe=false"}, "=1+1"},
	} {
		r := runCLI(t, env, append([]string{"bulk", in}, tt.args...)...)
		if r.code != exitOK {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		out := filepath.Join(dir, "export.leadcheck.tsv")
		fi, err := os.Stat(out)
		if err != nil {
			t.Fatalf("results not at %s: %v\n%s", out, err, r.stdout)
		}
		if fi.Mode().Perm() != 0o640 {
			t.Errorf("results mode %v, want the input's 0640", fi.Mode().Perm())
		}
		b, _ := os.ReadFile(out)
		cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))))
		cr.Comma = '\t'
		rows, err := cr.ReadAll()
		if err != nil || len(rows) != 2 || len(rows[1]) < 3 {
			t.Fatalf("results are not tab-separated: %v %q", err, b)
		}
		if rows[1][1] != tt.note || rows[1][2] != "valid" {
			t.Errorf("%v: got %q, want note %q and valid", tt.args, rows[1], tt.note)
		}
	}
}

// rateRE finds the rates the progress bar and the summary show.
var rateRE = regexp.MustCompile(`([0-9]+) rows/s`)

// TestCLIProgressRate: the rates shown, in-process and with --server,
// never exceed what the job can do. Each row is a domain of its own that
// takes at least 50 ms of DNS, with 4 rows at a time and no lookups ahead
// of them: at most 80 rows/s.
func TestCLIProgressRate(t *testing.T) {
	t.Parallel()
	const rows, workers, latency = 120, 4, 50 * time.Millisecond
	zoneText, file := manyDomains(rows)
	dns := dnstest.Start(t, dnstest.Config{Zone: zoneText, Latency: latency})
	env := map[string]string{"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_BULK_WORKERS": strconv.Itoa(workers), "LEADCHECK_BULK_LOOKUPS_AHEAD": "0"}
	in := filepath.Join(t.TempDir(), "many.csv")
	if err := os.WriteFile(in, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := serveInProcess(t, env)
	limit := float64(workers) / latency.Seconds()
	for _, mode := range []string{"in-process", "server"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			args := []string{"bulk", in, "--poll", "50ms", "-o", filepath.Join(t.TempDir(), "out.csv")}
			if mode == "server" {
				args = append(args, "--server", srv.base)
			}
			r := runCLI(t, env, args...)
			if r.code != exitOK {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			var seen int
			sc := bufio.NewScanner(strings.NewReader(strings.ReplaceAll(r.stdout, "\r", "\n")))
			for sc.Scan() {
				for _, m := range rateRE.FindAllStringSubmatch(sc.Text(), -1) {
					seen++
					if rate, _ := strconv.ParseFloat(m[1], 64); rate > 1.5*limit {
						t.Errorf("shown %s rows/s; the job cannot pass %.0f: %q", m[1], limit, sc.Text())
					}
				}
			}
			if seen == 0 {
				t.Errorf("no rate shown:\n%s", r.stdout)
			}
			if !strings.Contains(r.stdout, strconv.Itoa(rows)+" rows in ") {
				t.Errorf("summary lacks the row count and time:\n%s", r.stdout)
			}
		})
	}
}

// TestRateMeter: rows done before watching started, or between two polls,
// are not a burst of speed.
func TestRateMeter(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var m rateMeter
	// Watching starts with 900,000 rows already done (uploaded, scanned
	// and half processed by a server): no rate yet.
	if r := m.add(start, 900_000); r != 0 {
		t.Errorf("first sample: got %.0f rows/s, want none", r)
	}
	// Then 1,000 rows/s, polled every 500 ms.
	var r float64
	for i := 1; i <= 20; i++ {
		r = m.add(start.Add(time.Duration(i)*500*time.Millisecond), 900_000+500*i)
		if r > 1001 {
			t.Fatalf("poll %d: got %.0f rows/s, want at most 1000", i, r)
		}
	}
	if r < 999 {
		t.Errorf("steady: got %.0f rows/s, want 1000", r)
	}
}
