package bulk

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/leadcheck/leadcheck/validate"
)

// domainMemo remembers the DNS facts of every domain a job has met, so
// each distinct domain is asked of the shared cache (and DNS) once per job
// however many rows share it, and every row of a domain gets the same
// answer. Concurrent first asks share one lookup. Failures are remembered
// too: retrying a dead domain for each of its rows would cost a timeout per
// row. Past max domains it stops remembering new ones and passes them
// through (the shared cache still coalesces), so memory stays bounded.
type domainMemo struct {
	next  validate.DomainChecker
	max   int
	mu    sync.RWMutex
	facts map[string]validate.DomainFacts
	group singleflight.Group
}

var _ validate.DomainChecker = (*domainMemo)(nil)

func newDomainMemo(next validate.DomainChecker, max int) *domainMemo {
	return &domainMemo{next: next, max: max, facts: map[string]validate.DomainFacts{}}
}

// memoLoad is what one shared lookup gives every waiter.
type memoLoad struct {
	facts  validate.DomainFacts
	cached bool
}

// CheckDomain implements validate.DomainChecker. The facts are shared
// between rows and must not be modified (the engine only reads them).
func (m *domainMemo) CheckDomain(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool) {
	m.mu.RLock()
	f, ok := m.facts[asciiDomain]
	m.mu.RUnlock()
	if ok {
		return f, true
	}
	v, _, _ := m.group.Do(asciiDomain, func() (any, error) {
		f, cached := m.next.CheckDomain(ctx, asciiDomain)
		// Facts cut short by the job's own end are not remembered: they
		// say nothing about the domain.
		if ctx.Err() == nil {
			m.mu.Lock()
			if len(m.facts) < m.max {
				m.facts[asciiDomain] = f
			}
			m.mu.Unlock()
		}
		return memoLoad{facts: f, cached: cached}, nil
	})
	l := v.(memoLoad)
	return l.facts, l.cached
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
