package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisURLEnv names the variable that points the tests at a Redis other
// than DefaultRedisURL.
const RedisURLEnv = "LEADCHECK_TEST_REDIS_URL"

// DefaultRedisURL is the shared test Redis when RedisURLEnv is unset: a
// local Redis, on a database of its own (15) so tests never meet the keys
// of a development server on database 0.
const DefaultRedisURL = "redis://127.0.0.1:6379/15"

// RedisURL returns the URL of the shared test Redis, without checking that
// it answers; tests that store keys call Redis instead.
func RedisURL() string {
	if u := os.Getenv(RedisURLEnv); u != "" {
		return u
	}
	return DefaultRedisURL
}

// Redis checks that the shared test Redis answers, failing tb with what to
// do when it does not, and returns its URL and a key prefix no other test
// uses. Every key under the prefix is deleted when the test ends, so tests
// can share one Redis and run in parallel.
func Redis(tb testing.TB) (url, prefix string) {
	tb.Helper()
	url = RedisURL()
	c := RedisClient(tb, url)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("test Redis at %s: %v; run scripts/test, start redis-server, or set %s", url, err, RedisURLEnv)
	}
	prefix = keyPrefix(tb.Name())
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
	return url, prefix
}

// keyPrefix is "leadcheck-test:<test name>:<random>:". The name tells whose
// keys are left when a run is killed before its clean-up; everything in it
// but letters, digits, '-' and '.' becomes '_', so the prefix is never a
// SCAN pattern by accident.
func keyPrefix(testName string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, testName)
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "leadcheck-test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// RedisClient returns a client on url (the URL Redis or a RedisServer
// gave), for a test that looks at the keys itself; it is closed when the
// test ends.
func RedisClient(tb testing.TB, url string) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatalf("%s: %v", RedisURLEnv, err)
	}
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// RedisServerURL is the URL of a RedisServer started on port.
func RedisServerURL(port int) string {
	return "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
}

// RedisServer runs a redis-server of the test's own on 127.0.0.1:port, with
// nothing saved to disk, and returns once it answers PING. stop kills it at
// once, as a crash would; it may be called more than once and runs when the
// test ends. Calling RedisServer again with the same port brings Redis back
// where the code under test expects it, empty. A test that needs this is
// skipped where redis-server is not installed. extra are more
// redis-server arguments, such as "--requirepass", "secret" (the readiness
// check then authenticates with that password).
func RedisServer(tb testing.TB, port int, extra ...string) (stop func()) {
	tb.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Skip("redis-server is not on PATH (scripts/test installs it); this test starts and kills its own Redis")
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, extra...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	tb.Cleanup(stop)

	password := ""
	for i, a := range extra {
		if a == "--requirepass" && i+1 < len(extra) {
			password = extra[i+1]
		}
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, MaxRetries: -1})
	defer func() { _ = c.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return stop
		}
		if time.Now().After(deadline) {
			stop()
			tb.Fatalf("redis-server on %s does not answer within 10s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
