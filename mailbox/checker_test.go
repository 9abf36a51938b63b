package mailbox

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// newRedisChecker is a Checker over the shared test Redis, as one instance
// of a deployment would have.
func newRedisChecker(t *testing.T, p *Prober, url, prefix string, errorTTL time.Duration) *Checker {
	t.Helper()
	memo, err := cache.NewMemo(cache.Config{RedisURL: url, KeyPrefix: prefix, MaxTTL: time.Hour}, "smtp", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = memo.Close() })
	return NewChecker(p, memo, time.Hour, errorTTL)
}

// TestCheckerSharesAnswersThroughRedis: an answer found by one instance
// serves another from Redis, the catch-all probe is made once per domain,
// a temporary failure is kept no longer than the error TTL, and no key or
// value names the address.
func TestCheckerSharesAnswersThroughRedis(t *testing.T) {
	f := newFixture(t)
	url, prefix := testenv.Redis(t)
	mx := []validate.MX{{Host: "mx.acme.test", Preference: 10}}
	ctx := context.Background()

	one := newRedisChecker(t, f.prober(t, Config{AllowPrivate: true}), url, prefix, 30*time.Second)
	a := one.CheckMailbox(ctx, "jane", "acme.test", mx)
	if a.Status != validate.MailboxDeliverable || a.CatchAll || a.Code != 250 || a.Host != "mx.acme.test" {
		t.Fatalf("first answer = %+v, want deliverable from mx.acme.test", a)
	}
	if got := f.main.RcptPerSession(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("RCPT per session = %v, want [2]: the catch-all probe and the address", got)
	}
	// Another address at the same domain: the catch-all answer is known.
	if a := one.CheckMailbox(ctx, "nobody", "acme.test", mx); a.Status != validate.MailboxNotFound || a.Enhanced != "5.1.1" {
		t.Fatalf("nobody = %+v, want not found", a)
	}
	if got := f.main.RcptPerSession(); len(got) != 2 || got[1] != 1 {
		t.Errorf("RCPT per session = %v, want [2 1]: one catch-all probe per domain", got)
	}

	// A second instance, with its own in-process tier, reads Redis.
	two := newRedisChecker(t, f.prober(t, Config{AllowPrivate: true}), url, prefix, 30*time.Second)
	before := f.main.Sessions()
	if b := two.CheckMailbox(ctx, "jane", "acme.test", mx); b != a {
		t.Errorf("second instance = %+v, want %+v", b, a)
	}
	if f.main.Sessions() != before {
		t.Errorf("the second instance opened a session for a cached answer")
	}

	// A greylisted address is kept for the error TTL only.
	g := one.CheckMailbox(ctx, "jane", "grey.test", mx)
	if g.Status != validate.MailboxUnavailable {
		t.Fatalf("greylisted = %+v, want unavailable", g)
	}
	rdb := testenv.RedisClient(t, url)
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 3 {
		t.Fatalf("keys in Redis = %v, want the answers and the catch-all", keys)
	}
	for _, k := range keys {
		v, _ := rdb.Get(ctx, k).Result()
		if strings.Contains(k, "jane") || strings.Contains(v, "jane") || strings.Contains(k, "nobody") {
			t.Errorf("key %q = %q names an address", k, v)
		}
		ttl, _ := rdb.PTTL(ctx, k).Result()
		if ttl <= 0 || ttl > time.Hour {
			t.Errorf("key %q lives %s, want a bounded lifetime", k, ttl)
		}
		if strings.Contains(v, `"unavailable"`) && ttl > 30*time.Second {
			t.Errorf("a temporary failure lives %s, more than the error TTL", ttl)
		}
	}
}

// TestCheckerGivesUpWithTheCaller: a caller whose budget ends gets
// unavailable at once; the probe goes on and its answer serves the next
// caller.
func TestCheckerGivesUpWithTheCaller(t *testing.T) {
	f := newFixture(t)
	memo, err := cache.NewMemo(cache.Config{MaxTTL: time.Hour, LoadTimeout: 10 * time.Second}, "smtp", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = memo.Close() })
	c := NewChecker(f.prober(t, Config{AllowPrivate: true, Timeout: 10 * time.Second}), memo, time.Hour, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	a := c.CheckMailbox(ctx, "jane", "slow.test", []validate.MX{{Host: "mx.slow.test"}})
	if a.Status != validate.MailboxUnavailable || !strings.Contains(a.Detail, "time budget") {
		t.Errorf("answer = %+v, want unavailable: the budget ended", a)
	}
}
