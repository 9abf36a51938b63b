package limits

import (
	"context"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/keys"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

func TestAllowInProcess(t *testing.T) {
	t.Parallel()
	l := New(Config{})
	r := keys.Rate{N: 1, Per: time.Hour}
	for i := range 3 {
		d := l.Allow(context.Background(), "b", r, 3)
		if !d.Allowed || d.Remaining != 2-i || d.Shared {
			t.Fatalf("request %d: got %+v", i, d)
		}
	}
	d := l.Allow(context.Background(), "b", r, 3)
	if d.Allowed || d.RetryAfter < 59*time.Minute || d.RetryAfter > time.Hour {
		t.Errorf("fourth: got %+v, want refused for about an hour", d)
	}
	if d := l.Allow(context.Background(), "other", r, 3); !d.Allowed {
		t.Error("another bucket was refused")
	}
}

func TestAllowRedis(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.Redis(t)
	rc := testenv.RedisClient(t, url)
	// Two limiters over one Redis share one budget.
	a, b := New(Config{Redis: rc, Prefix: prefix}), New(Config{Redis: rc, Prefix: prefix})
	r := keys.Rate{N: 1, Per: time.Hour}
	allowed := 0
	for i := range 6 {
		l := a
		if i%2 == 1 {
			l = b
		}
		d := l.Allow(context.Background(), "shared", r, 3)
		if !d.Shared {
			t.Fatalf("request %d was judged in process", i)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("got %d allowed across two limiters, want 3", allowed)
	}
}

func TestAllowRedisDownFallsBack(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	stop := testenv.RedisServer(t, port)
	rc := testenv.RedisClient(t, testenv.RedisServerURL(port))
	l := New(Config{Redis: rc, Timeout: 100 * time.Millisecond})
	r := keys.Rate{N: 1, Per: time.Hour}
	if d := l.Allow(context.Background(), "k", r, 2); !d.Shared || !d.Allowed {
		t.Fatalf("with Redis: %+v", d)
	}
	stop()
	allowed := 0
	for range 10 {
		d := l.Allow(context.Background(), "k", r, 2)
		if d.Shared {
			t.Fatal("a decision claims Redis after it died")
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("without Redis: %d allowed, want 2 (the in-process burst)", allowed)
	}
}

func TestSpend(t *testing.T) {
	t.Parallel()
	url, prefix := testenv.Redis(t)
	rc := testenv.RedisClient(t, url)
	for name, redisOn := range map[string]bool{"redis": true, "in process": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			cfg := Config{Prefix: prefix + name + ":", Now: func() time.Time { return now }}
			if redisOn {
				cfg.Redis = rc
			}
			l := New(cfg)
			q := []Quota{{Counter: "quota:k", Limit: 10}, {Counter: "rows:k", Limit: 4}}
			if sp := l.Spend(context.Background(), 3, q...); !sp.Allowed || sp.Used[0] != 3 || sp.Used[1] != 3 {
				t.Fatalf("spend 3: %+v", sp)
			}
			// All or nothing: the second quota refuses, the first is not
			// spent either.
			if sp := l.Spend(context.Background(), 2, q...); sp.Allowed || sp.Refused != 1 || sp.Used[0] != 3 {
				t.Fatalf("spend 2 more: %+v", sp)
			}
			if sp := l.Spend(context.Background(), 0, q...); sp.Used[0] != 3 || sp.Used[1] != 3 ||
				!sp.ResetAt.Equal(time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("read: %+v", sp)
			}
		})
	}
}
