package validate

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// TestLookupDomainMXFirst: under AddressesWhenNeeded every domain of the
// LookupDomain fixture gets the same facts (HasA and HasAAAA aside when MX
// records exist, where nothing reads them) and the same verdict and score,
// and A/AAAA are asked only for domains without MX records or whose MX
// lookup failed.
func TestLookupDomainMXFirst(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{Zone: dnscheckZone, Behaviours: dnscheckBehaviours})
	r, err := NewDNSResolver([]string{s.Addr()}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lists := loadTestLists(t)
	lazyCtx := AddressesWhenNeeded(t.Context())
	for _, domain := range []string{
		"several.test", "nullmx.test", "nullmix.test", "implicit-a.test", "implicit-aaaa.test", "nomail.test",
		"alias.test", "mx-afail.test", "afail.test", "afail-aaaa.test", "spf-one.test", "dmarc-reject.test",
		"missing.test", "servfail.test", "refused.test", "mxfail-nx.test", "txt-fail.test",
	} {
		t.Run(domain, func(t *testing.T) {
			want := LookupDomain(t.Context(), r, domain)
			before := s.Queries(domain, dns.TypeA) + s.Queries(domain, dns.TypeAAAA)
			got := LookupDomain(lazyCtx, r, domain)
			askedAddrs := s.Queries(domain, dns.TypeA)+s.Queries(domain, dns.TypeAAAA) > before
			hasMX := want.Status == DNSOK && len(want.MX) > 0
			if hasMX {
				want.HasA, want.HasAAAA = false, false
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("facts (-all five questions +MX first):\n%s", diff)
			}
			msg, err := r.Query(t.Context(), domain, dns.TypeMX)
			mxNX := err == nil && msg.Rcode == dns.RcodeNameError
			if wantAsked := !hasMX && !mxNX; askedAddrs != wantAsked {
				t.Errorf("asked A/AAAA: got %v, want %v (MX records: %v, MX NXDOMAIN: %v)", askedAddrs, wantAsked, hasMX, mxNX)
			}
			// The verdict and score of an address there do not change.
			e1 := NewEngine(lists, DNSChecker{Resolver: r})
			full, err1 := e1.Validate(t.Context(), Request{Email: "jane@" + domain})
			lazy, err2 := e1.Validate(lazyCtx, Request{Email: "jane@" + domain})
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if diff := cmp.Diff(full, lazy); diff != "" {
				t.Errorf("validation (-all five +MX first):\n%s", diff)
			}
		})
	}
}
