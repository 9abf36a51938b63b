// Package limits enforces the request rates and daily quotas of API keys.
//
// With Redis, rates are GCRA (github.com/go-redis/redis_rate, run in Redis
// with Redis' clock) and quotas are counters per UTC day, so every instance
// shares one budget. Without Redis, and while Redis cannot be reached,
// the same limits hold in process (golang.org/x/time/rate and a counter):
// a dead Redis loosens a limit to one budget per instance, it never lifts
// it, and it never fails a request.
package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"

	"github.com/leadcheck/leadcheck/internal/keys"
)

// Config builds a Limiter. Zero values get the defaults in the field docs.
type Config struct {
	// Redis holds the shared limits; nil keeps them in process.
	Redis *redis.Client
	// Prefix starts every Redis key, so deployments can share a Redis.
	// Default "leadcheck:".
	Prefix string
	// Timeout bounds one Redis call; past it the request is judged in
	// process. Default 250ms.
	Timeout time.Duration
	// MaxLocalBuckets bounds the in-process rate buckets (one per key, or
	// per key and client IP); the least recently used go first. Default
	// 100,000.
	MaxLocalBuckets int
	// Now is the clock of quotas (the UTC day). Default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Limiter is safe for concurrent use.
type Limiter struct {
	cfg     Config
	gcra    *redis_rate.Limiter // nil without Redis
	breaker *gobreaker.CircuitBreaker[any]
	local   *otter.Cache[string, *rate.Limiter]

	mu     sync.Mutex
	counts map[string]int64 // quota counters kept in process: "<day>\x00<counter>"
	day    string
}

// New builds a Limiter. It does not contact Redis.
func New(cfg Config) *Limiter {
	if cfg.Prefix == "" {
		cfg.Prefix = "leadcheck:"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 250 * time.Millisecond
	}
	if cfg.MaxLocalBuckets <= 0 {
		cfg.MaxLocalBuckets = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{
		cfg: cfg,
		local: otter.Must(&otter.Options[string, *rate.Limiter]{
			MaximumSize:      cfg.MaxLocalBuckets,
			ExpiryCalculator: otter.ExpiryAccessing[string, *rate.Limiter](2 * time.Hour),
		}),
		counts: map[string]int64{},
	}
	if cfg.Redis != nil {
		l.gcra = redis_rate.NewLimiter(cfg.Redis)
		// While Redis fails, stop asking it for a second at a time: each
		// failed call would otherwise cost up to Timeout per request.
		l.breaker = gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
			Name:        "limits-redis",
			MaxRequests: 1,
			Timeout:     time.Second,
			ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 3 },
			// A caller that went away says nothing about Redis.
			IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
			OnStateChange: func(_ string, from, to gobreaker.State) {
				l.cfg.Logger.Warn("limits: redis state changed; limits are kept in process while it is open", "from", from.String(), "to", to.String())
			},
		})
	}
	return l
}

// Decision is the answer to one request under a rate.
type Decision struct {
	Allowed bool
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is when the next request will be allowed (refusals only).
	RetryAfter time.Duration
	// ResetAfter is when the bucket is full again.
	ResetAfter time.Duration
	// Shared is false when the decision was made in process.
	Shared bool
}

// Allow takes one request from bucket under r and burst.
func (l *Limiter) Allow(ctx context.Context, bucket string, r keys.Rate, burst int) Decision {
	if r.IsZero() {
		return Decision{Allowed: true, Remaining: math.MaxInt32}
	}
	burst = max(burst, 1)
	if l.gcra != nil {
		res, err := l.redisCall(ctx, func(ctx context.Context) (any, error) {
			return l.gcra.Allow(ctx, l.cfg.Prefix+bucket, redis_rate.Limit{Rate: r.N, Burst: burst, Period: r.Per})
		})
		if err == nil {
			rr := res.(*redis_rate.Result)
			return Decision{Allowed: rr.Allowed > 0, Remaining: rr.Remaining, RetryAfter: max(rr.RetryAfter, 0), ResetAfter: max(rr.ResetAfter, 0), Shared: true}
		}
	}
	return l.allowLocal(bucket, r, burst)
}

func (l *Limiter) allowLocal(bucket string, r keys.Rate, burst int) Decision {
	every := rate.Every(r.Per / time.Duration(r.N))
	// A bucket's rate and burst are those of its key, fixed at start.
	lim, _ := l.local.Get(context.Background(), bucket,
		otter.LoaderFunc[string, *rate.Limiter](func(context.Context, string) (*rate.Limiter, error) {
			return rate.NewLimiter(every, burst), nil
		}))
	now := time.Now()
	res := lim.ReserveN(now, 1)
	if delay := res.DelayFrom(now); delay > 0 {
		res.CancelAt(now)
		return Decision{Allowed: false, RetryAfter: delay, ResetAfter: fullAfter(lim, now, burst)}
	}
	tokens := lim.TokensAt(now)
	return Decision{Allowed: true, Remaining: max(int(tokens), 0), ResetAfter: fullAfter(lim, now, burst)}
}

// fullAfter is how long until lim holds burst tokens again.
func fullAfter(lim *rate.Limiter, now time.Time, burst int) time.Duration {
	missing := float64(burst) - lim.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(lim.Limit()) * float64(time.Second))
}

// redisCall runs f with a deadline behind the breaker.
func (l *Limiter) redisCall(ctx context.Context, f func(context.Context) (any, error)) (any, error) {
	return l.breaker.Execute(func() (any, error) {
		ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
		defer cancel()
		return f(ctx)
	})
}

// Quota is a daily budget of one counter.
type Quota struct {
	// Counter names what is counted, e.g. "quota:<key name>".
	Counter string
	// Limit is the most per UTC day; 0 counts without a limit.
	Limit int64
}

// Spend is the answer to a request to spend from quotas.
type Spend struct {
	Allowed bool
	// Used is what each counter holds after the request (before it, when
	// refused).
	Used []int64
	// Refused is the index of the quota that refused, or -1.
	Refused int
	// ResetAt is the next UTC midnight, when every counter starts again.
	ResetAt time.Time
}

// spendScript adds ARGV[1] to every counter in KEYS unless one would pass
// its limit (ARGV[2+i], 0 for none); ARGV[last] is the counters' TTL. It
// answers {allowed, index of the refusing counter or -1, used...}.
const spendScript = `
local n = tonumber(ARGV[1])
local used = {}
for i, k in ipairs(KEYS) do
  used[i] = tonumber(redis.call('GET', k) or '0')
  local limit = tonumber(ARGV[1 + i])
  if limit > 0 and used[i] + n > limit then
    local out = {0, i - 1}
    for j, k2 in ipairs(KEYS) do out[2 + j] = tonumber(redis.call('GET', k2) or '0') end
    return out
  end
end
local out = {1, -1}
local ttl = tonumber(ARGV[#ARGV])
for i, k in ipairs(KEYS) do
  if n > 0 then
    out[2 + i] = redis.call('INCRBY', k, n)
    redis.call('EXPIRE', k, ttl)
  else
    out[2 + i] = used[i]
  end
end
return out
`

var spend = redis.NewScript(spendScript)

// Spend adds n to every quota's counter for today (UTC) if none would pass
// its limit, all or nothing. n = 0 only reads.
func (l *Limiter) Spend(ctx context.Context, n int64, quotas ...Quota) Spend {
	now := l.cfg.Now().UTC()
	day := now.Format(time.DateOnly)
	y, m, d := now.Date()
	out := Spend{ResetAt: time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC), Refused: -1}
	if l.cfg.Redis != nil {
		keys := make([]string, len(quotas))
		args := []any{n}
		for i, q := range quotas {
			keys[i] = l.cfg.Prefix + q.Counter + ":" + day
			args = append(args, q.Limit)
		}
		// Counters outlive their day by a day, for clocks a little apart.
		args = append(args, int64(48*time.Hour/time.Second))
		res, err := l.redisCall(ctx, func(ctx context.Context) (any, error) {
			return spend.Run(ctx, l.cfg.Redis, keys, args...).Int64Slice()
		})
		if err == nil {
			vals := res.([]int64)
			if len(vals) == 2+len(quotas) {
				out.Allowed, out.Refused, out.Used = vals[0] == 1, int(vals[1]), vals[2:]
				return out
			}
		}
	}
	return l.spendLocal(day, n, quotas, out)
}

func (l *Limiter) spendLocal(day string, n int64, quotas []Quota, out Spend) Spend {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.day != day {
		// A new day: yesterday's counters go, so the map holds one day.
		l.day, l.counts = day, map[string]int64{}
	}
	out.Used = make([]int64, len(quotas))
	for i, q := range quotas {
		out.Used[i] = l.counts[q.Counter]
		if q.Limit > 0 && out.Used[i]+n > q.Limit {
			out.Refused = i
		}
	}
	if out.Refused >= 0 {
		return out
	}
	out.Allowed = true
	for i, q := range quotas {
		l.counts[q.Counter] += n
		out.Used[i] = l.counts[q.Counter]
	}
	return out
}

// ErrUnreachable is what Ping reports when Redis does not answer.
var ErrUnreachable = errors.New("limits: redis unreachable")

// Ping checks Redis, for start-up logs; the Limiter works without it.
func (l *Limiter) Ping(ctx context.Context) error {
	if l.cfg.Redis == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	if err := l.cfg.Redis.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return nil
}
