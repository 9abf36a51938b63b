package testenv

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

func TestLogBufferKeepsEveryConcurrentWrite(t *testing.T) {
	t.Parallel()
	var b LogBuffer
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			fmt.Fprintf(&b, "line %d\n", i)
			_ = b.String()
		})
	}
	wg.Wait()
	got := b.String()
	if n := strings.Count(got, "\n"); n != 50 {
		t.Fatalf("got %d lines, want 50:\n%s", n, got)
	}
	for i := range 50 {
		if !strings.Contains(got, fmt.Sprintf("line %d\n", i)) {
			t.Errorf("line %d is missing", i)
		}
	}
}

func TestClosedAddrRefusesDials(t *testing.T) {
	t.Parallel()
	addr := ClosedAddr(t)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s: got a connection, want it refused", addr)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", FreePort(t)))
	if err != nil {
		t.Fatalf("listen on a free port: %v", err)
	}
	ln.Close()
}

func TestRedisURL(t *testing.T) {
	t.Setenv(RedisURLEnv, "")
	if got := RedisURL(); got != DefaultRedisURL {
		t.Errorf("unset: got %q, want %q", got, DefaultRedisURL)
	}
	t.Setenv(RedisURLEnv, "redis://127.0.0.1:6380/3")
	if got := RedisURL(); got != "redis://127.0.0.1:6380/3" {
		t.Errorf("set: got %q, want the variable's value", got)
	}
}

func TestKeyPrefixIsNeverAPattern(t *testing.T) {
	t.Parallel()
	a, b := keyPrefix("TestX/case [1]*?\\"), keyPrefix("TestX/case [1]*?\\")
	if a == b {
		t.Errorf("two prefixes for one name: got %q twice, want them different", a)
	}
	if !strings.HasPrefix(a, "leadcheck-test:TestX_case__1____:") || !strings.HasSuffix(a, ":") {
		t.Errorf("got %q, want leadcheck-test:TestX_case__1____:<random>:", a)
	}
	if strings.ContainsAny(a, "*?[]\\ /") {
		t.Errorf("got %q, want no SCAN pattern characters", a)
	}
}

// TestRedisDeletesThePrefixAtCleanup: keys a test stores under its prefix
// are gone when it ends; other keys stay.
func TestRedisDeletesThePrefixAtCleanup(t *testing.T) {
	t.Parallel()
	url, outer := Redis(t)
	rc := RedisClient(t, url)
	ctx := context.Background()
	keep := outer + "kept"
	if err := rc.Set(ctx, keep, "v", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	var inner string
	t.Run("inner", func(t *testing.T) {
		_, inner = Redis(t)
		for i := range 250 {
			if err := rc.Set(ctx, fmt.Sprintf("%sk%d", inner, i), "v", time.Minute).Err(); err != nil {
				t.Fatalf("SET: %v", err)
			}
		}
	})
	if inner == outer || !strings.Contains(inner, "inner") {
		t.Errorf("inner prefix %q, want one of its own naming the subtest (outer %q)", inner, outer)
	}
	left, _, err := rc.Scan(ctx, 0, inner+"*", 1000).Result()
	if err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	if len(left) != 0 {
		t.Errorf("after the subtest: got %d keys under its prefix, want 0", len(left))
	}
	if n, err := rc.Exists(ctx, keep).Result(); err != nil || n != 1 {
		t.Errorf("the outer test's key: got exists=%d (%v), want 1", n, err)
	}
}

// TestRedisServerStopAndRestart: a private server answers, is gone after
// stop (twice is fine), and answers again when started on the same port.
func TestRedisServerStopAndRestart(t *testing.T) {
	t.Parallel()
	port := FreePort(t)
	stop := RedisServer(t, port)
	rc := RedisClient(t, RedisServerURL(port))
	ctx := context.Background()
	if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET on the private Redis: %v", err)
	}
	stop()
	stop()
	pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := rc.Ping(pingCtx).Err(); err == nil {
		t.Fatal("PING after stop: got an answer, want none")
	}
	RedisServer(t, port)
	n, err := rc.DBSize(ctx).Result()
	if err != nil {
		t.Fatalf("DBSIZE after restart: %v", err)
	}
	if n != 0 {
		t.Errorf("after restart: got %d keys, want an empty Redis", n)
	}
}

// TestFixtureAnswersFromMailZone: with no zone given the fixture serves
// MailZone, and its engine gives the outcomes the zone promises.
func TestFixtureAnswersFromMailZone(t *testing.T) {
	t.Parallel()
	fx := NewFixture(t, dnstest.Config{Behaviours: map[string]dnstest.Behaviour{"broken.test": dnstest.Servfail()}}, 2*time.Second)
	ctx := context.Background()
	facts, _ := fx.Checker.CheckDomain(ctx, "acme.test")
	wantMX := []validate.MX{{Host: "mx1.acme.test", Preference: 10}, {Host: "mx2.acme.test", Preference: 20}}
	if diff := cmp.Diff(wantMX, facts.MX); diff != "" {
		t.Errorf("acme.test MX (-want +got):\n%s", diff)
	}
	tests := []struct {
		email string
		want  validate.Verdict
	}{
		{"jane@acme.test", validate.Valid},
		{"jane@nullmx.test", validate.Invalid},
		{"jane@missing.test", validate.Invalid},
		{"jane@broken.test", validate.Unknown},
		{"jane@mailinator.com", validate.Risky},
	}
	engine := fx.Engine()
	for _, tt := range tests {
		res, err := engine.Validate(ctx, validate.Request{Email: tt.email})
		if err != nil {
			t.Fatalf("Validate(%s): %v", tt.email, err)
		}
		if res.Verdict != tt.want {
			t.Errorf("%s: got %s, want %s", tt.email, res.Verdict, tt.want)
		}
	}
	if n := fx.DNS.TotalQueries(); n == 0 {
		t.Error("the fixture DNS saw no query, want the checker to ask it")
	}
}

func TestPostgresDatabaseIsPrivateAndDropped(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		u := Postgres(t)
		conn, err := pgx.Connect(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "lc_test_") {
			t.Fatalf("database %q is not a test database", name)
		}
	})
	conn, err := pgx.Connect(context.Background(), PostgresAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s is still there after its test", name)
	}
}

// TestPostgresServerStopAndStart: a private server keeps what was
// committed across an immediate stop, refuses connections while stopped,
// and answers again on the same port.
func TestPostgresServerStopAndStart(t *testing.T) {
	t.Parallel()
	port := FreePort(t)
	srv := PostgresServer(t, port)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatalf("connect to the private PostgreSQL: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv.Stop()
	if err := conn.Ping(ctx); err == nil {
		t.Error("ping after stop: got an answer, want the connection cut")
	}
	conn.Close(ctx)
	dialCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if c, err := pgx.Connect(dialCtx, srv.URL); err == nil {
		c.Close(ctx)
		t.Fatal("connect after stop: got a connection, want it refused")
	}
	srv.Start()
	conn, err = pgx.Connect(ctx, srv.URL)
	if err != nil {
		t.Fatalf("connect after start: %v", err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != 42 {
		t.Errorf("after restart: got %d, %v; want the committed row 42", v, err)
	}
}
