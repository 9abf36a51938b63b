// Package shed bounds the work of the real-time path: validations in
// flight, and among them the domains being resolved, so that a flood of
// requests for domains that never answer cannot pile up goroutines and
// sockets until the server fails. Past a bound the request is refused at
// once (the API answers 503 overloaded with Retry-After) instead of
// waiting: a queue would only move the pile elsewhere. Validations that
// need no lookup (cached domains, phones) take no lookup slot, so they keep
// answering while lookups are saturated.
package shed

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/leadcheck/leadcheck/validate"
)

// Gate holds the two bounds. It is safe for concurrent use.
type Gate struct {
	validations *semaphore.Weighted
	lookups     *semaphore.Weighted
	// inFlight and lastEnd (nanoseconds since epoch) say whether the
	// real-time path is idle (see Idle).
	inFlight atomic.Int64
	lastEnd  atomic.Int64
}

// quiet is how long after its last request the real-time path counts as
// idle: longer than the gap between the requests of a steady stream, so
// that only a path with no traffic lends its core to bulk work.
const quiet = 50 * time.Millisecond

// epoch makes lastEnd monotonic: time.Since reads the monotonic clock.
var epoch = time.Now()

// Idle reports that no validation of the real-time path is in flight and
// none ended within the last 50 ms. Bulk jobs use the core kept for the
// real-time path only while it is idle.
func (g *Gate) Idle() bool {
	if g.inFlight.Load() != 0 {
		return false
	}
	last := g.lastEnd.Load()
	return last == 0 || time.Since(epoch)-time.Duration(last) > quiet
}

// New returns a gate for at most maxValidations validations and
// maxLookups domain resolutions of the real-time path at once.
func New(maxValidations, maxLookups int) *Gate {
	return &Gate{
		validations: semaphore.NewWeighted(int64(max(maxValidations, 1))),
		lookups:     semaphore.NewWeighted(int64(max(maxLookups, 1))),
	}
}

// request marks a context as one real-time request's, and records whether
// one of its lookups was refused.
type request struct{ refused atomic.Bool }

type requestKey struct{}

// Enter takes a validation slot. When it succeeds, run the validation with
// the returned context (its lookups are gated) and call release after;
// when it fails, refuse the request.
func (g *Gate) Enter(ctx context.Context) (context.Context, func(), bool) {
	if g == nil {
		return ctx, func() {}, true
	}
	if !g.validations.TryAcquire(1) {
		return ctx, nil, false
	}
	g.inFlight.Add(1)
	return context.WithValue(ctx, requestKey{}, &request{}), func() {
		g.lastEnd.Store(int64(time.Since(epoch)))
		g.inFlight.Add(-1)
		g.validations.Release(1)
	}, true
}

// Refused reports whether a lookup of the request of ctx was refused, so
// that its result (a DNS error) is not an honest verdict: answer 503.
func Refused(ctx context.Context) bool {
	r, _ := ctx.Value(requestKey{}).(*request)
	return r != nil && r.refused.Load()
}

// Checker gates next, the resolving checker below the cache: lookups of
// real-time requests (contexts from Enter) take a lookup slot or are
// refused; everything else (bulk jobs, which bound their own work) passes.
func (g *Gate) Checker(next validate.DomainChecker) validate.DomainChecker {
	if g == nil {
		return next
	}
	return checker{g: g, next: next}
}

type checker struct {
	g    *Gate
	next validate.DomainChecker
}

var _ validate.DomainChecker = checker{}

// CheckDomain runs a lookup or refuses it. A refusal is a DNS error
// ("unknown", never "invalid"); the request that met it is answered 503.
func (c checker) CheckDomain(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool) {
	r, _ := ctx.Value(requestKey{}).(*request)
	if r == nil {
		return c.next.CheckDomain(ctx, asciiDomain)
	}
	if !c.g.lookups.TryAcquire(1) {
		r.refused.Store(true)
		return validate.DomainFacts{Status: validate.DNSError, Error: "MX: not asked, the server is overloaded"}, false
	}
	defer c.g.lookups.Release(1)
	return c.next.CheckDomain(ctx, asciiDomain)
}
