package enrich

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// newMemo builds the production cache.Memo for enrichment; redisURL "" keeps
// it in process.
func newMemo(t *testing.T, redisURL, prefix string) *cache.Memo {
	t.Helper()
	m, err := cache.NewMemo(cache.Config{RedisURL: redisURL, KeyPrefix: prefix, RedisTimeout: 2 * time.Second}, "enrich", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close memo: %v", err)
		}
	})
	return m
}

// TestOneFetchPerDomainWithMemo is TestOneFetchPerDomain with the
// production cache in front: 100 concurrent callers, one request, and the
// next caller is served from the cache.
func TestOneFetchPerDomainWithMemo(t *testing.T) {
	t.Parallel()
	handler, release := held(page(`<title>Acme</title>`))
	s := newSite(t, handler)
	engine, lists := newEngine(t, siteZone("acme.test"), nil)
	e := New(Config{AllowPrivate: true, FetchTimeout: 30 * time.Second, Resolve: routes(t, map[string]string{"acme.test:80": s.addr()})},
		engine, lists, newMemo(t, "", ""), nil)

	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := e.Enrich(context.Background(), validate.Request{Email: fmt.Sprintf("person%d@acme.test", i)})
			if err != nil {
				t.Error(err)
				return
			}
			if r.Company == nil || r.Company.Name != "Acme" {
				t.Errorf("got company %+v, want Acme", r.Company)
			}
		})
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.waiting.Load() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	release()
	wg.Wait()
	got, err := e.Enrich(context.Background(), validate.Request{Email: "late@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cached || got.Company == nil || got.Company.Name != "Acme" {
		t.Errorf("late caller: got cached=%v company %+v, want Acme from the cache", got.Cached, got.Company)
	}
	if c := s.count("/"); c != 1 {
		t.Errorf("the site saw %d requests for /, want 1", c)
	}
}

// TestMemoSharedThroughRedis: two instances (two enrichers, each with its
// own Memo on one Redis) fetch a company's site once between them, and the
// stored lifetimes follow SiteTTL and NegativeTTL.
func TestMemoSharedThroughRedis(t *testing.T) {
	t.Parallel()
	redisURL, prefix := testenv.Redis(t)
	good := newSite(t, page(`<title>Acme</title>`))
	bad := newSite(t, http.NotFound)
	engine, lists := newEngine(t, siteZone("acme.test", "broken.test"), nil)
	cfg := Config{AllowPrivate: true, SiteTTL: 6 * time.Hour, NegativeTTL: 20 * time.Minute,
		Resolve: routes(t, map[string]string{"acme.test:80": good.addr(), "broken.test:80": bad.addr()})}
	first := New(cfg, engine, lists, newMemo(t, redisURL, prefix), nil)
	second := New(cfg, engine, lists, newMemo(t, redisURL, prefix), nil)

	for i, e := range []*Enricher{first, second} {
		for _, email := range []string{"jane@acme.test", "jane@broken.test"} {
			got, err := e.Enrich(context.Background(), validate.Request{Email: email})
			if err != nil {
				t.Fatal(err)
			}
			if got.Cached != (i == 1) {
				t.Errorf("instance %d, %s: got cached=%v, want %v", i+1, email, got.Cached, i == 1)
			}
		}
	}
	if good.count("/") != 1 || bad.count("/") != 1 {
		t.Errorf("sites saw %d and %d requests, want 1 each", good.count("/"), bad.count("/"))
	}
	rdb := testenv.RedisClient(t, redisURL)
	ctx := context.Background()
	for domain, ttl := range map[string]time.Duration{"acme.test": cfg.SiteTTL, "broken.test": cfg.NegativeTTL} {
		key := prefix + "v1:enrich:site:" + memoKeyVersion + ":" + domain
		left, err := rdb.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatalf("PTTL %s: %v", key, err)
		}
		if left > ttl || left < ttl-time.Minute {
			t.Errorf("%s is kept for %s more, want about %s", domain, left, ttl)
		}
	}
}
