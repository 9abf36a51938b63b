package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

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

// testRedisURL is the shared test Redis; tests keep to their own key prefix.
func testRedisURL() string {
	if u := os.Getenv("LEADCHECK_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/15"
}

// testRedis returns a client on the test Redis, failing the test with what to
// do when it is not there.
func testRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(testRedisURL())
	if err != nil {
		tb.Fatalf("LEADCHECK_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("test Redis at %s: %v; start redis-server or set LEADCHECK_TEST_REDIS_URL", testRedisURL(), err)
	}
	return c
}

// testPrefix is a key prefix no other test uses; every key under it is
// deleted when the test ends.
func testPrefix(tb testing.TB, c *redis.Client) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.NewReplacer("/", "_", " ", "_").Replace(tb.Name())
	prefix := "leadcheck-test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("clean up keys %s*: %v", prefix, err)
		}
	})
	return prefix
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
