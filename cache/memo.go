package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// maxMemoKeyLength bounds a Memo key. Longer keys bypass the cache: callers
// key on domains and the like, and keying Redis on attacker-sized strings
// buys nothing.
const maxMemoKeyLength = 512

// maxNamespaceLength bounds a Memo namespace, which is part of every key and
// the value of a metric label.
const maxNamespaceLength = 32

// memoEntryOverhead is the estimated heap cost of an in-process entry besides
// its key and value bytes.
const memoEntryOverhead = 64

// Memo caches opaque values per key in both tiers, for callers that own their
// encoding (enrichment caches web-site facts per domain). It has the tiers,
// coalescing, detached loads and Redis fallbacks of Domains; the caller's
// load function says how long each value lives. It is safe for concurrent
// use.
type Memo struct {
	t         *tiered[[]byte]
	keyPrefix string // <KeyPrefix>v1:<namespace>:
}

// NewMemo returns a cache whose keys are <KeyPrefix>v1:<namespace>:<key>.
// namespace (1 to 32 of a-z, 0-9, '_' and '-', not "dns" or "lease",
// which Domains uses) keeps it apart from other caches on the same Redis,
// and labels its metrics:
// leadcheck_memo_requests_total{cache=namespace,tier,result},
// leadcheck_memo_loads_total{cache} and
// leadcheck_memo_redis_write_errors_total{cache}, registered on reg unless it
// is nil, so Memos of different namespaces and a Domains share one registry.
// Of cfg's lifetimes only MaxTTL applies. Like NewDomains it does not
// contact Redis. Call Close when done.
func NewMemo(cfg Config, namespace string, reg prometheus.Registerer) (*Memo, error) {
	if err := checkNamespace(namespace); err != nil {
		return nil, fmt.Errorf("new memo: %w", err)
	}
	m := &Memo{}
	t, err := newTiered(cfg, codec[[]byte]{
		encode: func(v []byte) ([]byte, error) { return v, nil },
		// Redis gives a fresh slice per read; any bytes are a value.
		decode: func(b []byte) ([]byte, error) { return b, nil },
		size: func(key string, v []byte) int {
			return memoEntryOverhead + len(key) + len(v)
		},
		clone:  bytes.Clone,
		hitTTL: m.hitTTL,
	}, newMetrics(memoMetricNames(), prometheus.Labels{"cache": namespace}), reg)
	if err != nil {
		return nil, fmt.Errorf("new memo: %w", err)
	}
	m.t = t
	m.keyPrefix = t.cfg.KeyPrefix + keyVersion + ":" + namespace + ":"
	return m, nil
}

// checkNamespace accepts namespaces that cannot run into another cache's
// keys: no ':' (so namespace and key cannot trade bytes), and not Domains'.
func checkNamespace(ns string) error {
	if ns == "" || len(ns) > maxNamespaceLength {
		return fmt.Errorf("namespace %q: want 1 to %d characters", ns, maxNamespaceLength)
	}
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("namespace %q: want only a-z, 0-9, '_' and '-'", ns)
		}
	}
	if ns == "dns" {
		return errors.New(`namespace "dns" is the DNS cache's`)
	}
	if ns == "lease" {
		// <prefix>v1:lease:dns:<domain> is the lease on a domain's load.
		return errors.New(`namespace "lease" is the leases'`)
	}
	return nil
}

// key is the Redis and in-process key of a caller's key, or "" when the key
// should bypass the cache: empty, longer than maxMemoKeyLength, or holding
// spaces or control bytes. Keys are case-sensitive; callers normalise them.
func (m *Memo) key(k string) string {
	if k == "" || len(k) > maxMemoKeyLength {
		return ""
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return ""
		}
	}
	return m.keyPrefix + k
}

// storeTTL is how long a loaded value is kept in both tiers: what load asked
// for, capped at MaxTTL; 0 (load said ttl <= 0) stores nothing.
func (m *Memo) storeTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return min(ttl, m.t.cfg.MaxTTL)
}

// hitTTL keeps a value read from Redis in process as long as Redis will keep
// it. A value whose lifetime Redis does not know (set without expiry by
// someone else, or expiring between GET and PTTL) is returned but not kept.
func (m *Memo) hitTTL(_ []byte, remaining time.Duration) time.Duration {
	if remaining <= 0 {
		return 0
	}
	return min(remaining, m.t.cfg.MaxTTL)
}

// Do returns the value of key and whether a tier had it (cached). On a miss
// in process it reads Redis, and on a miss there calls load once per key
// however many callers ask at once, stores the value in both tiers for the
// ttl load returned (capped at Config.MaxTTL; ttl <= 0 stores nothing, for
// answers not worth keeping) and returns it with cached false.
//
// load runs detached from the caller who started it (context.WithoutCancel,
// keeping its values, bounded by Config.LoadTimeout and aborted by Close),
// so a caller who leaves does not fail the others waiting on the same key;
// load must honour its ctx. A caller whose ctx ends stops waiting and gets
// (nil, false). load gives up the slice it returns; every caller gets its
// own copy. An empty value is stored like any other; nil and empty are not
// told apart. Keys that cannot be cached (see key) and calls after Close
// call load directly with the caller's ctx.
func (m *Memo) Do(ctx context.Context, key string, load func(ctx context.Context) ([]byte, time.Duration)) ([]byte, bool) {
	k := m.key(key)
	if m.t.bypass(k) {
		m.t.m.loads.inc()
		v, _ := load(ctx)
		return v, false
	}
	if v, ok := m.t.hit(k); ok {
		return v, true
	}
	v, cached, err := m.t.fill(ctx, k, func(ctx context.Context) ([]byte, time.Duration, time.Duration) {
		v, ttl := load(ctx)
		ttl = m.storeTTL(ttl)
		return v, ttl, ttl
	})
	if err != nil {
		return nil, false
	}
	return v, cached
}

// RedisStatus reports the Redis tier for /readyz. Degraded is not unready:
// the caller goes on with the in-process tier and its load function.
func (m *Memo) RedisStatus() Status {
	return m.t.redisStatus()
}

// Stats returns the counters since NewMemo, the numbers of its metrics.
func (m *Memo) Stats() Stats {
	return m.t.m.stats()
}

// Close aborts loads that are still running, waits for them, stops the
// in-process tier's goroutines and closes the Redis client, unless it came
// from Config.Redis (its owner closes it). Call it after the last Do; later
// calls go straight to their load function. Close is idempotent.
func (m *Memo) Close() error {
	return m.t.close()
}
