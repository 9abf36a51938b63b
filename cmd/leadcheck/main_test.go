package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/apitest"
	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// The test binary doubles as the leadcheck binary: with this variable set it
// runs main, so process-level tests need no separate build and keep -race.
const runMainEnv = "LEADCHECK_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Args = append([]string{"leadcheck"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	code := m.Run()
	removeBuiltBinary()
	os.Exit(code)
}

const zone = `
$ORIGIN test.
@           300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
acme        300 IN MX  10 mx1.acme.test.
acme        300 IN TXT "v=spf1 mx ~all"
_dmarc.acme 300 IN TXT "v=DMARC1; p=quarantine"
other       300 IN MX  10 mx.other.test.
`

// envMap is a getenv over a map, so tests never touch the real environment.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// logWatcher is the stdout of an in-process run: it keeps every line and
// reports the address from the "listening" line.
type logWatcher struct {
	mu    sync.Mutex
	lines []string
	addr  chan string
}

func newLogWatcher() (*logWatcher, io.WriteCloser) {
	pr, pw := io.Pipe()
	w := &logWatcher{addr: make(chan string, 1)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			w.mu.Lock()
			w.lines = append(w.lines, line)
			w.mu.Unlock()
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				w.addr <- rec.Addr
			}
		}
	}()
	return w, pw
}

func (w *logWatcher) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

// served is `leadcheck serve` run in this process by a test.
type served struct {
	base string // "http://" and the address it listens on
	logs *logWatcher
	// stop cancels run's context and returns what run returned; it may be
	// called more than once, and runs when the test ends.
	stop func() error
}

// serveInProcess starts run(ctx, "serve") with env, on port 0 and (unless
// env names one) a temporary data directory, and returns once it listens.
// The test fails if run returns an error or hangs when it is stopped.
func serveInProcess(t *testing.T, env map[string]string) *served {
	t.Helper()
	all := map[string]string{"LEADCHECK_ADDR": "127.0.0.1:0", "LEADCHECK_DATA_DIR": t.TempDir()}
	maps.Copy(all, env)
	watcher, stdout := newLogWatcher()
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	exited := make(chan struct{})
	go func() {
		runErr = run(ctx, []string{"leadcheck", "serve"}, envMap(all), stdout)
		stdout.Close()
		close(exited)
	}()
	s := &served{logs: watcher}
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case <-exited:
				stopErr = runErr
			case <-time.After(20 * time.Second):
				stopErr = errors.New("run did not return within 20s of cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case a := <-watcher.addr:
		s.base = "http://" + a
	case <-exited:
		t.Fatalf("server stopped before listening: %v", runErr)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not start listening within 20s")
	}
	return s
}

func newClient(t *testing.T, base string) *client.ClientWithResponses {
	t.Helper()
	c, err := client.NewClientWithResponses(base, client.WithHTTPClient(&http.Client{
		Transport: apitest.Transport{Reporter: t, CheckRequests: true},
		Timeout:   10 * time.Second,
	}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestServeInProcess starts run on port 0, validates through the generated
// client, and checks that cancelling the context shuts down cleanly.
func TestServeInProcess(t *testing.T) {
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	srv := serveInProcess(t, map[string]string{"LEADCHECK_DNS": dns.Addr()})
	c := newClient(t, srv.base)
	ctx := t.Context()

	email := "jane@acme.test"
	resp, err := c.ValidateQueryWithResponse(ctx, &client.ValidateQueryParams{Email: &email})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil || resp.JSON200.Verdict != client.VerdictValid {
		t.Fatalf("got %d %s, want a valid verdict", resp.StatusCode(), resp.Body)
	}
	if p := resp.JSON200.Email.Dns.Dmarc.Policy; p == nil || *p != "quarantine" {
		t.Errorf("dmarc policy: got %v", p)
	}
	// The second call is served by the in-process cache.
	resp, err = c.ValidateQueryWithResponse(ctx, &client.ValidateQueryParams{Email: &email})
	if err != nil || resp.JSON200 == nil || !resp.JSON200.Cached {
		t.Errorf("second call: got %v %v, want cached=true", resp, err)
	}
	ready, err := c.ReadyzWithResponse(ctx)
	if err != nil || ready.JSON200 == nil || ready.JSON200.Checks["redis"] != "disabled" {
		t.Errorf("readyz: got %v %v", ready, err)
	}
	metrics, err := c.MetricsWithResponse(ctx)
	if err != nil || !bytes.Contains(metrics.Body, []byte("leadcheck_cache_requests_total")) {
		t.Errorf("metrics lack cache counters: %v", err)
	}

	if err := srv.stop(); err != nil {
		t.Errorf("run after cancel: got %v, want nil", err)
	}
	logs := srv.logs.text()
	if !strings.Contains(logs, "open mode") {
		t.Errorf("open mode was not logged:\n%s", logs)
	}
	if strings.Contains(logs, "jane@") {
		t.Errorf("logs contain an email address:\n%s", logs)
	}
}

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	var out bytes.Buffer
	err := run(context.Background(), []string{"leadcheck", "validate", "--country", "GB", "jane@acme.test", "020 7946 0958"},
		envMap(map[string]string{"LEADCHECK_DNS": dns.Addr()}), &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var got struct {
		Verdict string
		Email   struct{ Verdict, Normalized string }
		Phone   struct{ Verdict, E164 string }
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	if got.Verdict != "valid" || got.Email.Normalized != "jane@acme.test" || got.Phone.E164 != "+442079460958" {
		t.Errorf("got %+v", got)
	}

	// Two emails: one JSON line each.
	out.Reset()
	err = run(context.Background(), []string{"leadcheck", "validate", "jane@acme.test", "joe@missing.test"},
		envMap(map[string]string{"LEADCHECK_DNS": dns.Addr()}), &out)
	if !errors.Is(err, errSomeInvalid) {
		t.Fatal(err)
	}
	var verdicts []string
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r struct{ Verdict string }
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		verdicts = append(verdicts, r.Verdict)
	}
	if fmt.Sprint(verdicts) != "[valid invalid]" {
		t.Errorf("got verdicts %v, want [valid invalid]", verdicts)
	}
}

func TestValidateCommandThroughServer(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	base := serveInProcess(t, map[string]string{"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_API_KEYS": "secret"}).base
	ctx := t.Context()

	var out bytes.Buffer
	err := run(ctx, []string{"leadcheck", "validate", "--server", base, "--api-key", "secret", "jane@acme.test"}, envMap(nil), &out)
	if err != nil || !strings.Contains(out.String(), `"verdict": "valid"`) {
		t.Errorf("with key: %v\n%s", err, out.String())
	}
	err = run(ctx, []string{"leadcheck", "validate", "--server", base, "jane@acme.test"}, envMap(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "missing_api_key") {
		t.Errorf("without key: got %v, want a missing_api_key error", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LEADCHECK_DNS_TIMEOUT": "soon"}, "LEADCHECK_DNS_TIMEOUT"},
		{map[string]string{"LEADCHECK_DNS": "resolver.example"}, "LEADCHECK_DNS"},
		{map[string]string{"LEADCHECK_REDIS_URL": "localhost:6379"}, "redis://"},
		{map[string]string{"LEADCHECK_ADDR": "8080"}, "LEADCHECK_ADDR"},
		{map[string]string{"LEADCHECK_CACHE_MIN_TTL": "48h"}, "LEADCHECK_CACHE_MIN_TTL"},
		{map[string]string{"LEADCHECK_CORS_ORIGINS": "https://acme.test/form"}, "LEADCHECK_CORS_ORIGINS"},
		{map[string]string{"LEADCHECK_DISPOSABLE_FILE": "/nonexistent/list.txt", "LEADCHECK_ADDR": "127.0.0.1:0"}, "list.txt"},
	}
	for _, tt := range tests {
		err := run(context.Background(), []string{"leadcheck", "serve"}, envMap(tt.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v: got %v, want an error mentioning %q", tt.env, err, tt.want)
		}
	}
	if err := run(context.Background(), []string{"leadcheck", "frobnicate"}, envMap(nil), io.Discard); err == nil {
		t.Error("unknown command: got nil error")
	}
	if err := run(context.Background(), []string{"leadcheck", "serve", "-h"}, envMap(nil), io.Discard); err != nil {
		t.Errorf("serve -h: got %v, want nil", err)
	}
}

// process is a leadcheck server running as its own OS process.
type process struct {
	cmd    *exec.Cmd
	base   string
	logs   *logWatcher
	done   chan error    // receives the result of Wait once
	exited chan struct{} // closed once it has exited
}

// startProcess runs the test binary as the leadcheck binary with env and
// returns once it listens. The process is stopped (SIGINT, then SIGKILL
// after 15s) when the test ends.
func startProcess(t *testing.T, env map[string]string) *process {
	t.Helper()
	p := launchProcess(t, env)
	p.waitListening(t)
	return p
}

// launchProcess is the first half of startProcess: it starts the process
// and does not wait for it to listen, so that a test can start several at
// the same moment.
func launchProcess(t *testing.T, env map[string]string) *process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "serve")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "LEADCHECK_ADDR=127.0.0.1:0")
	if _, ok := env["LEADCHECK_DATA_DIR"]; !ok {
		cmd.Env = append(cmd.Env, "LEADCHECK_DATA_DIR="+t.TempDir())
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	watcher, stdout := newLogWatcher()
	cmd.Stdout = stdout
	cmd.Stderr = stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: watcher, done: make(chan error, 1), exited: make(chan struct{})}
	go func() {
		p.done <- cmd.Wait()
		stdout.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitListening is the second half of startProcess: it waits for the
// process's "listening" line and sets base.
func (p *process) waitListening(t *testing.T) {
	t.Helper()
	select {
	case a := <-p.logs.addr:
		p.base = "http://" + a
	case <-p.exited:
		t.Fatalf("process exited before listening; logs:\n%s", p.logs.text())
	case <-time.After(20 * time.Second):
		t.Fatalf("process did not listen within 20s; logs:\n%s", p.logs.text())
	}
}

// TestGracefulShutdown sends SIGTERM to a real process and expects a clean
// exit with status 0.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	p := startProcess(t, map[string]string{"LEADCHECK_DNS": dns.Addr()})
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("process exited with %v, want status 0; logs:\n%s", err, p.logs.text())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("process did not exit within 15s of SIGINT")
	}
	if !strings.Contains(p.logs.text(), `"msg":"stopped"`) {
		t.Errorf("no stopped line in logs:\n%s", p.logs.text())
	}
}
