package cache

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadcheck/leadcheck/validate"
)

func TestMissThenHitInProcess(t *testing.T) {
	t.Parallel()
	next, loads := counted(always(okFacts(time.Hour)))
	d := newTestDomains(t, Config{}, next)
	ctx := context.Background()

	f1, cached1 := d.CheckDomain(ctx, "example.com")
	f2, cached2 := d.CheckDomain(ctx, "EXAMPLE.com.")
	if cached1 || !cached2 {
		t.Errorf("cached = %v then %v, want false then true", cached1, cached2)
	}
	if diff := cmp.Diff(okFacts(time.Hour), f1); diff != "" {
		t.Errorf("first facts mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(f1, f2); diff != "" {
		t.Errorf("cached facts differ from loaded ones (-loaded +cached):\n%s", diff)
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
	want := Stats{LocalHits: 1, LocalMisses: 1, Loads: 1}
	if diff := cmp.Diff(want, d.Stats()); diff != "" {
		t.Errorf("Stats mismatch (-want +got):\n%s", diff)
	}
	if got := d.RedisStatus(); got != StatusDisabled {
		t.Errorf("RedisStatus = %q, want %q", got, StatusDisabled)
	}
}

func TestCachedFactsAreCopies(t *testing.T) {
	t.Parallel()
	next, _ := counted(always(okFacts(time.Hour)))
	d := newTestDomains(t, Config{}, next)
	ctx := context.Background()

	f, _ := d.CheckDomain(ctx, "example.com")
	f.MX[0].Host = "changed.example"
	again, _ := d.CheckDomain(ctx, "example.com")
	if got := again.MX[0].Host; got != "mx1.example.net" {
		t.Errorf("after a caller changed its copy, cached MX host = %q, want mx1.example.net", got)
	}
}

// TestSharedBetweenInstances is two service instances on one Redis: what A
// resolved is a hit on B, with no load on B.
func TestSharedBetweenInstances(t *testing.T) {
	t.Parallel()
	_, cfg := sharedRedis(t)
	nextA, loadsA := counted(always(okFacts(time.Hour)))
	nextB, loadsB := counted(always(okFacts(time.Hour)))
	a := newTestDomains(t, cfg, nextA)
	b := newTestDomains(t, cfg, nextB)
	ctx := context.Background()

	fa, cachedA := a.CheckDomain(ctx, "shared.example")
	fb, cachedB := b.CheckDomain(ctx, "shared.example")
	if cachedA || !cachedB {
		t.Errorf("cached on A, B = %v, %v; want false, true", cachedA, cachedB)
	}
	if diff := cmp.Diff(fa, fb); diff != "" {
		t.Errorf("B's facts differ from A's (-A +B):\n%s", diff)
	}
	if la, lb := loadsA.Load(), loadsB.Load(); la != 1 || lb != 0 {
		t.Errorf("loads on A, B = %d, %d; want 1, 0", la, lb)
	}
	wantA := Stats{LocalMisses: 1, RedisMisses: 1, Loads: 1}
	if diff := cmp.Diff(wantA, a.Stats()); diff != "" {
		t.Errorf("A Stats mismatch (-want +got):\n%s", diff)
	}
	wantB := Stats{LocalMisses: 1, RedisHits: 1}
	if diff := cmp.Diff(wantB, b.Stats()); diff != "" {
		t.Errorf("B Stats mismatch (-want +got):\n%s", diff)
	}
	// The Redis hit filled B's local tier.
	if _, cached := b.CheckDomain(ctx, "shared.example"); !cached {
		t.Errorf("second call on B cached = false, want true")
	}
	if got := b.Stats().LocalHits; got != 1 {
		t.Errorf("B local hits = %d, want 1", got)
	}
	if got := a.RedisStatus(); got != StatusOK {
		t.Errorf("RedisStatus = %q, want %q", got, StatusOK)
	}
}

// TestLocalExpiryClamped moves the injected clock across the clamped
// lifetime of each kind of answer.
func TestLocalExpiryClamped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		facts validate.DomainFacts
		cfg   Config
		// The entry must still be there just before life and gone after.
		life time.Duration
	}{
		{"positive inside bounds", okFacts(2 * time.Hour), Config{}, 2 * time.Hour},
		{"positive raised to MinTTL", okFacts(10 * time.Second), Config{}, DefaultMinTTL},
		{"positive cut to MaxTTL", okFacts(7 * 24 * time.Hour), Config{}, DefaultMaxTTL},
		{"positive with custom bounds", okFacts(time.Second), Config{MinTTL: time.Minute, MaxTTL: 2 * time.Minute}, time.Minute},
		{"nxdomain by its SOA", nxFacts(10 * time.Minute), Config{}, 10 * time.Minute},
		{"nxdomain cut to NegativeTTL", nxFacts(48 * time.Hour), Config{}, DefaultNegativeTTL},
		{"nxdomain raised to the floor", nxFacts(time.Second), Config{}, DefaultNegativeMinTTL},
		{"null MX cut to NegativeTTL", nullMXFacts(24 * time.Hour), Config{}, DefaultNegativeTTL},
		{"custom NegativeTTL", nxFacts(time.Hour), Config{NegativeTTL: 10 * time.Minute}, 10 * time.Minute},
		{"dns error for ErrorTTL", errFacts(), Config{ErrorTTL: 3 * time.Second}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			tt.cfg.Now = clock.Now
			next, loads := counted(always(tt.facts))
			d := newTestDomains(t, tt.cfg, next)
			ctx := context.Background()

			d.CheckDomain(ctx, "example.com")
			clock.Advance(tt.life - time.Second)
			if _, cached := d.CheckDomain(ctx, "example.com"); !cached {
				t.Errorf("1s before %v: cached = false, want true", tt.life)
			}
			clock.Advance(2 * time.Second)
			if _, cached := d.CheckDomain(ctx, "example.com"); cached {
				t.Errorf("1s after %v: cached = true, want false", tt.life)
			}
			if got := loads.Load(); got != 2 {
				t.Errorf("loads = %d, want 2", got)
			}
		})
	}
}

func TestErrorsNotCachedWhenErrorTTLZero(t *testing.T) {
	t.Parallel()
	next, loads := counted(always(errFacts()))
	d := newTestDomains(t, Config{ErrorTTL: 0}, next)
	for range 3 {
		if f, cached := d.CheckDomain(context.Background(), "down.example"); cached || f.Status != validate.DNSError {
			t.Errorf("CheckDomain = (status %q, cached %v), want (error, false)", f.Status, cached)
		}
	}
	if got := loads.Load(); got != 3 {
		t.Errorf("loads = %d, want 3", got)
	}
}

// TestRedisTTLs checks the lifetime each kind of answer gets in Redis
// (PTTL), and that errors stay out of Redis.
func TestRedisTTLs(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	tests := []struct {
		domain string
		facts  validate.DomainFacts
		want   time.Duration // 0: not stored
	}{
		{"positive.example", okFacts(3 * time.Hour), 3 * time.Hour},
		{"short.example", okFacts(5 * time.Second), DefaultMinTTL},
		{"long.example", okFacts(30 * 24 * time.Hour), DefaultMaxTTL},
		{"nx-soa.example", nxFacts(20 * time.Minute), 20 * time.Minute},
		{"nx-long.example", nxFacts(6 * time.Hour), DefaultNegativeTTL},
		{"nx-short.example", nxFacts(2 * time.Second), DefaultNegativeMinTTL},
		{"nullmx.example", nullMXFacts(12 * time.Hour), DefaultNegativeTTL},
		{"error.example", errFacts(), 0},
	}
	byDomain := make(map[string]validate.DomainFacts)
	for _, tt := range tests {
		byDomain[tt.domain] = tt.facts
	}
	next, _ := counted(func(d string) validate.DomainFacts { return byDomain[d] })
	cfg.ErrorTTL = DefaultErrorTTL
	d := newTestDomains(t, cfg, next)
	ctx := context.Background()

	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			d.CheckDomain(ctx, tt.domain)
			checkRedisTTL(t, rc, cfg.KeyPrefix+"v1:dns:"+tt.domain, tt.want)
		})
	}
}

// TestRedisHitKeepsRemainingLifetime: an instance that takes facts from Redis
// keeps them locally only as long as Redis would.
func TestRedisHitKeepsRemainingLifetime(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	ctx := context.Background()
	b, err := encodeFacts(okFacts(24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Set(ctx, cfg.KeyPrefix+"v1:dns:remaining.example", b, 10*time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	clock := newFakeClock()
	next, loads := counted(always(okFacts(24 * time.Hour)))
	cfg.Now = clock.Now
	d := newTestDomains(t, cfg, next)

	if _, cached := d.CheckDomain(ctx, "remaining.example"); !cached {
		t.Fatalf("first call cached = false, want true (from Redis)")
	}
	clock.Advance(9 * time.Minute)
	if _, cached := d.CheckDomain(ctx, "remaining.example"); !cached {
		t.Errorf("after 9m cached = false, want true")
	}
	if got := d.Stats().LocalHits; got != 1 {
		t.Errorf("local hits after 9m = %d, want 1", got)
	}
	clock.Advance(2 * time.Minute)
	// Past the remaining 10 minutes the local entry is gone; Redis (on its
	// own clock) still has the key, so this is a Redis hit, not a load.
	d.CheckDomain(ctx, "remaining.example")
	if got := d.Stats().RedisHits; got != 2 {
		t.Errorf("redis hits after 11m = %d, want 2", got)
	}
	if got := loads.Load(); got != 0 {
		t.Errorf("loads = %d, want 0", got)
	}
}

// TestUnusableRedisValueIsReplaced: a value this release cannot read (a
// corrupt write, a format it does not know) is a miss that gets overwritten.
func TestUnusableRedisValueIsReplaced(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	ctx := context.Background()
	key := cfg.KeyPrefix + "v1:dns:corrupt.example"
	if err := rc.Set(ctx, key, "{not json", time.Hour).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	next, loads := counted(always(okFacts(time.Hour)))
	d := newTestDomains(t, cfg, next)

	f, cached := d.CheckDomain(ctx, "corrupt.example")
	if cached || f.Status != validate.DNSOK {
		t.Errorf("CheckDomain = (status %q, cached %v), want (ok, false)", f.Status, cached)
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
	if got := d.Stats().RedisErrors; got != 1 {
		t.Errorf("redis errors = %d, want 1", got)
	}
	b, err := rc.Get(ctx, key).Bytes()
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if _, err := decodeFacts(b); err != nil {
		t.Errorf("value after reload does not decode: %v", err)
	}
	if got := d.RedisStatus(); got != StatusOK {
		t.Errorf("RedisStatus = %q, want %q (a bad value is not a Redis failure)", got, StatusOK)
	}
}

// TestConcurrentMissesLoadOnce: 100 requests for one cold domain at once
// cost one Redis GET and one load.
func TestConcurrentMissesLoadOnce(t *testing.T) {
	t.Parallel()
	_, cfg := sharedRedis(t)
	release := make(chan struct{})
	var loads atomic.Int64
	next := checkerFunc(func(ctx context.Context, _ string) (validate.DomainFacts, bool) {
		loads.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return okFacts(time.Hour), false
	})
	d := newTestDomains(t, cfg, next)

	wait := callAtOnce(100, func() validate.DomainFacts {
		f, _ := d.CheckDomain(context.Background(), "cold.example")
		return f
	})
	close(release)
	results := wait()

	if got := loads.Load(); got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
	s := d.Stats()
	if s.RedisMisses+s.RedisHits+s.RedisErrors != 1 {
		t.Errorf("redis reads = %d (hits %d, misses %d, errors %d), want 1", s.RedisMisses+s.RedisHits+s.RedisErrors, s.RedisHits, s.RedisMisses, s.RedisErrors)
	}
	for i, f := range results {
		if f.Status != validate.DNSOK {
			t.Errorf("caller %d got status %q, want ok", i, f.Status)
		}
	}
}

// TestCallerLeavingDoesNotCancelLoad: the caller who started a load gives
// up; the load goes on for the others and fills the cache.
func TestCallerLeavingDoesNotCancelLoad(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	entered := make(chan struct{})
	var loadErr atomic.Value
	next := checkerFunc(func(ctx context.Context, _ string) (validate.DomainFacts, bool) {
		close(entered)
		<-release
		if err := ctx.Err(); err != nil {
			loadErr.Store(err)
			return errFacts(), false
		}
		return okFacts(time.Hour), false
	})
	d := newTestDomains(t, Config{}, next)

	first, cancelFirst := context.WithCancel(context.Background())
	firstDone := make(chan validate.DomainFacts)
	go func() {
		f, _ := d.CheckDomain(first, "slow.example")
		firstDone <- f
	}()
	<-entered
	second := make(chan validate.DomainFacts)
	go func() {
		f, _ := d.CheckDomain(context.Background(), "slow.example")
		second <- f
	}()
	cancelFirst()
	select {
	case f := <-firstDone:
		if f.Status != validate.DNSError {
			t.Errorf("cancelled caller got status %q, want error", f.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cancelled caller still waiting after 5s")
	}
	close(release)
	if f := <-second; f.Status != validate.DNSOK {
		t.Errorf("second caller got status %q, want ok", f.Status)
	}
	if err := loadErr.Load(); err != nil {
		t.Errorf("load saw a cancelled context: %v", err)
	}
	if _, cached := d.CheckDomain(context.Background(), "slow.example"); !cached {
		t.Errorf("after the load, cached = false, want true")
	}
}

// TestBlackholedRedis is a Redis that accepts connections and never answers:
// every call still returns facts, quickly, and the breaker opens.
func TestBlackholedRedis(t *testing.T) {
	t.Parallel()
	addr := blackhole(t)
	next, _ := counted(always(okFacts(time.Hour)))
	d := newTestDomains(t, Config{RedisURL: "redis://" + addr + "/0"}, next)

	for i := range 20 {
		start := time.Now()
		f, _ := d.CheckDomain(context.Background(), fmt.Sprintf("d%d.example", i))
		if f.Status != validate.DNSOK {
			t.Errorf("call %d: status %q, want ok", i, f.Status)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("call %d took %v; a dead Redis must not hang requests", i, el)
		}
	}
	if got := d.RedisStatus(); got != StatusDegraded {
		t.Errorf("RedisStatus = %q, want %q", got, StatusDegraded)
	}
	if got := d.Stats().RedisErrors; got != 20 {
		t.Errorf("redis errors = %d, want 20 (failed and refused reads)", got)
	}
}

func TestMetricsRegistered(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewPedanticRegistry()
	next, _ := counted(always(okFacts(time.Hour)))
	d, err := NewDomains(Config{}, next, reg)
	if err != nil {
		t.Fatalf("NewDomains: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	d.CheckDomain(context.Background(), "example.com")
	d.CheckDomain(context.Background(), "example.com")

	got := counterValues(t, reg)
	want := map[string]float64{
		"leadcheck_cache_requests_total,result=hit,tier=local":   1,
		"leadcheck_cache_requests_total,result=miss,tier=local":  1,
		"leadcheck_cache_requests_total,result=hit,tier=redis":   0,
		"leadcheck_cache_requests_total,result=miss,tier=redis":  0,
		"leadcheck_cache_requests_total,result=error,tier=redis": 0,
		"leadcheck_cache_loads_total":                            1,
		"leadcheck_cache_redis_write_errors_total":               0,
		"leadcheck_cache_lease_waits_total":                      0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics mismatch (-want +got):\n%s", diff)
	}

	// A second cache on the same registry is a wiring bug, reported at start.
	if d2, err := NewDomains(Config{}, next, reg); err == nil {
		_ = d2.Close()
		t.Errorf("second NewDomains on one registry: error = nil, want an error")
	}
}

func TestNewDomainsRejectsBadInput(t *testing.T) {
	t.Parallel()
	next, _ := counted(always(okFacts(time.Hour)))
	tests := []struct {
		name string
		cfg  Config
		next validate.DomainChecker
	}{
		{"nil next", Config{}, nil},
		{"bad redis url", Config{RedisURL: "http://127.0.0.1:6379"}, next},
		{"bad config", Config{MinTTL: time.Hour, MaxTTL: time.Second}, next},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := NewDomains(tt.cfg, tt.next, prometheus.NewRegistry())
			if err == nil {
				_ = d.Close()
				t.Fatalf("NewDomains error = nil, want an error")
			}
		})
	}
}

func TestUncacheableDomainsGoStraightThrough(t *testing.T) {
	t.Parallel()
	next, loads := counted(always(okFacts(time.Hour)))
	d := newTestDomains(t, Config{}, next)
	long := strings.Repeat("a.", 130) + "com"
	for range 2 {
		if _, cached := d.CheckDomain(context.Background(), long); cached {
			t.Errorf("cached = true for a %d-byte name, want false", len(long))
		}
	}
	if got := loads.Load(); got != 2 {
		t.Errorf("loads = %d, want 2", got)
	}
}

func TestCloseIsIdempotentAndLaterCallsStillWork(t *testing.T) {
	t.Parallel()
	_, cfg := sharedRedis(t)
	next, loads := counted(always(okFacts(time.Hour)))
	d, err := NewDomains(cfg, next, nil)
	if err != nil {
		t.Fatalf("NewDomains: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if f, _ := d.CheckDomain(context.Background(), "example.com"); f.Status != validate.DNSOK {
		t.Errorf("after Close: status %q, want ok", f.Status)
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
}

func TestLocalTierBounded(t *testing.T) {
	t.Parallel()
	bigSPF := okFacts(time.Hour)
	bigSPF.SPF.Record = "v=spf1 " + strings.Repeat("ip4:192.0.2.1 ", 300) + "-all"
	tests := []struct {
		name        string
		cfg         Config
		facts       validate.DomainFacts
		wantEntries int
	}{
		{"by entries", Config{MaxEntries: 10, MaxBytes: 1 << 20}, okFacts(time.Hour), 10},
		{"by bytes", Config{MaxEntries: 1000, MaxBytes: 20_000}, bigSPF, 20_000 / len(bigSPF.SPF.Record)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next, _ := counted(always(tt.facts))
			d := newTestDomains(t, tt.cfg, next)
			for i := range 200 {
				d.CheckDomain(context.Background(), fmt.Sprintf("d%d.example", i))
			}
			d.local.CleanUp()
			if got := d.local.EstimatedSize(); got > tt.wantEntries {
				t.Errorf("entries = %d, want at most %d", got, tt.wantEntries)
			}
			if got := d.local.WeightedSize(); got > uint64(tt.cfg.MaxBytes) {
				t.Errorf("weighted size = %d, want at most %d", got, tt.cfg.MaxBytes)
			}
		})
	}
}
