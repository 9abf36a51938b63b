package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadcheck/leadcheck/validate"
)

// maxDomainLength is the longest domain name in dotted form (RFC 1035 with the
// root label left out). Longer inputs bypass the cache: they cannot exist, and
// keying Redis on attacker-sized strings buys nothing.
const maxDomainLength = 253

// Domains caches the DNS facts of domains in front of another
// validate.DomainChecker (normally validate.DNSChecker): first in process,
// then in Redis when configured, and coalesces concurrent misses so a cold
// domain costs one lookup however many requests ask for it at once, on one
// instance or, through a lease in Redis, on all of them. It is safe for
// concurrent use.
type Domains struct {
	*tiered[validate.DomainFacts]
	next validate.DomainChecker
}

var _ validate.DomainChecker = (*Domains)(nil)

// NewDomains returns a cache in front of next. With cfg.RedisURL empty (and
// no cfg.Redis) it is in process only. It does not contact Redis: a Redis
// that is down at start degrades the cache like one that fails later, and
// never stops the service. The counters are registered on reg unless it is
// nil. Call Close when done.
func NewDomains(cfg Config, next validate.DomainChecker, reg prometheus.Registerer) (*Domains, error) {
	if next == nil {
		return nil, errors.New("new cache: next checker is nil")
	}
	d := &Domains{next: next}
	t, err := newTiered(cfg, codec[validate.DomainFacts]{
		encode: encodeFacts,
		decode: decodeFacts,
		size:   sizeOf,
		clone:  cloneFacts,
		hitTTL: d.hitTTL,
	}, newMetrics(domainMetricNames(), nil), reg)
	if err != nil {
		return nil, fmt.Errorf("new cache: %w", err)
	}
	// Domains takes leases; Memo does not (see the package doc).
	t.leases = true
	d.tiered = t
	return d, nil
}

// CheckDomain returns the facts of asciiDomain and whether they came from a
// cache tier (in process or Redis) rather than from live DNS.
//
// Concurrent misses for one domain share one load, across instances too
// when Redis is configured (see the package doc). That load runs detached
// from the caller who started it (context.WithoutCancel, bounded by
// Config.LoadTimeout): a visitor who leaves the form must not fail the other
// requests waiting on the same domain, and the answer still lands in the
// cache for the next blur. A caller whose ctx ends first stops waiting and
// gets a dns_error result, which is never cached. The returned facts are the
// caller's own to modify.
func (d *Domains) CheckDomain(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool) {
	key := d.cfg.key(asciiDomain)
	if d.bypass(key) {
		d.m.loads.inc()
		return d.next.CheckDomain(ctx, asciiDomain)
	}
	if f, ok := d.hit(key); ok {
		return f, true
	}
	f, cached, err := d.fill(ctx, key, func(ctx context.Context) (validate.DomainFacts, time.Duration, time.Duration) {
		f, _ := d.next.CheckDomain(ctx, asciiDomain)
		local, shared := d.cfg.ttls(f)
		return f, local, shared
	})
	if err != nil {
		return canceled(err), false
	}
	return f, cached
}

// hitTTL keeps facts read from Redis in process for their own lifetime, but
// no longer than Redis would.
func (d *Domains) hitTTL(f validate.DomainFacts, remaining time.Duration) time.Duration {
	local, _ := d.cfg.ttls(f)
	if remaining > 0 {
		local = min(local, remaining)
	}
	return local
}

// RedisStatus reports the Redis tier for /readyz. Degraded is not unready:
// the service answers correctly without Redis, only with more DNS traffic.
func (d *Domains) RedisStatus() Status {
	return d.redisStatus()
}

// Stats returns the counters since NewDomains.
func (d *Domains) Stats() Stats {
	return d.m.stats()
}

// Close aborts loads that are still running, waits for them, stops the
// in-process tier's goroutines and closes the Redis client, unless it came
// from Config.Redis (its owner closes it). Call it after the last
// CheckDomain; later calls go straight to the wrapped checker. Close is
// idempotent.
func (d *Domains) Close() error {
	return d.close()
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

// ttls says how long facts may be kept in each tier; zero means "do not
// store". Errors stay in process only: a timing-out resolver is often this
// instance's problem, and another instance should be free to try.
func (c Config) ttls(f validate.DomainFacts) (local, shared time.Duration) {
	switch {
	case f.Status != validate.DNSOK && f.Status != validate.DNSNXDomain,
		f.Error != "", f.SPF.LookupFailed, f.DMARC.LookupFailed:
		return c.ErrorTTL, 0
	case f.Status == validate.DNSNXDomain, f.NullMX:
		t := f.TTL
		if t <= 0 {
			t = c.NegativeTTL
		}
		t = max(min(t, c.NegativeTTL), c.NegativeMinTTL)
		return t, t
	default:
		t := max(min(f.TTL, c.MaxTTL), c.MinTTL)
		return t, t
	}
}

// key is the cache key of a domain, or "" when the domain should bypass the
// cache. DNS names are case-insensitive and the root dot is optional, so
// "Example.COM." and "example.com" share a key.
func (c Config) key(asciiDomain string) string {
	d := strings.TrimSuffix(asciiDomain, ".")
	if d == "" || len(d) > maxDomainLength {
		return ""
	}
	for i := 0; i < len(d); i++ {
		// Only printable ASCII without spaces: the engine passes A-labels,
		// anything else is a caller bug and not worth a shared key. This
		// runs before lower-casing, which maps some non-ASCII letters (the
		// Kelvin sign) to ASCII ones.
		if d[i] <= ' ' || d[i] >= 0x7f {
			return ""
		}
	}
	return c.KeyPrefix + keyVersion + ":dns:" + strings.ToLower(d)
}

// encodeFacts is the stored form of facts in Redis.
func encodeFacts(f validate.DomainFacts) ([]byte, error) {
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("encode facts: %w", err)
	}
	return b, nil
}

// decodeFacts parses a stored value. It accepts only values that could have
// come from encodeFacts: a JSON object with a known status.
func decodeFacts(b []byte) (validate.DomainFacts, error) {
	var f validate.DomainFacts
	if err := json.Unmarshal(b, &f); err != nil {
		return validate.DomainFacts{}, fmt.Errorf("decode facts: %w: %w", errBadValue, err)
	}
	switch f.Status {
	case validate.DNSOK, validate.DNSNXDomain, validate.DNSError:
	default:
		return validate.DomainFacts{}, fmt.Errorf("decode facts: %w: status %q", errBadValue, f.Status)
	}
	if f.TTL < 0 {
		return validate.DomainFacts{}, fmt.Errorf("decode facts: %w: negative ttl", errBadValue)
	}
	return f, nil
}

// sizeOf estimates the heap bytes an in-process entry holds, for the byte
// bound. It need not be exact, only proportional.
func sizeOf(key string, f validate.DomainFacts) int {
	const fixed = 256 // the entry, DomainFacts and map overhead
	n := fixed + len(key) + len(f.Error)
	for _, mx := range f.MX {
		n += 32 + len(mx.Host)
	}
	n += len(f.SPF.Record) + len(f.SPF.Policy) + len(f.DMARC.Record) + len(f.DMARC.Policy)
	return n
}
