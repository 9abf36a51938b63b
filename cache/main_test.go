package cache

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testRedisTimeout replaces the 50ms production RedisTimeout in tests that
// count Redis hits and misses: a machine running many test binaries at once
// can take longer than that to dial and answer, and a timeout would turn an
// expected miss into an error. Tests assert on counts, never on speed.
const testRedisTimeout = 2 * time.Second

// sharedRedis is the shared test Redis for one test: a client to look at
// the keys, and a Config on that Redis that keeps to a key prefix of the
// test's own (cfg.KeyPrefix), deleted when the test ends.
func sharedRedis(tb testing.TB) (*redis.Client, Config) {
	tb.Helper()
	url, prefix := testenv.Redis(tb)
	return testenv.RedisClient(tb, url), Config{RedisURL: url, RedisTimeout: testRedisTimeout, KeyPrefix: prefix}
}

// checkRedisTTL checks the lifetime key has left in Redis: none (the key is
// absent) when want is 0, else want less what a busy machine may take
// between the SET and the PTTL.
func checkRedisTTL(t *testing.T, rc *redis.Client, key string, want time.Duration) {
	t.Helper()
	got, err := rc.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("PTTL %s: %v", key, err)
	}
	if want == 0 {
		if got != -2 {
			t.Errorf("PTTL %s = %v, want the key absent", key, got)
		}
		return
	}
	if got > want || got < want-30*time.Second {
		t.Errorf("PTTL %s = %v, want %v (less a little elapsed time)", key, got, want)
	}
}

// counterValues gathers reg's counters by "name,label=value,...".
func counterValues(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	got := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "," + l.GetName() + "=" + l.GetValue()
			}
			got[name] = m.GetCounter().GetValue()
		}
	}
	return got
}

// callAtOnce starts n calls of call at the same time and returns once all
// of them have started; wait waits for them and returns their results, in
// the order they were started.
func callAtOnce[T any](n int, call func() T) (wait func() []T) {
	var started, done sync.WaitGroup
	started.Add(n)
	results := make([]T, n)
	for i := range n {
		done.Go(func() {
			started.Done()
			results[i] = call()
		})
	}
	started.Wait()
	return func() []T {
		done.Wait()
		return results
	}
}

// checkerFunc turns a function into a validate.DomainChecker, standing in for
// live DNS where a test only needs to count loads.
type checkerFunc func(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool)

func (f checkerFunc) CheckDomain(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool) {
	return f(ctx, asciiDomain)
}

// counted wraps facts in a checker that counts its calls.
func counted(facts func(domain string) validate.DomainFacts) (checkerFunc, *atomic.Int64) {
	var n atomic.Int64
	return func(_ context.Context, d string) (validate.DomainFacts, bool) {
		n.Add(1)
		return facts(d), false
	}, &n
}

// always answers every domain with f.
func always(f validate.DomainFacts) func(string) validate.DomainFacts {
	return func(string) validate.DomainFacts { return f }
}

func okFacts(ttl time.Duration) validate.DomainFacts {
	return validate.DomainFacts{
		Status: validate.DNSOK,
		MX:     []validate.MX{{Host: "mx1.example.net", Preference: 10}, {Host: "mx2.example.net", Preference: 20}},
		HasA:   true,
		SPF:    validate.PolicyRecord{Found: true, Record: "v=spf1 -all", Policy: "-all"},
		DMARC:  validate.PolicyRecord{Found: true, Record: "v=DMARC1; p=reject", Policy: "reject"},
		TTL:    ttl,
	}
}

func nxFacts(ttl time.Duration) validate.DomainFacts {
	return validate.DomainFacts{Status: validate.DNSNXDomain, TTL: ttl}
}

func nullMXFacts(ttl time.Duration) validate.DomainFacts {
	return validate.DomainFacts{Status: validate.DNSOK, NullMX: true, MX: []validate.MX{{Host: ".", Preference: 0}}, TTL: ttl}
}

func errFacts() validate.DomainFacts {
	return validate.DomainFacts{Status: validate.DNSError, Error: "MX: SERVFAIL"}
}

// fakeClock is a settable clock for the in-process tier's expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestDomains builds a Domains that is closed when the test ends.
func newTestDomains(tb testing.TB, cfg Config, next validate.DomainChecker) *Domains {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := NewDomains(cfg, next, nil)
	if err != nil {
		tb.Fatalf("NewDomains: %v", err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return d
}
