package cache

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadcheck/leadcheck/internal/testenv"
)

// newTestMemo builds a Memo that is closed when the test ends.
func newTestMemo(tb testing.TB, cfg Config, namespace string) *Memo {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := NewMemo(cfg, namespace, nil)
	if err != nil {
		tb.Fatalf("NewMemo: %v", err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return m
}

// countedLoad returns a load function that answers value for ttl and counts
// its calls.
func countedLoad(value string, ttl time.Duration) (func(context.Context) ([]byte, time.Duration), *atomic.Int64) {
	var n atomic.Int64
	return func(context.Context) ([]byte, time.Duration) {
		n.Add(1)
		return []byte(value), ttl
	}, &n
}

func TestMemoMissThenHitInProcess(t *testing.T) {
	t.Parallel()
	m := newTestMemo(t, Config{}, "site")
	load, loads := countedLoad(`{"name":"Example"}`, time.Hour)
	ctx := context.Background()

	v1, cached1 := m.Do(ctx, "example.com", load)
	v2, cached2 := m.Do(ctx, "example.com", load)
	if cached1 || !cached2 {
		t.Errorf("cached = %v then %v, want false then true", cached1, cached2)
	}
	if string(v1) != `{"name":"Example"}` || string(v2) != string(v1) {
		t.Errorf("values = %q then %q, want %q twice", v1, v2, `{"name":"Example"}`)
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
	want := Stats{LocalHits: 1, LocalMisses: 1, Loads: 1}
	if diff := cmp.Diff(want, m.Stats()); diff != "" {
		t.Errorf("Stats mismatch (-want +got):\n%s", diff)
	}
	if got := m.RedisStatus(); got != StatusDisabled {
		t.Errorf("RedisStatus = %q, want %q", got, StatusDisabled)
	}

	// Callers own what they get: changing it changes nothing cached.
	v2[0] = 'X'
	if v3, _ := m.Do(ctx, "example.com", load); string(v3) != `{"name":"Example"}` {
		t.Errorf("after a caller changed its copy, cached value = %q, want the original", v3)
	}
	// Keys are case-sensitive and namespaced by key only.
	if _, cached := m.Do(ctx, "EXAMPLE.com", load); cached {
		t.Errorf("another key: cached = true, want false")
	}
}

// TestMemoSharedBetweenInstances is two service instances on one Redis: what
// A loaded is a hit on B, with no load on B, stored under the documented key.
func TestMemoSharedBetweenInstances(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	a := newTestMemo(t, cfg, "site")
	b := newTestMemo(t, cfg, "site")
	loadA, loadsA := countedLoad("facts", time.Hour)
	loadB, loadsB := countedLoad("other", time.Hour)
	ctx := context.Background()

	va, cachedA := a.Do(ctx, "shared.example", loadA)
	vb, cachedB := b.Do(ctx, "shared.example", loadB)
	if cachedA || !cachedB {
		t.Errorf("cached on A, B = %v, %v; want false, true", cachedA, cachedB)
	}
	if string(va) != "facts" || string(vb) != "facts" {
		t.Errorf("values on A, B = %q, %q; want %q twice", va, vb, "facts")
	}
	if la, lb := loadsA.Load(), loadsB.Load(); la != 1 || lb != 0 {
		t.Errorf("loads on A, B = %d, %d; want 1, 0", la, lb)
	}
	if diff := cmp.Diff(Stats{LocalMisses: 1, RedisMisses: 1, Loads: 1}, a.Stats()); diff != "" {
		t.Errorf("A Stats mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Stats{LocalMisses: 1, RedisHits: 1}, b.Stats()); diff != "" {
		t.Errorf("B Stats mismatch (-want +got):\n%s", diff)
	}
	// The Redis hit filled B's local tier.
	if _, cached := b.Do(ctx, "shared.example", loadB); !cached || b.Stats().LocalHits != 1 {
		t.Errorf("second call on B: cached %v, local hits %d; want true, 1", cached, b.Stats().LocalHits)
	}
	key := cfg.KeyPrefix + "v1:site:shared.example"
	if got, err := rc.Get(ctx, key).Result(); err != nil || got != "facts" {
		t.Errorf("GET %s = %q, %v; want %q", key, got, err, "facts")
	}
	if got := a.RedisStatus(); got != StatusOK {
		t.Errorf("RedisStatus = %q, want %q", got, StatusOK)
	}
}

// TestMemoLocalExpiry moves the injected clock across the lifetime load
// asked for, capped at MaxTTL.
func TestMemoLocalExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ttl  time.Duration
		cfg  Config
		life time.Duration
	}{
		{"as load asked", 10 * time.Minute, Config{}, 10 * time.Minute},
		{"capped at the default MaxTTL", 30 * 24 * time.Hour, Config{}, DefaultMaxTTL},
		{"capped at a custom MaxTTL", 2 * time.Hour, Config{MaxTTL: time.Hour}, time.Hour},
		{"not raised to MinTTL", 30 * time.Second, Config{}, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			tt.cfg.Now = clock.Now
			m := newTestMemo(t, tt.cfg, "site")
			load, loads := countedLoad("v", tt.ttl)
			ctx := context.Background()

			m.Do(ctx, "example.com", load)
			clock.Advance(tt.life - time.Second)
			if _, cached := m.Do(ctx, "example.com", load); !cached {
				t.Errorf("1s before %v: cached = false, want true", tt.life)
			}
			clock.Advance(2 * time.Second)
			if _, cached := m.Do(ctx, "example.com", load); cached {
				t.Errorf("1s after %v: cached = true, want false", tt.life)
			}
			if got := loads.Load(); got != 2 {
				t.Errorf("loads = %d, want 2", got)
			}
		})
	}
}

// TestMemoRedisTTLs checks the lifetime of values in Redis (PTTL), and that
// a ttl of zero or less stores nothing in either tier.
func TestMemoRedisTTLs(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	cfg.MaxTTL = 6 * time.Hour
	m := newTestMemo(t, cfg, "site")
	ctx := context.Background()
	tests := []struct {
		key  string
		ttl  time.Duration
		want time.Duration // 0: not stored
	}{
		{"hour.example", time.Hour, time.Hour},
		{"minute.example", time.Minute, time.Minute},
		{"long.example", 7 * 24 * time.Hour, 6 * time.Hour},
		{"zero.example", 0, 0},
		{"negative.example", -time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			load, loads := countedLoad("v", tt.ttl)
			m.Do(ctx, tt.key, load)
			checkRedisTTL(t, rc, cfg.KeyPrefix+"v1:site:"+tt.key, tt.want)
			if tt.want == 0 {
				if _, cached := m.Do(ctx, tt.key, load); cached || loads.Load() != 2 {
					t.Errorf("second call: cached %v, loads %d; want false, 2 (nothing kept in process)", cached, loads.Load())
				}
			}
		})
	}
}

// TestMemoRedisHitKeepsRemainingLifetime: an instance that takes a value
// from Redis keeps it in process only as long as Redis would.
func TestMemoRedisHitKeepsRemainingLifetime(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	ctx := context.Background()
	if err := rc.Set(ctx, cfg.KeyPrefix+"v1:site:remaining.example", "stored", 10*time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	clock := newFakeClock()
	cfg.Now = clock.Now
	m := newTestMemo(t, cfg, "site")
	load, loads := countedLoad("loaded", 24*time.Hour)

	if v, cached := m.Do(ctx, "remaining.example", load); !cached || string(v) != "stored" {
		t.Fatalf("first call = (%q, %v), want (stored, true) from Redis", v, cached)
	}
	clock.Advance(9 * time.Minute)
	if _, cached := m.Do(ctx, "remaining.example", load); !cached || m.Stats().LocalHits != 1 {
		t.Errorf("after 9m: cached %v, local hits %d; want true, 1", cached, m.Stats().LocalHits)
	}
	clock.Advance(2 * time.Minute)
	// Past the remaining 10 minutes the local entry is gone; Redis (on its
	// own clock) still has the key, so this is a Redis hit, not a load.
	m.Do(ctx, "remaining.example", load)
	if got := m.Stats().RedisHits; got != 2 {
		t.Errorf("redis hits after 11m = %d, want 2", got)
	}
	if got := loads.Load(); got != 0 {
		t.Errorf("loads = %d, want 0", got)
	}
}

// TestMemoConcurrentCallsLoadOnce: 100 callers for one cold key at once cost
// one Redis read and one load, and all get the value.
func TestMemoConcurrentCallsLoadOnce(t *testing.T) {
	t.Parallel()
	_, cfg := sharedRedis(t)
	m := newTestMemo(t, cfg, "site")
	release := make(chan struct{})
	var loads atomic.Int64
	load := func(ctx context.Context) ([]byte, time.Duration) {
		loads.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return []byte("facts"), time.Hour
	}

	wait := callAtOnce(100, func() []byte {
		v, _ := m.Do(context.Background(), "cold.example", load)
		return v
	})
	close(release)
	results := wait()

	if got := loads.Load(); got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
	s := m.Stats()
	if reads := s.RedisMisses + s.RedisHits + s.RedisErrors; reads != 1 {
		t.Errorf("redis reads = %d (hits %d, misses %d, errors %d), want 1", reads, s.RedisHits, s.RedisMisses, s.RedisErrors)
	}
	for i, v := range results {
		if string(v) != "facts" {
			t.Errorf("caller %d got %q, want %q", i, v, "facts")
		}
	}
}

// TestMemoCallerLeavingDoesNotCancelLoad: the caller who started a load
// gives up and gets (nil, false) at once; the load goes on, with the
// caller's values but not its cancellation, for the others and the cache.
func TestMemoCallerLeavingDoesNotCancelLoad(t *testing.T) {
	t.Parallel()
	m := newTestMemo(t, Config{}, "site")
	type ctxKey struct{}
	release := make(chan struct{})
	entered := make(chan struct{})
	var loadErr, loadValue atomic.Value
	load := func(ctx context.Context) ([]byte, time.Duration) {
		close(entered)
		loadValue.Store(ctx.Value(ctxKey{}))
		<-release
		if err := ctx.Err(); err != nil {
			loadErr.Store(err)
			return nil, 0
		}
		return []byte("facts"), time.Hour
	}

	first, cancelFirst := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "request-1"))
	type result struct {
		v      []byte
		cached bool
	}
	firstDone := make(chan result)
	go func() {
		v, cached := m.Do(first, "slow.example", load)
		firstDone <- result{v, cached}
	}()
	<-entered
	second := make(chan result)
	go func() {
		v, cached := m.Do(context.Background(), "slow.example", load)
		second <- result{v, cached}
	}()
	cancelFirst()
	select {
	case r := <-firstDone:
		if r.v != nil || r.cached {
			t.Errorf("cancelled caller got (%q, %v), want (nil, false)", r.v, r.cached)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled caller still waiting after 5s")
	}
	close(release)
	if r := <-second; string(r.v) != "facts" {
		t.Errorf("second caller got %q, want %q", r.v, "facts")
	}
	if err := loadErr.Load(); err != nil {
		t.Errorf("load saw a cancelled context: %v", err)
	}
	if got := loadValue.Load(); got != "request-1" {
		t.Errorf("load's ctx value = %v, want request-1 (the caller's values are kept)", got)
	}
	if _, cached := m.Do(context.Background(), "slow.example", load); !cached {
		t.Errorf("after the load, cached = false, want true")
	}
}

// TestMemoCallerBudgetEndsTheWait: a caller whose deadline passes while a
// load hangs gets (nil, false) in time, not a hang.
func TestMemoCallerBudgetEndsTheWait(t *testing.T) {
	t.Parallel()
	m := newTestMemo(t, Config{}, "site")
	load := func(ctx context.Context) ([]byte, time.Duration) {
		<-ctx.Done() // until Close aborts it
		return nil, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	v, cached := m.Do(ctx, "hang.example", load)
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Do with a 300ms budget took %v", el)
	}
	if v != nil || cached {
		t.Errorf("Do = (%q, %v), want (nil, false)", v, cached)
	}
	// A caller whose ctx has already ended does not start a load.
	if v, cached := m.Do(ctx, "other.example", load); v != nil || cached {
		t.Errorf("Do with an ended ctx = (%q, %v), want (nil, false)", v, cached)
	}
	if got := m.Stats().Loads; got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
}

// TestMemoRedisKilled: Redis dies mid-run; Do still loads and returns, fast,
// and the status turns degraded.
func TestMemoRedisKilled(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	killRedis := testenv.RedisServer(t, port)
	m := newTestMemo(t, Config{RedisURL: testenv.RedisServerURL(port), RedisTimeout: testRedisTimeout}, "site")
	ctx := context.Background()
	do := func(key string) {
		t.Helper()
		load, loads := countedLoad("facts of "+key, time.Hour)
		start := time.Now()
		v, cached := m.Do(ctx, key, load)
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("Do took %v; Redis trouble must not hang callers", el)
		}
		if string(v) != "facts of "+key || cached || loads.Load() != 1 {
			t.Fatalf("Do(%s) = (%q, %v) after %d loads, want (%q, false) after 1", key, v, cached, loads.Load(), "facts of "+key)
		}
	}

	do("before.example")
	if s := m.Stats(); s.RedisMisses != 1 || s.RedisErrors != 0 || m.RedisStatus() != StatusOK {
		t.Fatalf("with Redis up: redis misses %d, errors %d, status %q; want 1, 0, ok", s.RedisMisses, s.RedisErrors, m.RedisStatus())
	}
	killRedis()
	for i := range 10 {
		do(fmt.Sprintf("d%d.example", i))
	}
	if got := m.RedisStatus(); got != StatusDegraded {
		t.Errorf("with Redis down: RedisStatus = %q, want %q", got, StatusDegraded)
	}
	if s := m.Stats(); s.RedisErrors != 10 || s.Loads != 11 {
		t.Errorf("with Redis down: redis errors %d, loads %d; want 10, 11", s.RedisErrors, s.Loads)
	}
	// What was loaded before the crash is still served in process.
	again, _ := countedLoad("reloaded", time.Hour)
	if _, cached := m.Do(ctx, "before.example", again); !cached {
		t.Errorf("a value loaded before the crash: cached = false, want true")
	}
}

// TestMemoSharesRedisWithDomains: one Redis (one pool, one breaker) for a
// Domains and a Memo; closing the caches leaves it to its owner.
func TestMemoSharesRedisWithDomains(t *testing.T) {
	t.Parallel()
	rc, base := sharedRedis(t)
	r, err := NewRedis(base)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	cfg := base
	cfg.Redis = r
	cfg.RedisURL = "redis://ignored.invalid:1/0" // Redis wins
	next, _ := counted(always(okFacts(time.Hour)))
	d := newTestDomains(t, cfg, next)
	m := newTestMemo(t, cfg, "site")
	ctx := context.Background()

	d.CheckDomain(ctx, "example.com")
	load, _ := countedLoad("facts", time.Hour)
	m.Do(ctx, "example.com", load)
	for _, key := range []string{base.KeyPrefix + "v1:dns:example.com", base.KeyPrefix + "v1:site:example.com"} {
		if n, err := rc.Exists(ctx, key).Result(); err != nil || n != 1 {
			t.Errorf("EXISTS %s = %d, %v; want 1", key, n, err)
		}
	}
	if d.RedisStatus() != StatusOK || m.RedisStatus() != StatusOK || r.Status() != StatusOK {
		t.Errorf("statuses (domains, memo, redis) = %q, %q, %q; want ok", d.RedisStatus(), m.RedisStatus(), r.Status())
	}

	if err := d.Close(); err != nil {
		t.Fatalf("Domains.Close: %v", err)
	}
	// The Memo still reads Redis: Domains did not close the shared client.
	m2 := newTestMemo(t, cfg, "site")
	reload, _ := countedLoad("reloaded", time.Hour)
	if v, cached := m2.Do(ctx, "example.com", reload); !cached || string(v) != "facts" {
		t.Errorf("after Domains.Close, another Memo got (%q, %v), want (facts, true) from Redis", v, cached)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Memo.Close: %v", err)
	}
	if err := m2.Close(); err != nil {
		t.Fatalf("Memo.Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Redis.Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Redis.Close: %v", err)
	}
}

func TestNewRedisRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{}, {RedisURL: "http://127.0.0.1:6379"}, {RedisURL: testenv.RedisURL(), RedisTimeout: -1}} {
		if r, err := NewRedis(cfg); err == nil {
			_ = r.Close()
			t.Errorf("NewRedis(%+v) error = nil, want an error", cfg)
		}
	}
}

// TestMemoMetrics: a Domains and Memos of two namespaces share a registry;
// Domains' series keep their names and labels, each Memo's carry its
// namespace, and a namespace registered twice is a wiring bug reported at
// start.
func TestMemoMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	next, _ := counted(always(okFacts(time.Hour)))
	d, err := NewDomains(Config{}, next, reg)
	if err != nil {
		t.Fatalf("NewDomains: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	site, err := NewMemo(Config{}, "site", reg)
	if err != nil {
		t.Fatalf("NewMemo(site): %v", err)
	}
	t.Cleanup(func() { _ = site.Close() })
	other, err := NewMemo(Config{}, "provider", reg)
	if err != nil {
		t.Fatalf("NewMemo(provider): %v", err)
	}
	t.Cleanup(func() { _ = other.Close() })

	ctx := context.Background()
	load, _ := countedLoad("v", time.Hour)
	site.Do(ctx, "example.com", load)
	site.Do(ctx, "example.com", load)
	d.CheckDomain(ctx, "example.com")

	got := counterValues(t, reg)
	want := map[string]float64{
		"leadcheck_cache_requests_total,result=hit,tier=local":                 0,
		"leadcheck_cache_requests_total,result=miss,tier=local":                1,
		"leadcheck_cache_requests_total,result=hit,tier=redis":                 0,
		"leadcheck_cache_requests_total,result=miss,tier=redis":                0,
		"leadcheck_cache_requests_total,result=error,tier=redis":               0,
		"leadcheck_cache_loads_total":                                          1,
		"leadcheck_cache_redis_write_errors_total":                             0,
		"leadcheck_cache_lease_waits_total":                                    0,
		"leadcheck_memo_requests_total,cache=site,result=hit,tier=local":       1,
		"leadcheck_memo_requests_total,cache=site,result=miss,tier=local":      1,
		"leadcheck_memo_requests_total,cache=site,result=hit,tier=redis":       0,
		"leadcheck_memo_requests_total,cache=site,result=miss,tier=redis":      0,
		"leadcheck_memo_requests_total,cache=site,result=error,tier=redis":     0,
		"leadcheck_memo_loads_total,cache=site":                                1,
		"leadcheck_memo_redis_write_errors_total,cache=site":                   0,
		"leadcheck_memo_requests_total,cache=provider,result=hit,tier=local":   0,
		"leadcheck_memo_requests_total,cache=provider,result=miss,tier=local":  0,
		"leadcheck_memo_requests_total,cache=provider,result=hit,tier=redis":   0,
		"leadcheck_memo_requests_total,cache=provider,result=miss,tier=redis":  0,
		"leadcheck_memo_requests_total,cache=provider,result=error,tier=redis": 0,
		"leadcheck_memo_loads_total,cache=provider":                            0,
		"leadcheck_memo_redis_write_errors_total,cache=provider":               0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics mismatch (-want +got):\n%s", diff)
	}

	if m, err := NewMemo(Config{}, "site", reg); err == nil {
		_ = m.Close()
		t.Errorf("second NewMemo(site) on one registry: error = nil, want an error")
	}
	// The failed registration left the registry usable.
	if _, err := reg.Gather(); err != nil {
		t.Errorf("Gather after a refused registration: %v", err)
	}
}

func TestNewMemoRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       Config
		namespace string
	}{
		{"empty namespace", Config{}, ""},
		{"namespace with a colon", Config{}, "site:v2"},
		{"upper-case namespace", Config{}, "Site"},
		{"namespace too long", Config{}, strings.Repeat("a", 33)},
		{"the DNS cache's namespace", Config{}, "dns"},
		{"the leases' namespace", Config{}, "lease"},
		{"bad redis url", Config{RedisURL: "http://127.0.0.1:6379"}, "site"},
		{"bad config", Config{MinTTL: time.Hour, MaxTTL: time.Second}, "site"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			m, err := NewMemo(tt.cfg, tt.namespace, reg)
			if err == nil {
				_ = m.Close()
				t.Fatalf("NewMemo(%q) error = nil, want an error", tt.namespace)
			}
			// Nothing stays registered, so a corrected retry can register.
			if m, err := NewMemo(Config{}, "site", reg); err != nil {
				t.Errorf("NewMemo after a failed one on the same registry: %v", err)
			} else {
				_ = m.Close()
			}
		})
	}
}

func TestMemoUncacheableKeysGoStraightThrough(t *testing.T) {
	t.Parallel()
	m := newTestMemo(t, Config{}, "site")
	for _, key := range []string{"", strings.Repeat("a", maxMemoKeyLength+1), "exa mple.com", "a\nb", "a\x7fb"} {
		load, loads := countedLoad("v", time.Hour)
		for range 2 {
			if v, cached := m.Do(context.Background(), key, load); cached || string(v) != "v" {
				t.Errorf("Do(%q) = (%q, %v), want (v, false)", key, v, cached)
			}
		}
		if got := loads.Load(); got != 2 {
			t.Errorf("Do(%q) twice: loads = %d, want 2", key, got)
		}
	}
}

func TestMemoCloseIsIdempotentAndLaterCallsStillLoad(t *testing.T) {
	t.Parallel()
	_, cfg := sharedRedis(t)
	m, err := NewMemo(cfg, "site", nil)
	if err != nil {
		t.Fatalf("NewMemo: %v", err)
	}
	load, loads := countedLoad("v", time.Hour)
	m.Do(context.Background(), "example.com", load)
	if err := m.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if v, cached := m.Do(context.Background(), "example.com", load); string(v) != "v" || cached {
		t.Errorf("after Close: Do = (%q, %v), want (v, false)", v, cached)
	}
	if got := loads.Load(); got != 2 {
		t.Errorf("loads = %d, want 2", got)
	}
}

// FuzzMemoKey checks that a key is either refused or the caller's key,
// unchanged, under the prefix and namespace, with no space or control byte.
func FuzzMemoKey(f *testing.F) {
	for _, s := range []string{"example.com", "Example.COM", "", " ", "a:b", "bücher.de", "\x00", strings.Repeat("x", 600)} {
		f.Add(s)
	}
	m := &Memo{keyPrefix: "p:v1:site:"}
	f.Fuzz(func(t *testing.T, key string) {
		k := m.key(key)
		if k == "" {
			return
		}
		rest, ok := strings.CutPrefix(k, "p:v1:site:")
		if !ok || rest != key {
			t.Fatalf("key(%q) = %q, want p:v1:site:%s", key, k, key)
		}
		if len(rest) > maxMemoKeyLength || strings.ContainsFunc(rest, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			t.Fatalf("key(%q) = %q, want at most %d bytes without spaces or control bytes", key, k, maxMemoKeyLength)
		}
	})
}
