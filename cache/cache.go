package cache

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// keyVersion is the format version of the stored values. Adding a field to
// validate.DomainFacts keeps it (old readers ignore unknown JSON fields);
// renaming a field or changing what one means bumps it, so instances of two
// releases sharing one Redis during a rolling deploy never read each other's
// values. A Memo's values are its caller's format: the caller versions them
// inside its namespace or its keys.
const keyVersion = "v1"

// Defaults for Config; see the fields for why.
const (
	DefaultKeyPrefix      = "leadcheck:"
	DefaultMaxEntries     = 100_000
	DefaultMaxBytes       = 64 << 20
	DefaultMinTTL         = 5 * time.Minute
	DefaultMaxTTL         = 24 * time.Hour
	DefaultNegativeTTL    = time.Hour
	DefaultNegativeMinTTL = time.Minute
	DefaultErrorTTL       = 5 * time.Second
	DefaultRedisTimeout   = 50 * time.Millisecond
	DefaultLoadTimeout    = 10 * time.Second
	DefaultBreakerTimeout = 5 * time.Second
)

// Config tunes a cache, Domains or Memo. A zero field takes its default,
// except ErrorTTL, where zero means "do not cache errors"; DefaultConfig
// returns every default, ErrorTTL included. The DNS lifetimes (MinTTL,
// NegativeTTL, NegativeMinTTL, ErrorTTL) mean nothing to a Memo, whose load
// function says how long each value lives.
type Config struct {
	// RedisURL is redis://[user:pass@]host:port/db. Empty keeps the cache in
	// process only, which is right for a single instance.
	RedisURL string
	// Redis, when set, is the Redis tier to use instead of dialing RedisURL
	// (which is then ignored), so that several caches of one process share
	// one connection pool and one circuit breaker; see NewRedis. Closing a
	// cache leaves it open: its owner closes it after the caches.
	Redis *Redis
	// KeyPrefix namespaces the keys, so several deployments can share a
	// Redis. Keys are <KeyPrefix>v1:dns:<ascii domain> for Domains and
	// <KeyPrefix>v1:<namespace>:<key> for a Memo. Default "leadcheck:".
	KeyPrefix string
	// MaxEntries bounds the in-process tier by count. Default 100,000.
	MaxEntries int
	// MaxBytes bounds the in-process tier by the estimated size of keys and
	// values, so a flood of domains with huge TXT records cannot eat the
	// heap. Default 64 MiB.
	MaxBytes int
	// MinTTL and MaxTTL clamp the DNS TTL of a positive answer. The floor
	// keeps zones with tiny TTLs from defeating the cache; the ceiling bounds
	// how long a changed MX can be served stale. Defaults 5m and 24h. A
	// Memo caps the lifetimes its load function asks for at MaxTTL too.
	MinTTL, MaxTTL time.Duration
	// NegativeTTL caps how long NXDOMAIN and null MX are kept: a domain
	// registered after a visitor mistyped it must start working soon.
	// Default 1h.
	NegativeTTL time.Duration
	// NegativeMinTTL is the floor for negative answers whose SOA minimum (or
	// null MX TTL) is smaller; without it a zone with a 0-30 s negative TTL
	// would send every blur of a mistyped domain to DNS. Default 1m; it
	// never exceeds NegativeTTL.
	NegativeMinTTL time.Duration
	// ErrorTTL is how long a dns_error result (and a result with a failed
	// SPF or DMARC lookup) is kept, in process only. A few seconds absorb a
	// burst of requests for a domain whose DNS is timing out without pinning
	// an "unknown" verdict. DefaultConfig sets 5s; 0 means never cache them.
	ErrorTTL time.Duration
	// RedisTimeout bounds every Redis call, so a slow Redis costs at most
	// this much per request before the circuit breaker opens. Default 50ms.
	RedisTimeout time.Duration
	// LoadTimeout bounds a coalesced load, which runs detached from the
	// caller that started it (see Domains.CheckDomain and Memo.Do). It is
	// also how long a Domains lease in Redis lasts, and so the longest one
	// instance waits on another before it resolves by itself. Default 10s.
	LoadTimeout time.Duration
	// BreakerTimeout is how long the Redis circuit breaker stays open before
	// it lets one probe through. Default 5s, well inside the promise of using
	// Redis again within 30s of its return.
	BreakerTimeout time.Duration
	// Now is the clock of the in-process tier's expiry, injected so tests can
	// move time. Default time.Now. Redis expiry runs on Redis' own clock.
	Now func() time.Time
	// Logger receives circuit breaker transitions and Redis errors. Default
	// slog.Default(). A shared Redis logs its breaker to the Logger given
	// to NewRedis.
	Logger *slog.Logger
}

// DefaultConfig is the configuration of a single instance without Redis; set
// RedisURL to share the cache between instances.
func DefaultConfig() Config {
	return Config{
		KeyPrefix:      DefaultKeyPrefix,
		MaxEntries:     DefaultMaxEntries,
		MaxBytes:       DefaultMaxBytes,
		MinTTL:         DefaultMinTTL,
		MaxTTL:         DefaultMaxTTL,
		NegativeTTL:    DefaultNegativeTTL,
		NegativeMinTTL: DefaultNegativeMinTTL,
		ErrorTTL:       DefaultErrorTTL,
		RedisTimeout:   DefaultRedisTimeout,
		LoadTimeout:    DefaultLoadTimeout,
		BreakerTimeout: DefaultBreakerTimeout,
	}
}

// withDefaults fills zero fields and rejects settings that contradict each
// other, so a bad configuration fails at start, not on the first request.
func (c Config) withDefaults() (Config, error) {
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultKeyPrefix
	}
	if c.MaxEntries == 0 {
		c.MaxEntries = DefaultMaxEntries
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"MinTTL", &c.MinTTL, DefaultMinTTL},
		{"MaxTTL", &c.MaxTTL, DefaultMaxTTL},
		{"NegativeTTL", &c.NegativeTTL, DefaultNegativeTTL},
		{"NegativeMinTTL", &c.NegativeMinTTL, DefaultNegativeMinTTL},
		{"RedisTimeout", &c.RedisTimeout, DefaultRedisTimeout},
		{"LoadTimeout", &c.LoadTimeout, DefaultLoadTimeout},
		{"BreakerTimeout", &c.BreakerTimeout, DefaultBreakerTimeout},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return c, fmt.Errorf("cache config: %s is %v; want a positive duration or 0 for the default", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.ErrorTTL < 0 {
		return c, fmt.Errorf("cache config: ErrorTTL is %v; want a positive duration, or 0 to not cache errors", c.ErrorTTL)
	}
	c.NegativeMinTTL = min(c.NegativeMinTTL, c.NegativeTTL)
	if c.MaxEntries < 0 || c.MaxBytes < 0 {
		return c, errors.New("cache config: MaxEntries and MaxBytes must not be negative")
	}
	if c.MinTTL > c.MaxTTL {
		return c, fmt.Errorf("cache config: MinTTL %v is above MaxTTL %v", c.MinTTL, c.MaxTTL)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Status is the state of the Redis tier as /readyz reports it.
type Status string

// The Redis tier states.
const (
	// StatusDisabled: no Redis configured; the cache is in process only.
	StatusDisabled Status = "disabled"
	// StatusOK: Redis answers.
	StatusOK Status = "ok"
	// StatusDegraded: Redis failed and the circuit breaker is open or
	// probing; requests go on with the in-process tier and the source (live
	// DNS, a Memo's load function).
	StatusDegraded Status = "degraded"
)

// Stats are the cache counters as plain numbers, for tests and logs; the same
// numbers are exported to Prometheus.
type Stats struct {
	LocalHits   uint64
	LocalMisses uint64
	RedisHits   uint64
	RedisMisses uint64
	// RedisErrors counts reads (lease calls included) that failed, timed
	// out, were refused by the open breaker, or returned a value this
	// release cannot decode.
	RedisErrors uint64
	// RedisWriteErrors counts failed writes; they lose nothing but sharing.
	RedisWriteErrors uint64
	// Loads counts calls of the source: the wrapped checker (live DNS) of
	// Domains, the load function of a Memo.
	Loads uint64
	// LeaseWaits counts loads of Domains that found another instance
	// resolving the same domain (its lease in Redis) and waited for its
	// answer rather than asking DNS at once. A wait that ends with no value
	// in Redis goes on to a load of its own, counted in Loads too. A Memo
	// takes no leases; it is 0 there.
	LeaseWaits uint64
}
