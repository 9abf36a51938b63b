package cache

import (
	"context"
	"testing"
	"time"
)

// TestLeaseRelease: a holder deletes its own lease and leaves alone one that
// another instance took after its own expired.
func TestLeaseRelease(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	r, err := NewRedis(cfg)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	key, lease := cfg.KeyPrefix+"v1:dns:example.com", cfg.KeyPrefix+"v1:lease:dns:example.com"

	first, err := r.claim(ctx, key, lease, "mine", time.Minute)
	if err != nil || !first.won || first.held || first.found {
		t.Fatalf("first claim = %+v, %v; want won, nothing found", first, err)
	}
	second, err := r.claim(ctx, key, lease, "theirs", time.Minute)
	if err != nil || second.won || !second.held {
		t.Fatalf("second claim = %+v, %v; want held by another", second, err)
	}
	if err := r.release(ctx, lease, "mine"); err != nil {
		t.Fatalf("release: %v", err)
	}
	if v, err := r.watch(ctx, key, lease); err != nil || v.held {
		t.Errorf("after release: watch = %+v, %v; want the lease gone", v, err)
	}

	if err := rc.Set(ctx, lease, "theirs", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if err := r.release(ctx, lease, "mine"); err != nil {
		t.Fatalf("release of another's lease: %v", err)
	}
	if got, err := rc.Get(ctx, lease).Result(); err != nil || got != "theirs" {
		t.Errorf("another's lease after my release = %q, %v; want it untouched", got, err)
	}
}
