package cache

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// blackhole listens on loopback, accepts connections and never answers: a
// Redis that hangs.
func blackhole(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	tb.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return ln.Addr().String()
}

// TestRedisKilledAndRestarted: Redis dies mid-run, every request still gets
// facts and the status turns degraded; Redis comes back on the same port and
// within 30 s the cache uses it again, by itself.
func TestRedisKilledAndRestarted(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	killRedis := testenv.RedisServer(t, port)
	dnsSrv, checker := startDNS(t)
	var zone strings.Builder
	for i := 1; i <= 400; i++ {
		fmt.Fprintf(&zone, "d%d.lc. MX 10 mx.d%d.lc.\n", i, i)
	}
	if err := dnsSrv.AddZone(zone.String()); err != nil {
		t.Fatalf("AddZone: %v", err)
	}
	d := newTestDomains(t, Config{RedisURL: testenv.RedisServerURL(port), RedisTimeout: testRedisTimeout}, checker)
	ctx := context.Background()
	n := 0
	check := func() validate.DomainFacts {
		t.Helper()
		n++
		start := time.Now()
		if n > 400 {
			t.Fatalf("ran out of fixture domains")
		}
		f, _ := d.CheckDomain(ctx, fmt.Sprintf("d%d.lc", n))
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("CheckDomain took %v; Redis trouble must not hang requests", el)
		}
		if f.Status != validate.DNSOK {
			t.Fatalf("CheckDomain status = %q, want ok", f.Status)
		}
		return f
	}

	check()
	if got := d.RedisStatus(); got != StatusOK {
		t.Fatalf("with Redis up: RedisStatus = %q, want %q", got, StatusOK)
	}
	if s := d.Stats(); s.RedisMisses != 1 || s.RedisErrors != 0 {
		t.Fatalf("with Redis up: redis misses %d, errors %d; want 1, 0", s.RedisMisses, s.RedisErrors)
	}

	killRedis()
	for range 20 {
		check()
	}
	if got := d.RedisStatus(); got != StatusDegraded {
		t.Errorf("with Redis down: RedisStatus = %q, want %q", got, StatusDegraded)
	}

	testenv.RedisServer(t, port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		before := d.Stats()
		check()
		after := d.Stats()
		if after.RedisMisses > before.RedisMisses && d.RedisStatus() == StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after Redis returned the cache still does not use it: status %q, stats %+v", d.RedisStatus(), after)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The last domain went through Redis: another instance finds it there.
	other, _ := counted(always(okFacts(time.Hour)))
	d2 := newTestDomains(t, Config{RedisURL: testenv.RedisServerURL(port), RedisTimeout: testRedisTimeout}, other)
	if _, cached := d2.CheckDomain(ctx, fmt.Sprintf("d%d.lc", n)); !cached {
		t.Errorf("after recovery, a second instance cached = false, want true (first instance: %+v)", d.Stats())
	}
}
