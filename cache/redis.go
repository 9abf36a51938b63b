package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/sony/gobreaker/v2"
)

// redisPoolSize keeps the connection pool small: every command is a single
// short GET or SET, and a big pool only multiplies dials against a Redis that
// is down. A cold bulk job keeps 64 lookups in flight, each a few round
// trips: at 16 a quarter of them waited for a connection.
const redisPoolSize = 32

// breakerTripFailures is how many Redis failures in a row open the breaker.
// With connection refused they cost nothing; with a black-holed Redis each
// costs RedisTimeout, so a few is the most a dead Redis adds before calls
// stop reaching it.
const breakerTripFailures = 3

// Redis is the shared tier: one Redis connection pool behind one circuit
// breaker. Every cache builds its own from Config.RedisURL unless
// Config.Redis hands it one, so a process holding several caches (DNS facts,
// site facts) can keep one pool and one view of Redis' health: one outage
// trips one breaker, and /readyz reads one state. A failure of any kind is
// reported to the caller, who falls back; nothing here fails a request. It
// is safe for concurrent use.
type Redis struct {
	client  *redis.Client
	breaker *gobreaker.CircuitBreaker[struct{}]
	timeout time.Duration

	closeOnce sync.Once
	closeErr  error
}

// NewRedis returns a client for cfg.RedisURL, tuned by cfg.RedisTimeout,
// cfg.BreakerTimeout and cfg.Logger, to put in Config.Redis of every cache
// that should share it. Like the caches, it does not contact Redis, so a
// Redis that is down at start only degrades the caches; an empty or
// malformed URL is an error. The caller closes it, after the caches that
// use it.
func NewRedis(cfg Config) (*Redis, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("new redis: %w", err)
	}
	if cfg.RedisURL == "" {
		return nil, errors.New("new redis: RedisURL is empty")
	}
	r, err := newRedis(cfg)
	if err != nil {
		return nil, fmt.Errorf("new redis: %w", err)
	}
	return r, nil
}

// newRedis builds the tier from a configuration withDefaults has filled.
func newRedis(cfg Config) (*Redis, error) {
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	// go-redis dials lazily and, after a run of dial errors, probes in the
	// background until Redis is back: that is how the cache reconnects by
	// itself. The settings below keep each attempt short and never retry
	// within a call, because the caller has the source to fall back on.
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
	return &Redis{
		client:  redis.NewClient(opt),
		breaker: gobreaker.NewCircuitBreaker[struct{}](st),
		timeout: cfg.RedisTimeout,
	}, nil
}

// errMiss reports a key that Redis does not hold.
var errMiss = errors.New("not in redis")

// get reads a value and its remaining lifetime in one round trip. The
// remaining lifetime comes from Redis' clock (PTTL), so instances need not
// agree on the time; it is 0 when Redis does not know it. It returns errMiss
// for an absent key.
func (r *Redis) get(ctx context.Context, key string) ([]byte, time.Duration, error) {
	var (
		val  *redis.StringCmd
		pttl *redis.DurationCmd
	)
	_, err := r.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			val = p.Get(ctx, key)
			pttl = p.PTTL(ctx, key)
			return nil
		})
		return struct{}{}, err
	})
	switch {
	case errors.Is(err, redis.Nil):
		return nil, 0, errMiss
	case err != nil:
		return nil, 0, fmt.Errorf("redis get: %w", err)
	}
	b, err := val.Bytes()
	if err != nil {
		return nil, 0, fmt.Errorf("redis get: %w", err)
	}
	// PTTL is -1 for a key without expiry and -2 for one that vanished
	// between the two commands; 0 lets the caller apply its own policy.
	return b, max(pttl.Val(), 0), nil
}

// set stores a value for ttl.
func (r *Redis) set(ctx context.Context, key string, b []byte, ttl time.Duration) error {
	_, err := r.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		return struct{}{}, r.client.Set(ctx, key, b, ttl).Err()
	})
	if err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// Status reports Redis for /readyz: anything but a closed breaker means
// Redis is not (yet) trusted again. It changes on traffic: after a failure,
// it stays degraded until a request has probed Redis successfully.
func (r *Redis) Status() Status {
	if r.breaker.State() == gobreaker.StateClosed {
		return StatusOK
	}
	return StatusDegraded
}

// Close closes the connection pool. Close the caches that use r first:
// later calls of theirs fail over to their other tiers. Close is idempotent.
func (r *Redis) Close() error {
	r.closeOnce.Do(func() {
		if err := r.client.Close(); err != nil {
			r.closeErr = fmt.Errorf("close redis: %w", err)
		}
	})
	return r.closeErr
}

// leaseView is what one round trip learnt about a key and the lease on its
// load.
type leaseView struct {
	// found reports that key holds value, with remaining of its lifetime
	// as get reports it.
	found     bool
	value     []byte
	remaining time.Duration
	// won reports that claim took the lease; held that someone else holds
	// it.
	won, held bool
}

// claim tries to take the lease on loading key (SET lease owner NX with
// expiry ttl) and then, in the same round trip, reads key as get does. A
// pipeline runs its commands in order, so a value the previous holder
// stored before it let go is seen even when claim won: the caller then
// uses it and releases the lease at once.
func (r *Redis) claim(ctx context.Context, key, lease, owner string, ttl time.Duration) (leaseView, error) {
	var (
		took *redis.BoolCmd
		val  *redis.StringCmd
		pttl *redis.DurationCmd
	)
	err := r.pipeline(ctx, func(p redis.Pipeliner) {
		took = p.SetNX(ctx, lease, owner, ttl)
		val = p.Get(ctx, key)
		pttl = p.PTTL(ctx, key)
	})
	if err != nil {
		return leaseView{}, fmt.Errorf("redis claim: %w", err)
	}
	v := viewOf(val, pttl)
	v.won = took.Val()
	v.held = !v.won
	return v, nil
}

// watch reports whether lease is still held and then reads key, in one
// round trip and in that order: the holder stores the value before it
// releases the lease, so a lease seen gone with no value means none is
// coming.
func (r *Redis) watch(ctx context.Context, key, lease string) (leaseView, error) {
	var (
		exists *redis.IntCmd
		val    *redis.StringCmd
		pttl   *redis.DurationCmd
	)
	err := r.pipeline(ctx, func(p redis.Pipeliner) {
		exists = p.Exists(ctx, lease)
		val = p.Get(ctx, key)
		pttl = p.PTTL(ctx, key)
	})
	if err != nil {
		return leaseView{}, fmt.Errorf("redis watch: %w", err)
	}
	v := viewOf(val, pttl)
	v.held = exists.Val() > 0
	return v, nil
}

// releaseScript deletes a lease only while it still holds the owner's
// token: a load that outlived its lease must not end the lease another
// instance has taken since.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// release gives up owner's lease, if it still holds it.
func (r *Redis) release(ctx context.Context, lease, owner string) error {
	_, err := r.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		return struct{}{}, releaseScript.Run(ctx, r.client, []string{lease}, owner).Err()
	})
	if err != nil {
		return fmt.Errorf("redis release: %w", err)
	}
	return nil
}

// setAndRelease stores a loaded value and releases the load's lease on it
// in one round trip: the value first, so a waiter never finds the lease
// gone before the value is there.
func (r *Redis) setAndRelease(ctx context.Context, key string, b []byte, ttl time.Duration, lease, owner string) error {
	err := r.pipeline(ctx, func(p redis.Pipeliner) {
		p.Set(ctx, key, b, ttl)
		releaseScript.Eval(ctx, p, []string{lease}, owner)
	})
	if err != nil {
		return fmt.Errorf("redis set and release: %w", err)
	}
	return nil
}

// pipeline runs cmds in one round trip behind the breaker. An absent key
// (redis.Nil) is an answer; any other error of any command is the error.
func (r *Redis) pipeline(ctx context.Context, cmds func(redis.Pipeliner)) error {
	_, err := r.breaker.Execute(func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(ctx, r.timeout)
		defer cancel()
		done, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			cmds(p)
			return nil
		})
		for _, c := range done {
			if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
				return struct{}{}, err
			}
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			return struct{}{}, err
		}
		return struct{}{}, nil
	})
	return err
}

// viewOf reads the GET and PTTL of a pipeline as get does: not found for
// an absent key, 0 for a lifetime Redis does not know.
func viewOf(val *redis.StringCmd, pttl *redis.DurationCmd) leaseView {
	b, err := val.Bytes()
	if err != nil {
		return leaseView{}
	}
	return leaseView{found: true, value: b, remaining: max(pttl.Val(), 0)}
}
