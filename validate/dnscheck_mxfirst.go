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
	if br, ok := r.(BatchResolver); ok {
		return lookupDomainMXFirstBatch(ctx, br, domain)
	}
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

// lookupDomainMXFirstBatch is lookupDomainMXFirst over a BatchResolver:
// MX, TXT and _dmarc TXT in one batch, then A and AAAA in another when
// needed, all on the calling goroutine.
func lookupDomainMXFirstBatch(ctx context.Context, r BatchResolver, domain string) DomainFacts {
	var answers [askCount]dnsAnswer
	var out [3]Answer
	r.QueryBatch(ctx, []Question{{domain, dns.TypeMX}, {domain, dns.TypeTXT}, {"_dmarc." + domain, dns.TypeTXT}}, out[:3])
	answers[askMX] = dnsAnswer{msg: out[0].Msg, err: out[0].Err}
	answers[askTXT] = dnsAnswer{msg: out[1].Msg, err: out[1].Err}
	answers[askDMARC] = dnsAnswer{msg: out[2].Msg, err: out[2].Err}
	if mx := answers[askMX]; !mx.nxdomain() && (mx.failed() || noMX(mx)) {
		r.QueryBatch(ctx, []Question{{domain, dns.TypeA}, {domain, dns.TypeAAAA}}, out[:2])
		answers[askA] = dnsAnswer{msg: out[0].Msg, err: out[0].Err}
		answers[askAAAA] = dnsAnswer{msg: out[1].Msg, err: out[1].Err}
	}
	return domainFacts(answers)
}
