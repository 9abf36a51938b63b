package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sony/gobreaker/v2"

	"github.com/leadcheck/leadcheck/validate"
)

// redisPoolSize keeps the connection pool small: every command is a single
// short GET or SET, and a big pool only multiplies dials against a Redis that
// is down.
const redisPoolSize = 16

// breakerTripFailures is how many Redis failures in a row open the breaker.
// With connection refused they cost nothing; with a black-holed Redis each
// costs RedisTimeout, so a few is the most a dead Redis adds before calls
// stop reaching it.
const breakerTripFailures = 3

// sharedTier is the Redis tier: a client behind a circuit breaker. A failure
// of any kind is reported to the caller, who falls back; nothing here fails a
// request.
type sharedTier struct {
	client  *redis.Client
	breaker *gobreaker.CircuitBreaker[struct{}]
	timeout time.Duration
}

func newSharedTier(cfg Config) (*sharedTier, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// go-redis dials lazily and, after a run of dial errors, probes in the
	// background until Redis is back: that is how the cache reconnects by
	// itself. The settings below keep each attempt short and never retry
	// within a call, because the caller has live DNS to fall back on.
	opt.DialTimeout = max(cfg.RedisTimeout, 100*time.Millisecond)
	opt.DialerRetries = 1
	opt.ReadTimeout = cfg.RedisTimeout
	opt.WriteTimeout = cfg.RedisTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = -1
	opt.PoolSize = redisPoolSize
	opt.PoolTimeout = cfg.RedisTimeout
	// No CLIENT SETINFO or maintenance handshakes: fewer round trips per new
	// connection, and nothing that older servers reject.
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}

	log := cfg.Logger
	st := gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1,
		Timeout:     cfg.BreakerTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= breakerTripFailures },
		// A missing key is a healthy answer.
		IsSuccessful: func(err error) bool { return err == nil || errors.Is(err, redis.Nil) },
		// Cancellation comes from Close, not from Redis.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			switch to {
			case gobreaker.StateClosed:
				log.Info("cache: redis answers again; using it", "from", from.String())
			case gobreaker.StateHalfOpen:
				log.Info("cache: probing redis", "from", from.String())
			default:
				log.Warn("cache: redis is failing; going on without it", "from", from.String(),
					"retry_in", cfg.BreakerTimeout.String())
			}
		},
	}
	return &sharedTier{
		client:  redis.NewClient(opt),
		breaker: gobreaker.NewCircuitBreaker[struct{}](st),
		timeout: cfg.RedisTimeout,
	}, nil
}

// errMiss reports a key that Redis does not hold.
var errMiss = errors.New("not in redis")

// get reads facts and their remaining lifetime in one round trip. The
// remaining lifetime comes from Redis' clock (PTTL), so instances need not
// agree on the time. It returns errMiss for an absent key.
func (s *sharedTier) get(ctx context.Context, key string) (validate.DomainFacts, time.Duration, error) {
	var (
		val  *redis.StringCmd
		pttl *redis.DurationCmd
	)
	_, err := s.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		_, err := s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			val = p.Get(ctx, key)
			pttl = p.PTTL(ctx, key)
			return nil
		})
		return struct{}{}, err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return validate.DomainFacts{}, 0, errMiss
	case err != nil:
		return validate.DomainFacts{}, 0, fmt.Errorf("redis get: %w", err)
	}
	b, err := val.Bytes()
	if err != nil {
		return validate.DomainFacts{}, 0, fmt.Errorf("redis get: %w", err)
	}
	f, err := decodeFacts(b)
	if err != nil {
		return validate.DomainFacts{}, 0, fmt.Errorf("redis get %s: %w", key, err)
	}
	// PTTL is -1 for a key without expiry and -2 for one that vanished
	// between the two commands; 0 lets the caller apply its own policy.
	return f, max(pttl.Val(), 0), nil
}

// set stores facts for ttl.
func (s *sharedTier) set(ctx context.Context, key string, f validate.DomainFacts, ttl time.Duration) error {
	b, err := encodeFacts(f)
	if err != nil {
		return err
	}
	_, err = s.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		return struct{}{}, s.client.Set(ctx, key, b, ttl).Err()
	})
	if err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// status maps the breaker state: anything but closed means Redis is not
// (yet) trusted again.
func (s *sharedTier) status() Status {
	if s.breaker.State() == gobreaker.StateClosed {
		return StatusOK
	}
	return StatusDegraded
}

func (s *sharedTier) close() error {
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("close redis: %w", err)
	}
	return nil
}
