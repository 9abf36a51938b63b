package bulk

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/leadcheck/leadcheck/validate"
)

// domainMemo remembers the DNS facts of every domain a job has met, so
// each distinct domain is asked of the shared cache (and DNS) once per job
// however many rows share it, and every row of a domain gets the same
// answer. Concurrent first asks share one lookup. Past max domains it stops
// remembering new ones and passes them through (the shared cache still
// coalesces), so memory stays bounded.
//
// A lookup that failed (timeout, SERVFAIL, REFUSED, network error) is asked
// again with backoff (see dnsRetry) before any row gets it, so a transient
// failure does not become an unknown row. A failure that outlasts the
// retries is remembered for retry.budget at most, so the rows of a dead
// domain do not cost a round of retries each, and a later row asks again.
// When DNS itself seems down (outageDomains domains in a row failed for
// good, with no fresh answer between), new failures are not retried until
// a fresh answer comes: retrying every domain of a file through an outage
// would cost a whole budget per domain and change no verdict.
type domainMemo struct {
	next  validate.DomainChecker
	max   int
	retry dnsRetry
	// failedInARow counts domains that failed for good since the last
	// fresh (not cached) answer.
	failedInARow atomic.Int32
	mu           sync.RWMutex
	facts        map[string]memoEntry
	group        singleflight.Group
}

// outageDomains is how many domains in a row must fail for good, with no
// fresh answer between, before a job stops retrying: more than a few lame
// domains next to each other in a file, fewer than the domains a job's
// workers have in flight when its DNS server goes away.
const outageDomains = 8

// memoEntry is what the memo holds for a domain: the facts, and for a
// failure the time after which it is asked again (zero for good facts).
type memoEntry struct {
	facts validate.DomainFacts
	until time.Time
	fresh *atomic.Bool // see memoLoad
}

var _ validate.DomainChecker = (*domainMemo)(nil)

func newDomainMemo(next validate.DomainChecker, max int, retry dnsRetry) *domainMemo {
	return &domainMemo{next: next, max: max, retry: retry, facts: map[string]memoEntry{}}
}

// current reports whether e may be given out without asking again: good
// facts always, a failure until it runs out.
func (m *domainMemo) current(e memoEntry) bool {
	return e.until.IsZero() || m.retry.now().Before(e.until)
}

// known gives the facts the memo holds for a domain and may give out now,
// without a lookup, and their cached flag (see claim); false means
// CheckDomain would ask.
func (m *domainMemo) known(asciiDomain string) (validate.DomainFacts, bool, bool) {
	if e, _, ok := m.entry(asciiDomain); ok {
		return e.facts, claim(e.fresh), true
	}
	return validate.DomainFacts{}, false, false
}

// entry is what the memo holds for a domain: whether it holds anything,
// and whether that may be given out now (see current).
func (m *domainMemo) entry(asciiDomain string) (e memoEntry, held, current bool) {
	m.mu.RLock()
	e, held = m.facts[asciiDomain]
	m.mu.RUnlock()
	return e, held, held && m.current(e)
}

// holds reports whether known would answer for the domain, claiming
// nothing.
func (m *domainMemo) holds(asciiDomain string) bool {
	_, _, ok := m.entry(asciiDomain)
	return ok
}

// memoLoad is what one shared lookup gives every waiter. fresh is set
// when the facts came from DNS rather than the shared cache, until one row
// takes the news (see claim).
type memoLoad struct {
	facts validate.DomainFacts
	fresh *atomic.Bool
}

// claim gives a row the cached flag of its result: false for exactly one
// row per lookup that went to DNS (whichever row meets it first, whether it
// waited on the lookup or the reader's prefetch had already made it), true
// for every other.
func claim(fresh *atomic.Bool) bool {
	return fresh == nil || !fresh.Load() || !fresh.CompareAndSwap(true, false)
}

// CheckDomain implements validate.DomainChecker. The facts are shared
// between rows and must not be modified (the engine only reads them).
func (m *domainMemo) CheckDomain(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool) {
	e, held, ok := m.entry(asciiDomain)
	if ok {
		return e.facts, claim(e.fresh)
	}
	l := m.lookup(ctx, asciiDomain, held)
	return l.facts, claim(l.fresh)
}

// lookup asks about a domain the memo does not hold (or holds a failure
// of that ran out: known), sharing one lookup between concurrent askers,
// and remembers the answer.
func (m *domainMemo) lookup(ctx context.Context, asciiDomain string, known bool) memoLoad {
	v, _, _ := m.group.Do(asciiDomain, func() (any, error) {
		retry := m.retry
		if m.failedInARow.Load() >= outageDomains {
			retry.budget = 0
		}
		f, cached := retry.lookup(ctx, m.next, asciiDomain, known)
		l := memoLoad{facts: f}
		if !cached {
			l.fresh = new(atomic.Bool)
			l.fresh.Store(true)
		}
		// Facts cut short by the job's own end are not remembered: they
		// say nothing about the domain.
		if ctx.Err() == nil {
			switch {
			case retryable(f):
				m.failedInARow.Add(1)
			case !cached:
				m.failedInARow.Store(0)
			}
			e := memoEntry{facts: f, fresh: l.fresh}
			if f.Status == validate.DNSError {
				e.until = m.retry.now().Add(m.retry.budget)
			}
			m.mu.Lock()
			if _, held := m.facts[asciiDomain]; held || len(m.facts) < m.max {
				m.facts[asciiDomain] = e
			}
			m.mu.Unlock()
		}
		return l, nil
	})
	return v.(memoLoad)
}

// prefetch looks a domain up for rows still to come (see prefetcher),
// leaving the news that it went to DNS to the first row that uses it.
func (m *domainMemo) prefetch(ctx context.Context, asciiDomain string) {
	if _, held, ok := m.entry(asciiDomain); !ok {
		m.lookup(ctx, asciiDomain, held)
	}
}

// etaWindow keeps about ten seconds of (time, rows done) samples, one per
// second at most, for an ETA from the recent rate rather than the average
// since the start (which lags after a slow cold start).
type etaWindow struct {
	samples []etaSample
	start   time.Time // first sample since the last reset
}

type etaSample struct {
	at   time.Time
	done int
}

const etaSpan = 10 * time.Second

// etaWarmup is how long a run goes before it gets an ETA: the first
// seconds resolve cold domains one after another and run far slower than
// the rest, so a rate taken from them is a wild guess (104 s announced for
// an 11 s job).
const etaWarmup = 3 * time.Second

// add records progress and returns the estimated whole seconds left,
// rounded up, or nil while there is no trustworthy rate yet.
func (w *etaWindow) add(now time.Time, done, total int) *int64 {
	if len(w.samples) == 0 {
		w.start = now
	}
	if n := len(w.samples); n == 0 || now.Sub(w.samples[n-1].at) >= time.Second {
		w.samples = append(w.samples, etaSample{at: now, done: done})
	}
	for len(w.samples) > 2 && now.Sub(w.samples[1].at) >= etaSpan {
		w.samples = w.samples[1:]
	}
	first := w.samples[0]
	elapsed := now.Sub(first.at).Seconds()
	rows := done - first.done
	if now.Sub(w.start) < etaWarmup || elapsed < 0.5 || rows <= 0 {
		return nil
	}
	left := float64(max(total-done, 0)) / (float64(rows) / elapsed)
	eta := int64(left)
	if float64(eta) < left {
		eta++
	}
	return &eta
}

// reset forgets the samples (a resumed job starts a new rate).
func (w *etaWindow) reset() { w.samples = w.samples[:0] }
