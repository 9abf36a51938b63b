package bulk

import (
	"context"
	"strings"
	"time"

	"github.com/leadcheck/leadcheck/validate"
)

// domainRechecker is a DomainChecker that can be told to look a domain up
// afresh, past a failure it remembers (cache.Domains does). Without it a
// retry calls CheckDomain again.
type domainRechecker interface {
	RecheckDomain(ctx context.Context, asciiDomain string) (validate.DomainFacts, bool)
}

// dnsRetry is how a job asks again about a domain whose lookup failed:
// after backoff, then twice that, and so on up to maxBackoff, for as long
// as budget allows from the first failure. A retry starts only while the
// budget lasts, so a failing domain holds its rows (and, results being in
// input order, the output after them) back by at most budget plus one
// lookup.
type dnsRetry struct {
	budget     time.Duration // 0: no retries
	backoff    time.Duration
	maxBackoff time.Duration
	now        func() time.Time
}

// lookup asks next about domain, and again while the answer is a failure
// worth retrying and the budget lasts. recheck says the domain failed
// before (a remembered failure ran out), so even the first ask must go
// past what next remembers.
func (r dnsRetry) lookup(ctx context.Context, next validate.DomainChecker, domain string, recheck bool) (validate.DomainFacts, bool) {
	ask := func() (validate.DomainFacts, bool) {
		if rc, ok := next.(domainRechecker); ok && recheck {
			return rc.RecheckDomain(ctx, domain)
		}
		return next.CheckDomain(ctx, domain)
	}
	f, cached := ask()
	if !retryable(f) || r.budget <= 0 {
		return f, cached
	}
	giveUp := r.now().Add(r.budget)
	wait := r.backoff
	recheck = true
	for ctx.Err() == nil {
		left := giveUp.Sub(r.now())
		if left <= 0 {
			break
		}
		t := time.NewTimer(min(wait, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return f, cached
		case <-t.C:
		}
		if f, cached = ask(); !retryable(f) {
			return f, cached
		}
		wait = min(2*wait, r.maxBackoff)
	}
	return f, cached
}

// retryable reports facts that another ask may improve: a failed lookup,
// except for a name no DNS question can carry.
func retryable(f validate.DomainFacts) bool {
	return f.Status == validate.DNSError && !strings.Contains(f.Error, "invalid name")
}

// DefaultDNSRetryBudget is Config.DNSRetryBudget's default.
const DefaultDNSRetryBudget = 15 * time.Second

// dnsRetryMaxBackoff caps the wait between two asks.
const dnsRetryMaxBackoff = 5 * time.Second

// dnsRetry is the retry policy of the service's jobs.
func (s *Service) dnsRetry() dnsRetry {
	return dnsRetry{
		budget:     max(s.cfg.DNSRetryBudget, 0),
		backoff:    s.cfg.DNSRetryBackoff,
		maxBackoff: max(dnsRetryMaxBackoff, s.cfg.DNSRetryBackoff),
		now:        s.cfg.Now,
	}
}
