package cache

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
)

// codec is what the tiers need to know about a kind of value V; the rest of
// the machinery does not look inside values.
type codec[V any] struct {
	// encode and decode convert to and from the stored form in Redis.
	// decode returns an error wrapping errBadValue for a value it cannot
	// use, which the caller counts as a Redis error and overwrites.
	encode func(V) ([]byte, error)
	decode func([]byte) (V, error)
	// size estimates the heap bytes of an in-process entry, for the byte
	// bound. It need not be exact, only proportional.
	size func(key string, v V) int
	// clone copies the parts of a value a caller could change, so that no
	// caller changes what the cache holds or what another caller got.
	clone func(V) V
	// hitTTL is how long a value read from Redis, where it has remaining
	// left (0: unknown), is kept in process; 0 keeps it out.
	hitTTL func(v V, remaining time.Duration) time.Duration
}

// loadFunc produces a value on a miss in every tier, with how long to keep
// it in process and in Redis; 0 does not store it in that tier.
type loadFunc[V any] func(ctx context.Context) (v V, local, shared time.Duration)

// errBadValue marks a Redis value this release cannot use; the caller treats
// it as a miss and overwrites it with a fresh load.
var errBadValue = errors.New("unusable cached value")

// How often a load that found another instance's lease looks again: soon at
// first, since most loads it waits for are a DNS round trip, then every
// leasePollMax, so that a wait of a whole LoadTimeout (10 s) costs Redis
// about a hundred small reads. Polling rather than a Pub/Sub message from
// the holder, because polling needs nothing but the commands every lookup
// already sends through the pool and the breaker: a subscription holds a
// connection of its own outside both, needs an owner goroutine that
// resubscribes after every Redis restart, and would still need polling to
// notice a holder that died, whose lease only expires and announces
// nothing.
const (
	leasePollFirst = 10 * time.Millisecond
	leasePollMax   = 100 * time.Millisecond
)

// tiered is the machinery every cache of the package shares: an in-process
// tier (otter, bounded by entries and estimated bytes, each entry expiring on
// its own lifetime), Redis behind a circuit breaker, and coalescing of
// concurrent misses into one detached load, per process and, with leases,
// across instances. Domains and Memo wrap it with their keys, codec and
// lifetimes. It is safe for concurrent use.
type tiered[V any] struct {
	cfg        Config
	codec      codec[V]
	local      *otter.Cache[string, entry[V]]
	shared     *Redis // nil without Redis
	ownsShared bool   // built from cfg.RedisURL, so closed by Close
	group      singleflight.Group
	m          *metrics
	// leases makes a full miss take a lease in Redis before it calls the
	// source, so that instances missing the same key at once call it once
	// between them (see share). Its wrapper sets it before first use.
	leases bool

	// closing is cancelled by Close to abort loads no caller waits for.
	closing     context.Context
	cancelLoads context.CancelFunc
	loads       sync.WaitGroup
	closed      atomic.Bool
	closeOnce   sync.Once
	closeErr    error
}

// entry is a value of the in-process tier with the lifetime it was stored
// for (otter reads it to set the entry's expiry).
type entry[V any] struct {
	v   V
	ttl time.Duration
}

// newTiered fills cfg's defaults, registers m on reg (unless nil) and builds
// the tiers. It does not contact Redis.
func newTiered[V any](cfg Config, c codec[V], m *metrics, reg prometheus.Registerer) (*tiered[V], error) {
	injectedClock := cfg.Now != nil
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := m.register(reg); err != nil {
		return nil, err
	}
	t := &tiered[V]{cfg: cfg, codec: c, m: m}

	// One weight bounds both count and bytes: every entry weighs at least
	// MaxBytes/MaxEntries, so no more than MaxEntries fit, and the weights
	// add up to no more than MaxBytes.
	floor := uint32(min((cfg.MaxBytes+cfg.MaxEntries-1)/max(cfg.MaxEntries, 1), math.MaxUint32))
	opts := &otter.Options[string, entry[V]]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher: func(key string, e entry[V]) uint32 {
			return max(uint32(min(c.size(key, e.v), math.MaxUint32)), floor)
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, entry[V]]) time.Duration {
			return e.Value.ttl
		}),
		Logger: otterLogger{cfg.Logger},
	}
	if injectedClock {
		opts.Clock = injectedTime{cfg.Now}
	}
	local, err := otter.New(opts)
	if err != nil {
		m.unregister(reg)
		return nil, fmt.Errorf("local tier: %w", err)
	}
	t.local = local

	switch {
	case cfg.Redis != nil:
		t.shared = cfg.Redis
	case cfg.RedisURL != "":
		t.shared, err = newRedis(cfg)
		if err != nil {
			local.StopAllGoroutines()
			m.unregister(reg)
			return nil, err
		}
		t.ownsShared = true
	}
	// The lifetime of the loads is the lifetime of t, not of any request.
	t.closing, t.cancelLoads = context.WithCancel(context.Background())
	return t, nil
}

// bypass reports whether a lookup must go straight to the source: an
// unusable key (""), or a closed cache.
func (t *tiered[V]) bypass(key string) bool {
	return key == "" || t.closed.Load()
}

// hit returns the in-process value of key, the caller's own copy, and
// counts the local hit or miss. A miss continues with fill; the two are
// apart so that a hit allocates no load closure.
func (t *tiered[V]) hit(key string) (V, bool) {
	if e, ok := t.local.GetIfPresent(key); ok {
		t.m.localHit.inc()
		return t.codec.clone(e.v), true
	}
	t.m.localMiss.inc()
	var zero V
	return zero, false
}

// fill returns the value of key after a local miss, and whether a tier had
// it. Concurrent misses for one key share one load, which runs detached from
// the caller who started it (context.WithoutCancel, bounded by LoadTimeout,
// aborted by Close). A caller whose ctx ends stops waiting and gets ctx's
// error; the load goes on for the others. The value returned is the caller's
// own.
func (t *tiered[V]) fill(ctx context.Context, key string, load loadFunc[V]) (V, bool, error) {
	var zero V
	if err := ctx.Err(); err != nil {
		return zero, false, err
	}
	ch := t.group.DoChan(key, func() (any, error) {
		return t.load(ctx, key, load), nil
	})
	select {
	case r := <-ch:
		l := r.Val.(loaded[V])
		return t.codec.clone(l.v), l.cached, nil
	case <-ctx.Done():
		return zero, false, ctx.Err()
	}
}

// loaded is the outcome of one coalesced load.
type loaded[V any] struct {
	v      V
	cached bool // from Redis, or from a load that finished just before
}

// load runs once per key at a time: Redis first, then the source, storing
// what it finds in both tiers before the flight ends, so a request that
// missed the local tier just before cannot start a second load. With leases
// on, a miss in Redis first settles with the other instances who calls the
// source (share).
func (t *tiered[V]) load(callerCtx context.Context, key string, source loadFunc[V]) loaded[V] {
	t.loads.Add(1)
	defer t.loads.Done()
	detached := context.WithoutCancel(callerCtx)
	ctx, cancel := t.loadContext(detached)
	defer func() { cancel() }()

	if e, ok := t.local.GetIfPresent(key); ok {
		return loaded[V]{v: e.v, cached: true}
	}
	var s shareOutcome[V]
	if t.shared != nil {
		v, remaining, err := t.getShared(ctx, key)
		switch {
		case err == nil:
			t.m.redisHit.inc()
			t.storeLocal(key, v, t.codec.hitTTL(v, remaining))
			return loaded[V]{v: v, cached: true}
		case errors.Is(err, errMiss):
			t.m.redisMiss.inc()
			if t.leases {
				s = t.share(ctx, key)
			}
		default:
			t.m.redisError.inc()
			t.cfg.Logger.DebugContext(ctx, "cache: redis read failed", "key", key, "err", err)
		}
	}
	if s.found {
		t.storeLocal(key, s.v, t.codec.hitTTL(s.v, s.remaining))
		return loaded[V]{v: s.v, cached: true}
	}
	if s.waited {
		// The wait may have used up this load's LoadTimeout (a holder that
		// died leaves its lease for that long): the source gets its own.
		cancel()
		ctx, cancel = t.loadContext(detached)
	}

	t.m.loads.inc()
	v, local, shared := source(ctx)
	t.storeLocal(key, v, local)
	if t.shared != nil && shared > 0 && s.owner != "" {
		// The value and the lease's release in one round trip.
		if err := t.setSharedAndRelease(context.WithoutCancel(ctx), key, v, shared, s.owner); err != nil {
			t.m.redisWriteError.inc()
			t.cfg.Logger.DebugContext(ctx, "cache: redis write failed", "key", key, "err", err)
			t.releaseLease(context.WithoutCancel(ctx), key, s.owner)
		}
		return loaded[V]{v: v}
	}
	if t.shared != nil && shared > 0 {
		if err := t.setShared(ctx, key, v, shared); err != nil {
			t.m.redisWriteError.inc()
			t.cfg.Logger.DebugContext(ctx, "cache: redis write failed", "key", key, "err", err)
		}
	}
	if s.owner != "" {
		// After the value is stored, and at once: a waiter that then finds
		// the lease gone and no value (an answer kept in process only)
		// loads by itself without waiting for the lease to expire. Not
		// cancelled by Close, so that a load it aborted leaves no lease.
		t.releaseLease(context.WithoutCancel(ctx), key, s.owner)
	}
	return loaded[V]{v: v}
}

// loadContext bounds one stage of a detached load: LoadTimeout, and Close.
func (t *tiered[V]) loadContext(detached context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(detached, t.cfg.LoadTimeout)
	if t.closing.Err() != nil {
		// Closed during an earlier stage: AfterFunc would cancel only
		// later, from a goroutine of its own.
		cancel()
	}
	stop := context.AfterFunc(t.closing, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// shareOutcome is how a miss in Redis was settled with the other instances.
type shareOutcome[V any] struct {
	// found: the value turned up in Redis, with remaining of its lifetime;
	// the source is not called.
	found     bool
	v         V
	remaining time.Duration
	// owner is this load's lease token when it holds the lease, to
	// release after storing.
	owner string
	// waited: the load waited on another instance's lease that ended
	// without a value, and calls the source itself.
	waited bool
}

// share coalesces a miss in Redis across instances. It takes the key's
// lease in Redis (SET NX with expiry LoadTimeout, the longest the holder's
// source may run), so that one instance calls the source and stores the
// value while the others, finding the lease taken, wait for the value to
// appear in Redis (await) instead of calling their own. A lease that ends
// with no value (the holder died, or kept its answer in process only, as
// Domains does with dns_error) sends the waiter to its own source at once.
// Redis trouble never makes a load wait: on any error the load calls the
// source as it would without leases.
func (t *tiered[V]) share(ctx context.Context, key string) shareOutcome[V] {
	lease := t.leaseKey(key)
	owner := rand.Text()
	view, err := t.shared.claim(ctx, key, lease, owner, t.cfg.LoadTimeout)
	if err != nil {
		// Had the SET gone through, its lease expires by itself: no more
		// calls into a Redis that is failing.
		t.m.redisError.inc()
		t.cfg.Logger.DebugContext(ctx, "cache: redis lease failed", "key", key, "err", err)
		return shareOutcome[V]{}
	}
	if view.found {
		// Stored by a holder that finished between the read and the claim.
		if v, ok := t.decodeShared(ctx, key, view.value); ok {
			if view.won {
				t.releaseLease(ctx, key, owner)
			}
			return shareOutcome[V]{found: true, v: v, remaining: view.remaining}
		}
	}
	if view.won {
		return shareOutcome[V]{owner: owner}
	}
	t.m.leaseWaits.inc()
	v, remaining, ok := t.await(ctx, key, lease)
	return shareOutcome[V]{found: ok, v: v, remaining: remaining, waited: !ok}
}

// await waits for another instance's load of key to store its value in
// Redis, looking at the lease and the value every few milliseconds (see
// leasePollFirst). It reports false, at once, when the lease is gone with
// no value, when Redis fails or holds a value it cannot decode, and when
// ctx ends (LoadTimeout, Close).
func (t *tiered[V]) await(ctx context.Context, key, lease string) (V, time.Duration, bool) {
	var zero V
	pause := leasePollFirst
	timer := time.NewTimer(pause)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return zero, 0, false
		}
		view, err := t.shared.watch(ctx, key, lease)
		if err != nil {
			t.m.redisError.inc()
			t.cfg.Logger.DebugContext(ctx, "cache: redis lease wait failed", "key", key, "err", err)
			return zero, 0, false
		}
		if view.found {
			v, ok := t.decodeShared(ctx, key, view.value)
			return v, view.remaining, ok
		}
		if !view.held {
			return zero, 0, false
		}
		pause = min(2*pause, leasePollMax)
		timer.Reset(pause)
	}
}

// decodeShared decodes a value read during share, counting one it cannot
// use as a Redis error (the load then overwrites it).
func (t *tiered[V]) decodeShared(ctx context.Context, key string, b []byte) (V, bool) {
	v, err := t.codec.decode(b)
	if err != nil {
		t.m.redisError.inc()
		t.cfg.Logger.DebugContext(ctx, "cache: redis value unusable", "key", key, "err", err)
		return v, false
	}
	return v, true
}

// releaseLease gives up this load's lease on key. A failure is only
// logged: the lease then expires by itself, LoadTimeout after it was taken,
// and a waiter that finds the value stored stops waiting before that.
func (t *tiered[V]) releaseLease(ctx context.Context, key, owner string) {
	if err := t.shared.release(ctx, t.leaseKey(key), owner); err != nil {
		t.cfg.Logger.DebugContext(ctx, "cache: redis lease release failed", "key", key, "err", err)
	}
}

// leaseKey is the key of the lease on loading key: <prefix>v1:lease:<the
// rest of key>, so <prefix>v1:lease:dns:<domain> for Domains. "lease" is
// no Memo namespace (checkNamespace), so it meets no value's key.
func (t *tiered[V]) leaseKey(key string) string {
	versioned := t.cfg.KeyPrefix + keyVersion + ":"
	return versioned + "lease:" + strings.TrimPrefix(key, versioned)
}

// getShared reads and decodes a value from Redis.
func (t *tiered[V]) getShared(ctx context.Context, key string) (V, time.Duration, error) {
	var zero V
	b, remaining, err := t.shared.get(ctx, key)
	if err != nil {
		return zero, 0, err
	}
	v, err := t.codec.decode(b)
	if err != nil {
		return zero, 0, fmt.Errorf("redis get %s: %w", key, err)
	}
	return v, remaining, nil
}

// setShared encodes and stores a value in Redis.
func (t *tiered[V]) setShared(ctx context.Context, key string, v V, ttl time.Duration) error {
	b, err := t.codec.encode(v)
	if err != nil {
		return err
	}
	return t.shared.set(ctx, key, b, ttl)
}

// setSharedAndRelease is setShared and releaseLease in one round trip.
func (t *tiered[V]) setSharedAndRelease(ctx context.Context, key string, v V, ttl time.Duration, owner string) error {
	b, err := t.codec.encode(v)
	if err != nil {
		return err
	}
	return t.shared.setAndRelease(ctx, key, b, ttl, t.leaseKey(key), owner)
}

func (t *tiered[V]) storeLocal(key string, v V, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	t.local.Set(key, entry[V]{v: v, ttl: ttl})
}

// redisStatus reports the Redis tier for /readyz.
func (t *tiered[V]) redisStatus() Status {
	if t.shared == nil {
		return StatusDisabled
	}
	return t.shared.Status()
}

// close aborts loads that are still running, waits for them, stops the
// in-process tier's goroutines and closes the Redis client if t built it.
// It is idempotent.
func (t *tiered[V]) close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		t.cancelLoads()
		t.loads.Wait()
		t.local.StopAllGoroutines()
		if t.ownsShared {
			t.closeErr = t.shared.Close()
		}
	})
	return t.closeErr
}

// injectedTime adapts Config.Now to otter's clock. It sends no ticks, so the
// periodic clean-up is off; expired entries are still never returned, and
// are dropped during the maintenance that writes trigger.
type injectedTime struct{ now func() time.Time }

func (c injectedTime) NowNano() int64                      { return c.now().UnixNano() }
func (c injectedTime) Tick(time.Duration) <-chan time.Time { return nil }

// otterLogger sends otter's warnings to the configured logger.
type otterLogger struct{ log *slog.Logger }

func (l otterLogger) Warn(ctx context.Context, msg string, err error) {
	l.log.WarnContext(ctx, "cache: "+msg, "err", err)
}

func (l otterLogger) Error(ctx context.Context, msg string, err error) {
	l.log.ErrorContext(ctx, "cache: "+msg, "err", err)
}
