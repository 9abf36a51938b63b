package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

// writeKeysFile writes content to a keys file in a temporary directory.
func writeKeysFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKeysStartupErrors is the start-up error matrix: every way the keys
// can be misconfigured stops serve with a message naming the variable or
// entry, before it listens; nothing falls back to open mode.
func TestKeysStartupErrors(t *testing.T) {
	t.Parallel()
	good := "keys:\n  - name: a\n    key: sk_aaaaaaaaaaaaaaaaaaaa\n    kind: secret\n"
	for _, tc := range []struct {
		name string
		env  map[string]string // "" values are set-but-empty
		want []string
	}{
		{"api keys set but empty", map[string]string{"LEADCHECK_API_KEYS": ""}, []string{"LEADCHECK_API_KEYS", "holds no key"}},
		{"api keys only commas", map[string]string{"LEADCHECK_API_KEYS": ","}, []string{"LEADCHECK_API_KEYS", "holds no key"}},
		{"keys file set but empty", map[string]string{"LEADCHECK_KEYS_FILE": ""}, []string{"LEADCHECK_KEYS_FILE", "names no file"}},
		{"keys file missing", map[string]string{"LEADCHECK_KEYS_FILE": "/nonexistent/keys.yaml"}, []string{"LEADCHECK_KEYS_FILE", "keys.yaml"}},
		{"keys file empty", map[string]string{"LEADCHECK_KEYS_FILE": writeKeysFile(t, "")}, []string{"empty"}},
		{"keys file malformed", map[string]string{"LEADCHECK_KEYS_FILE": writeKeysFile(t, "keys: [\n")}, []string{"not valid"}},
		{"unknown kind", map[string]string{"LEADCHECK_KEYS_FILE": writeKeysFile(t, strings.Replace(good, "secret", "admin", 1))}, []string{"entry 1 (a)", "admin"}},
		{"bad rate", map[string]string{"LEADCHECK_KEYS_FILE": writeKeysFile(t, good+"    rate: fast\n")}, []string{"entry 1 (a)", "fast"}},
		{"duplicate key across both", map[string]string{"LEADCHECK_KEYS_FILE": writeKeysFile(t, good), "LEADCHECK_API_KEYS": "sk_aaaaaaaaaaaaaaaaaaaa"}, []string{"same key"}},
		{"bad trusted proxy", map[string]string{"LEADCHECK_TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"LEADCHECK_TRUSTED_PROXIES"}},
		{"bad default rate", map[string]string{"LEADCHECK_DEFAULT_RATE": "100/d"}, []string{"LEADCHECK_DEFAULT_RATE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"LEADCHECK_ADDR": "127.0.0.1:0", "LEADCHECK_DATA_DIR": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, []string{"leadcheck", "serve"}, getenvOf(lookup), &out)
			if err == nil {
				t.Fatalf("serve started; want a start-up error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(out.String(), `"msg":"listening"`) {
				t.Errorf("serve listened before failing:\n%s", out.String())
			}
		})
	}
}

// TestKeysNew: keys new prints a key and an entry that a server loads; the
// printed publishable key then validates from its origin and is refused on
// bulk.
func TestKeysNew(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(context.Background(), []string{"leadcheck", "keys", "new", "--kind", "publishable", "--origin", "https://www.acme.com"}, envMap(nil), &out); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^key: (pk_[A-Za-z0-9_-]{43})$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no pk_ key in:\n%s", out.String())
	}
	key := m[1]
	entry := out.String()[strings.Index(out.String(), "  - name:"):]
	if strings.Contains(entry, key) || !strings.Contains(entry, "key_sha256: ") || !strings.Contains(entry, "origins: [https://www.acme.com]") {
		t.Errorf("entry:\n%s", entry)
	}
	var sk bytes.Buffer
	if err := run(context.Background(), []string{"leadcheck", "keys", "new", "--name", "backend"}, envMap(nil), &sk); err != nil || !strings.Contains(sk.String(), "key: sk_") {
		t.Fatalf("secret key: %v\n%s", err, sk.String())
	}
	skEntry := sk.String()[strings.Index(sk.String(), "  - name:"):]
	for _, bad := range [][]string{{"--kind", "publishable"}, {"--kind", "admin"}, {"--origin", "https://a.example"}, {"--kind", "publishable", "--origin", "acme.com"}} {
		if err := run(context.Background(), append([]string{"leadcheck", "keys", "new"}, bad...), envMap(nil), io.Discard); err == nil {
			t.Errorf("keys new %v: got no error", bad)
		}
	}

	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	srv := serveInProcess(t, map[string]string{"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_KEYS_FILE": writeKeysFile(t, "keys:\n"+entry+skEntry)})
	get := func(method, path, key, origin string) int {
		req, _ := http.NewRequest(method, srv.base+path, nil)
		req.Header.Set("X-API-Key", key)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("GET", "/v1/validate?email=jane@acme.test", key, "https://www.acme.com"); got != 200 {
		t.Errorf("validate with the new key: got %d", got)
	}
	if got := get("GET", "/v1/bulk", key, ""); got != 403 {
		t.Errorf("bulk with the new publishable key: got %d, want 403", got)
	}
	if got := get("GET", "/v1/bulk", strings.TrimPrefix(regexp.MustCompile(`key: (sk_\S+)`).FindString(sk.String()), "key: "), ""); got != 200 {
		t.Errorf("bulk with the new secret key: got %d, want 200", got)
	}
	if logs := srv.logs.text(); strings.Contains(logs, key) {
		t.Errorf("logs carry the key:\n%s", logs)
	}
}

// TestTwoProcessesShareOneLimit: two real server processes with one Redis
// give one key one budget: a burst of 6 at one an hour allows 6 answers in
// all, whichever process is asked, and every further one is 429.
func TestTwoProcessesShareOneLimit(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.Redis(t)
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	file := writeKeysFile(t, "keys:\n  - name: shared\n    key: sk_shared_000000000000\n    kind: secret\n    rate: 1/h\n    burst: 6\n")
	env := map[string]string{"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_REDIS_URL": url, "LEADCHECK_CACHE_PREFIX": prefix, "LEADCHECK_KEYS_FILE": file}
	a, b := startProcess(t, env), startProcess(t, env)
	ok, refused := 0, 0
	for i := range 12 {
		base := a.base
		if i%2 == 1 {
			base = b.base
		}
		req, _ := http.NewRequest("GET", base+"/v1/validate?domain=acme.test", nil)
		req.Header.Set("X-API-Key", "sk_shared_000000000000")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
			refused++
		default:
			t.Errorf("request %d: got %d", i, resp.StatusCode)
		}
	}
	if ok != 6 || refused != 6 {
		t.Errorf("got %d answers and %d refusals across two processes, want 6 and 6 (one shared budget)", ok, refused)
	}
}

// TestRedisKilledMidRun: the limiter's Redis dies while requests arrive;
// answers go on being limited in process, and none is a 5xx.
func TestRedisKilledMidRun(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	stopRedis := testenv.RedisServer(t, port)
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	file := writeKeysFile(t, "keys:\n  - name: k\n    key: sk_killed_000000000000\n    kind: secret\n    rate: 1/h\n    burst: 3\n")
	srv := serveInProcess(t, map[string]string{"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_REDIS_URL": testenv.RedisServerURL(port), "LEADCHECK_KEYS_FILE": file})
	var mu sync.Mutex
	counts := map[int]int{}
	send := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest("GET", srv.base+"/v1/validate?domain=acme.test", nil)
				req.Header.Set("X-API-Key", "sk_killed_000000000000")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				counts[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	send(5) // against Redis: 3 allowed, 2 refused
	mu.Lock()
	if counts[200] != 3 || counts[429] != 2 {
		t.Errorf("with Redis: got %v, want 3×200 and 2×429", counts)
	}
	counts = map[int]int{}
	mu.Unlock()
	stopRedis()
	send(20) // Redis gone: the in-process bucket (burst 3) takes over
	mu.Lock()
	defer mu.Unlock()
	for status, n := range counts {
		if status >= 500 {
			t.Errorf("%d answers were %d after Redis died", n, status)
		}
	}
	if counts[200] > 3 || counts[429] < 17 {
		t.Errorf("without Redis: got %v, want at most 3×200 and the rest 429", counts)
	}
}

// TestLoadShedding floods a real server process with validations of
// domains whose DNS never answers, and counts its goroutines and open
// files before, during and after: during the flood they stay within what
// the connections themselves need plus the lookup bound, the overflow is
// answered 503 overloaded with Retry-After, a cached validation keeps
// answering, and afterwards both return to where they were.
func TestLoadShedding(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone, Behaviours: map[string]dnstest.Behaviour{"slow.test": dnstest.Blackhole()}})
	p := startProcess(t, map[string]string{
		"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_DNS_TIMEOUT": "2s", "LEADCHECK_VALIDATE_TIMEOUT": "3s",
		"LEADCHECK_MAX_VALIDATIONS_IN_FLIGHT": "64", "LEADCHECK_MAX_LOOKUPS_IN_FLIGHT": "16",
	})
	const conns = 300
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: 20 * time.Second}
	defer hc.CloseIdleConnections()
	get := func(query string) (int, string) {
		resp, err := hc.Get(p.base + "/v1/validate?" + query)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if st, _ := get("email=jane@acme.test"); st != 200 {
		t.Fatalf("warm-up: got %d", st)
	}
	pid := p.cmd.Process.Pid
	goroutines := func() int {
		resp, err := http.Get(p.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^go_goroutines (\d+)`).FindSubmatch(b)
		if m == nil {
			t.Fatal("no go_goroutines in /metrics")
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	openFiles := func() int {
		fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(fds)
	}
	g0, f0 := goroutines(), openFiles()

	var mu sync.Mutex
	statuses := map[int]int{}
	badRetry := 0
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, ra := get("email=jane@d" + strconv.Itoa(i) + ".slow.test")
			mu.Lock()
			statuses[st]++
			if st == 503 && ra == "" {
				badRetry++
			}
			mu.Unlock()
		}()
	}
	// While the flood is in flight (lookups take the 2s timeout), measure
	// and ask for a cached lead.
	time.Sleep(700 * time.Millisecond)
	g1, f1 := goroutines(), openFiles()
	if st, _ := get("email=jane@acme.test"); st != 200 {
		t.Errorf("cached validation during the flood: got %d, want 200", st)
	}
	wg.Wait()

	t.Logf("before: %d goroutines, %d files; during: %d goroutines, %d files; statuses %v", g0, f0, g1, f1, statuses)
	if statuses[503] == 0 || badRetry > 0 {
		t.Errorf("got statuses %v (%d 503s without Retry-After), want 503 overloaded with Retry-After past the bounds", statuses, badRetry)
	}
	for st, n := range statuses {
		if st != 200 && st != 503 {
			t.Errorf("%d answers were %d", n, st)
		}
	}
	// Each connection costs the server about two goroutines and one file;
	// the bound of 16 lookups adds a few sockets and goroutines each.
	// Without the bounds every one of the 300 validations holds its own
	// lookups: measured, 2,400 goroutines and 1,800 files.
	if g1 > g0+2*conns+200 {
		t.Errorf("goroutines during the flood: %d (from %d), want at most %d", g1, g0, g0+2*conns+200)
	}
	if f1 > f0+conns+16*6+50 {
		t.Errorf("open files during the flood: %d (from %d), want at most %d", f1, f0, f0+conns+16*6+50)
	}
	hc.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		g2, f2 := goroutines(), openFiles()
		if g2 <= g0+10 && f2 <= f0+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after the flood: %d goroutines and %d files, want back to about %d and %d", g2, f2, g0, f0)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestKeyWebhookSecretsKept: a keys-file key without webhook_secret gets
// one generated and kept (0600) under the data directory, the same across
// restarts; one with webhook_secret uses it; the log names files, never
// secrets.
func TestKeyWebhookSecretsKept(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	dataDir := t.TempDir()
	own := "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	file := writeKeysFile(t, "keys:\n  - name: tenant-a\n    key: sk_tenant_a_00000000000\n    kind: secret\n"+
		"  - name: tenant-b\n    key: sk_tenant_b_00000000000\n    kind: secret\n    webhook_secret: "+own+"\n")
	env := map[string]string{"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_DATA_DIR": dataDir, "LEADCHECK_KEYS_FILE": file}
	srv := serveInProcess(t, env)
	path := filepath.Join(dataDir, "webhook-secrets", "tenant-a")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode())
	}
	if _, err := os.Stat(filepath.Join(dataDir, "webhook-secrets", "tenant-b")); err == nil {
		t.Error("a secret was generated for the key that has its own")
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	logs := srv.logs.text()
	if !strings.Contains(logs, path) || strings.Contains(logs, strings.TrimSpace(string(b))) || strings.Contains(logs, own) {
		t.Errorf("logs must name the secret's file and no secret:\n%s", logs)
	}
	serveInProcess(t, env)
	again, _ := os.ReadFile(path)
	if string(again) != string(b) {
		t.Error("the secret changed across a restart")
	}
}

// TestPerKeyWebhooksThroughServer: two tenants' jobs on one server, each
// webhook sent to a host name that only LEADCHECK_DNS knows; each event
// verifies (Standard Webhooks reference library) with its own key's
// secret and not with the other's.
func TestPerKeyWebhooksThroughServer(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone + "hooks 300 IN A 127.0.0.1\n"})
	var mu sync.Mutex
	got := map[string]*http.Request{}
	bodies := map[string][]byte{}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path], bodies[r.URL.Path] = r, b
		mu.Unlock()
		w.WriteHeader(204)
	}))
	t.Cleanup(rcv.Close)
	_, port, _ := strings.Cut(strings.TrimPrefix(rcv.URL, "http://"), ":")
	dataDir := t.TempDir()
	ownA := "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	file := writeKeysFile(t, "keys:\n  - name: tenant-a\n    key: sk_tenant_a_00000000000\n    kind: secret\n    webhook_secret: "+ownA+"\n"+
		"  - name: tenant-b\n    key: sk_tenant_b_00000000000\n    kind: secret\n")
	srv := serveInProcess(t, map[string]string{"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_DATA_DIR": dataDir, "LEADCHECK_KEYS_FILE": file,
		"LEADCHECK_ALLOW_PRIVATE_NETWORKS": "true"})
	for _, tenant := range []string{"a", "b"} {
		body := `{"records":[{"email":"jane@acme.test"}],"webhook_url":"http://hooks.test:` + port + `/` + tenant + `"}`
		req, _ := http.NewRequest("POST", srv.base+"/v1/bulk", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-API-Key", "sk_tenant_"+tenant+"_00000000000")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("tenant %s: %d %s", tenant, resp.StatusCode, b)
		}
		if bytes.Contains(b, []byte("whsec_")) {
			t.Errorf("tenant %s: the job's status shows a secret: %s", tenant, b)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d webhooks within 20s, want 2", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	genB, err := os.ReadFile(filepath.Join(dataDir, "webhook-secrets", "tenant-b"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{"/a": ownA, "/b": strings.TrimSpace(string(genB))}
	mu.Lock()
	defer mu.Unlock()
	for path := range secrets {
		for other, secret := range secrets {
			v, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			err = v.Verify(bodies[path], got[path].Header)
			if other == path && err != nil {
				t.Errorf("webhook %s does not verify with its own key's secret: %v", path, err)
			}
			if other != path && err == nil {
				t.Errorf("webhook %s verifies with the other key's secret", path)
			}
		}
	}
}
