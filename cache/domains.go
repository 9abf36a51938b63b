package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/leadcheck/leadcheck/validate"
)

// Domains caches the DNS facts of domains in front of another
// validate.DomainChecker (normally validate.DNSChecker): first in process,
// then in Redis when configured, and coalesces concurrent misses so a cold
// domain costs one lookup however many requests ask for it at once. It is
// safe for concurrent use.
type Domains struct {
	cfg    Config
	next   validate.DomainChecker
	local  *otter.Cache[string, localEntry]
	shared *sharedTier // nil without Redis
	group  singleflight.Group
	m      *metrics

	// closing is cancelled by Close to abort loads no caller waits for.
	closing     context.Context
	cancelLoads context.CancelFunc
	loads       sync.WaitGroup
	closed      atomic.Bool
	closeOnce   sync.Once
	closeErr    error
}

var _ validate.DomainChecker = (*Domains)(nil)

// localEntry is a value of the in-process tier with the lifetime it was
// stored for (otter reads it to set the entry's expiry).
type localEntry struct {
	facts validate.DomainFacts
	ttl   time.Duration
}

// NewDomains returns a cache in front of next. With cfg.RedisURL empty it is
// in process only. It does not contact Redis: a Redis that is down at start
// degrades the cache like one that fails later, and never stops the service.
// The counters are registered on reg unless it is nil. Call Close when done.
func NewDomains(cfg Config, next validate.DomainChecker, reg prometheus.Registerer) (*Domains, error) {
	if next == nil {
		return nil, errors.New("new cache: next checker is nil")
	}
	injectedClock := cfg.Now != nil
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new cache: %w", err)
	}
	d := &Domains{cfg: cfg, next: next, m: newMetrics()}
	if err := d.m.register(reg); err != nil {
		return nil, fmt.Errorf("new cache: %w", err)
	}

	// One weight bounds both count and bytes: every entry weighs at least
	// MaxBytes/MaxEntries, so no more than MaxEntries fit, and the weights
	// add up to no more than MaxBytes.
	floor := uint32(min((cfg.MaxBytes+cfg.MaxEntries-1)/max(cfg.MaxEntries, 1), math.MaxUint32))
	opts := &otter.Options[string, localEntry]{
		MaximumWeight: uint64(cfg.MaxBytes),
		Weigher: func(key string, e localEntry) uint32 {
			return max(uint32(min(sizeOf(key, e.facts), math.MaxUint32)), floor)
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, localEntry]) time.Duration {
			return e.Value.ttl
		}),
		Logger: otterLogger{cfg.Logger},
	}
	if injectedClock {
		opts.Clock = injectedTime{cfg.Now}
	}
	local, err := otter.New(opts)
	if err != nil {
		return nil, fmt.Errorf("new cache: local tier: %w", err)
	}
	d.local = local

	if cfg.RedisURL != "" {
		d.shared, err = newSharedTier(cfg)
		if err != nil {
			local.StopAllGoroutines()
			d.m.unregister(reg)
			return nil, fmt.Errorf("new cache: %w", err)
		}
	}
	// The lifetime of the loads is the lifetime of d, not of any request.
	d.closing, d.cancelLoads = context.WithCancel(context.Background())
	return d, nil
}

// CheckDomain returns the facts of asciiDomain and whether they came from a
// cache tier (in process or Redis) rather than from live DNS.
//
// Concurrent misses for one domain share one load. That load runs detached
// from the caller who started it (context.WithoutCancel, bounded by
// Config.LoadTimeout): a visitor who leaves the form must not fail the other
// requests waiting on the same domain, and the answer still lands in the
// cache for the next blur. A caller whose ctx ends first stops waiting and
// gets a dns_error result, which is never cached. The returned facts are the
// caller's own to modify.
func (d *Domains) CheckDomain(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool) {
	key := d.cfg.key(asciiDomain)
	if key == "" || d.closed.Load() {
		d.m.loads.inc()
		return d.next.CheckDomain(ctx, asciiDomain)
	}
	if e, ok := d.local.GetIfPresent(key); ok {
		d.m.localHit.inc()
		return cloneFacts(e.facts), true
	}
	d.m.localMiss.inc()
	if err := ctx.Err(); err != nil {
		return canceled(err), false
	}
	ch := d.group.DoChan(key, func() (any, error) {
		return d.load(ctx, key, asciiDomain), nil
	})
	select {
	case r := <-ch:
		l := r.Val.(loaded)
		return cloneFacts(l.facts), l.cached
	case <-ctx.Done():
		return canceled(ctx.Err()), false
	}
}

// loaded is the outcome of one coalesced load.
type loaded struct {
	facts  validate.DomainFacts
	cached bool // from Redis, or from a load that finished just before
}

// load runs once per key at a time: Redis first, then the wrapped checker,
// storing what it finds in both tiers before the flight ends, so a request
// that missed the local tier just before cannot start a second load.
func (d *Domains) load(callerCtx context.Context, key, asciiDomain string) loaded {
	d.loads.Add(1)
	defer d.loads.Done()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(callerCtx), d.cfg.LoadTimeout)
	defer cancel()
	stop := context.AfterFunc(d.closing, cancel)
	defer stop()

	if e, ok := d.local.GetIfPresent(key); ok {
		return loaded{facts: e.facts, cached: true}
	}
	if d.shared != nil {
		f, remaining, err := d.shared.get(ctx, key)
		switch {
		case err == nil:
			d.m.redisHit.inc()
			local, _ := d.cfg.ttls(f)
			if remaining > 0 {
				local = min(local, remaining)
			}
			d.storeLocal(key, f, local)
			return loaded{facts: f, cached: true}
		case errors.Is(err, errMiss):
			d.m.redisMiss.inc()
		default:
			d.m.redisError.inc()
			d.cfg.Logger.DebugContext(ctx, "cache: redis read failed", "key", key, "err", err)
		}
	}

	d.m.loads.inc()
	f, _ := d.next.CheckDomain(ctx, asciiDomain)
	local, shared := d.cfg.ttls(f)
	d.storeLocal(key, f, local)
	if d.shared != nil && shared > 0 {
		if err := d.shared.set(ctx, key, f, shared); err != nil {
			d.m.redisWriteError.inc()
			d.cfg.Logger.DebugContext(ctx, "cache: redis write failed", "key", key, "err", err)
		}
	}
	return loaded{facts: f}
}

func (d *Domains) storeLocal(key string, f validate.DomainFacts, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	d.local.Set(key, localEntry{facts: f, ttl: ttl})
}

// RedisStatus reports the Redis tier for /readyz. Degraded is not unready:
// the service answers correctly without Redis, only with more DNS traffic.
func (d *Domains) RedisStatus() Status {
	if d.shared == nil {
		return StatusDisabled
	}
	return d.shared.status()
}

// Stats returns the counters since NewDomains.
func (d *Domains) Stats() Stats {
	return d.m.stats()
}

// Close aborts loads that are still running, waits for them, stops the
// in-process tier's goroutines and closes the Redis client. Call it after the
// last CheckDomain; later calls go straight to the wrapped checker. Close is
// idempotent.
func (d *Domains) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.cancelLoads()
		d.loads.Wait()
		d.local.StopAllGoroutines()
		if d.shared != nil {
			d.closeErr = d.shared.close()
		}
	})
	return d.closeErr
}

// canceled is the answer to a caller who stopped waiting: "unknown", like a
// DNS answer that did not come in time, worded as validate.DNSChecker words
// its own timeouts.
func canceled(err error) validate.DomainFacts {
	msg := "MX: canceled"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "MX: timeout"
	}
	return validate.DomainFacts{Status: validate.DNSError, Error: msg}
}

// cloneFacts copies the only shared part of facts, so callers cannot change
// a cached value.
func cloneFacts(f validate.DomainFacts) validate.DomainFacts {
	f.MX = slices.Clone(f.MX)
	return f
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
