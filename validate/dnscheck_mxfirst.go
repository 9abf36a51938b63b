package validate

import (
	"context"
	"sync"

	"github.com/miekg/dns"
)

// addressesWhenNeededKey marks a context whose domain lookups ask A and
// AAAA only when the MX answer leaves them something to decide.
type addressesWhenNeededKey struct{}

// AddressesWhenNeeded returns ctx marked so that DNSChecker looks domains
// up MX first: MX, TXT and _dmarc TXT at once, then A and AAAA only when
// the MX answer has no mail exchanger (the implicit MX of RFC 5321 §5.1) or failed (an NXDOMAIN for A or AAAA is definite on
// its own). When MX records exist the A/AAAA answers decide nothing and
// report nothing (their TTLs do not count either), so the facts are the
// same but for HasA and HasAAAA, which nothing reads then: the result,
// verdict and score of every address are unchanged.
//
// Bulk jobs use it: most lead domains have MX records, so it saves two of
// five questions per cold domain; a domain without MX pays a second round
// trip. The sync path does not: it keeps its one round trip (B2).
func AddressesWhenNeeded(ctx context.Context) context.Context {
	return context.WithValue(ctx, addressesWhenNeededKey{}, true)
}

func addressesWhenNeeded(ctx context.Context) bool {
	on, _ := ctx.Value(addressesWhenNeededKey{}).(bool)
	return on
}

// lookupDomainMXFirst is LookupDomain asking A and AAAA only when needed
// (see AddressesWhenNeeded).
func lookupDomainMXFirst(ctx context.Context, r Resolver, domain string) DomainFacts {
	var answers [askCount]dnsAnswer
	ask := func(wg *sync.WaitGroup, i int, name string, qtype uint16) {
		wg.Go(func() {
			msg, err := r.Query(ctx, name, qtype)
			answers[i] = dnsAnswer{msg: msg, err: err}
		})
	}
	var wg sync.WaitGroup
	ask(&wg, askTXT, domain, dns.TypeTXT)
	ask(&wg, askDMARC, "_dmarc."+domain, dns.TypeTXT)
	// The MX question runs on this goroutine: one goroutine fewer per
	// domain.
	msg, err := r.Query(ctx, domain, dns.TypeMX)
	answers[askMX] = dnsAnswer{msg: msg, err: err}
	if mx := answers[askMX]; !mx.nxdomain() && (mx.failed() || noMX(mx)) {
		ask(&wg, askA, domain, dns.TypeA)
		ask(&wg, askAAAA, domain, dns.TypeAAAA)
	}
	wg.Wait()
	return domainFacts(answers)
}

// noMX reports an MX answer with no mail exchanger, not even a null MX:
// the domain's own addresses decide.
func noMX(a dnsAnswer) bool {
	hosts, _ := readMX(a)
	return len(hosts) == 0
}
