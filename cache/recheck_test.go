package cache

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// TestRecheckDomainForgetsAFailure: a SERVFAIL kept for ErrorTTL is asked
// again by RecheckDomain (and then cached as good facts), while good facts
// are served from the cache without DNS.
func TestRecheckDomainForgetsAFailure(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{
		Zone:       cacheZone,
		Behaviours: map[string]dnstest.Behaviour{"cold.lc": dnstest.FailFirst(dnstest.Servfail(), 1)},
	})
	r, err := validate.NewDNSResolver([]string{s.Addr()}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_, cfg := sharedRedis(t)
	cfg.ErrorTTL = time.Hour
	d := newTestDomains(t, cfg, validate.DNSChecker{Resolver: r})
	ctx := context.Background()

	if f, _ := d.CheckDomain(ctx, "cold.lc"); f.Status != validate.DNSError {
		t.Fatalf("first lookup: got %+v, want a dns error", f)
	}
	if f, cached := d.CheckDomain(ctx, "cold.lc"); f.Status != validate.DNSError || !cached {
		t.Fatalf("second lookup: got %+v cached=%v, want the cached error", f, cached)
	}
	f, cached := d.RecheckDomain(ctx, "cold.lc")
	if f.Status != validate.DNSOK || len(f.MX) != 1 || cached {
		t.Fatalf("recheck: got %+v cached=%v, want fresh facts with one MX", f, cached)
	}
	before := s.Queries("cold.lc", dns.TypeMX)
	if f, cached := d.RecheckDomain(ctx, "cold.lc"); f.Status != validate.DNSOK || !cached {
		t.Errorf("recheck of good facts: got %+v cached=%v, want them from the cache", f, cached)
	}
	if got := s.Queries("cold.lc", dns.TypeMX); got != before {
		t.Errorf("recheck of good facts: %d new MX queries, want 0", got-before)
	}
}
