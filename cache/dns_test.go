package cache

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// cacheZone is the DNS fixture: negative answers in lc. carry
// min(3600, 30) = 30s, below the negative floor; in big. min(86400, 86400),
// above the negative cap.
const cacheZone = `
$ORIGIN lc.
$TTL 3600
@                SOA ns.lc. hostmaster.lc. 1 7200 900 1209600 30
cold             MX 10 mx.cold.lc.
cold             A  192.0.2.1
cold             TXT "v=spf1 -all"
_dmarc.cold      TXT "v=DMARC1; p=reject"
shared           MX 10 mx.shared.lc.
short         10 MX 10 mx.short.lc.
long       86400 MX 10 mx.long.lc.
nullmx     86400 MX 0 .

$ORIGIN big.
@          86400 SOA ns.big. hostmaster.big. 1 7200 900 1209600 86400
`

// startDNS runs the fixture server and returns it with an uncached checker
// that asks it.
func startDNS(t *testing.T) (*dnstest.Server, validate.DNSChecker) {
	t.Helper()
	s := dnstest.Start(t, dnstest.Config{
		Zone:       cacheZone,
		Behaviours: map[string]dnstest.Behaviour{"broken.lc": dnstest.Servfail()},
	})
	r, err := validate.NewDNSResolver([]string{s.Addr()}, 5*time.Second)
	if err != nil {
		t.Fatalf("NewDNSResolver: %v", err)
	}
	return s, validate.DNSChecker{Resolver: r}
}

// mailQuestions are the questions validate.LookupDomain asks for a domain.
func mailQuestions(domain string) []struct {
	name  string
	qtype uint16
} {
	return []struct {
		name  string
		qtype uint16
	}{
		{domain, dns.TypeMX}, {domain, dns.TypeA}, {domain, dns.TypeAAAA},
		{domain, dns.TypeTXT}, {"_dmarc." + domain, dns.TypeTXT},
	}
}

// TestDNSConcurrentColdDomainOneQueryPerType: 100 requests for one cold
// domain at once reach the DNS server as exactly one query per record type.
func TestDNSConcurrentColdDomainOneQueryPerType(t *testing.T) {
	t.Parallel()
	_, cfg := sharedRedis(t)
	s, checker := startDNS(t)
	d := newTestDomains(t, cfg, checker)

	// Hold every answer until the queries have arrived, so that the callers
	// pile up behind the one load.
	s.SetLatency(time.Hour)
	wait := callAtOnce(100, func() validate.DomainFacts {
		f, _ := d.CheckDomain(context.Background(), "cold.lc")
		return f
	})
	deadline := time.Now().Add(5 * time.Second)
	for s.TotalQueries() < len(mailQuestions("cold.lc")) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s the DNS server saw %d queries, want %d", s.TotalQueries(), len(mailQuestions("cold.lc")))
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.SetLatency(0)
	results := wait()

	for _, q := range mailQuestions("cold.lc") {
		if got := s.Queries(q.name, q.qtype); got != 1 {
			t.Errorf("queries for %s %s = %d, want 1", q.name, dns.TypeToString[q.qtype], got)
		}
	}
	if got := s.TotalQueries(); got != 5 {
		t.Errorf("total queries = %d, want 5", got)
	}
	for i, f := range results {
		if f.Status != validate.DNSOK || len(f.MX) != 1 || !f.SPF.Found || !f.DMARC.Found {
			t.Errorf("caller %d got %+v, want ok facts with one MX, SPF and DMARC", i, f)
		}
	}
}

// TestDNSSecondInstanceAsksNoDNS: two service instances share one Redis; a
// domain resolved through A is a hit on B with no DNS query.
func TestDNSSecondInstanceAsksNoDNS(t *testing.T) {
	t.Parallel()
	_, cfg := sharedRedis(t)
	s, checker := startDNS(t)
	a := newTestDomains(t, cfg, checker)
	b := newTestDomains(t, cfg, checker)
	ctx := context.Background()

	fa, cachedA := a.CheckDomain(ctx, "shared.lc")
	afterA := s.TotalQueries()
	fb, cachedB := b.CheckDomain(ctx, "shared.lc")
	if cachedA || !cachedB {
		t.Errorf("cached on A, B = %v, %v; want false, true", cachedA, cachedB)
	}
	if afterA != 5 {
		t.Errorf("queries after A = %d, want 5", afterA)
	}
	if got := s.TotalQueries(); got != afterA {
		t.Errorf("B caused %d DNS queries, want 0", got-afterA)
	}
	if fa.Status != validate.DNSOK || fb.Status != validate.DNSOK || len(fb.MX) != 1 || fb.MX[0].Host != "mx.shared.lc" {
		t.Errorf("facts on A %+v, on B %+v; want ok with MX mx.shared.lc", fa, fb)
	}
}

// TestDNSLifetimes checks the Redis lifetime of real answers (TTL clamping
// and negative caching), and that a SERVFAIL is kept only in process and
// only for ErrorTTL.
func TestDNSLifetimes(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	s, checker := startDNS(t)
	clock := newFakeClock()
	cfg.ErrorTTL, cfg.Now = 5*time.Second, clock.Now
	d := newTestDomains(t, cfg, checker)
	ctx := context.Background()

	tests := []struct {
		domain     string
		wantStatus validate.DNSStatus
		want       time.Duration // Redis lifetime; 0: not stored
	}{
		{"cold.lc", validate.DNSOK, time.Hour},                      // TTL 3600 inside the bounds
		{"short.lc", validate.DNSOK, DefaultMinTTL},                 // MX TTL 10s
		{"long.lc", validate.DNSOK, DefaultMaxTTL},                  // MX TTL 86400s
		{"missing.lc", validate.DNSNXDomain, DefaultNegativeMinTTL}, // SOA 30s
		{"missing.big", validate.DNSNXDomain, DefaultNegativeTTL},   // SOA 86400s
		{"nullmx.lc", validate.DNSOK, DefaultNegativeTTL},           // null MX, TTL 86400s
		{"broken.lc", validate.DNSError, 0},                         // SERVFAIL
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			f, _ := d.CheckDomain(ctx, tt.domain)
			if f.Status != tt.wantStatus {
				t.Fatalf("status = %q, want %q (facts %+v)", f.Status, tt.wantStatus, f)
			}
			checkRedisTTL(t, rc, cfg.KeyPrefix+"v1:dns:"+tt.domain, tt.want)
		})
	}

	// The SERVFAIL stays in process for ErrorTTL, then DNS is asked again.
	before := s.Queries("broken.lc", dns.TypeMX)
	clock.Advance(4 * time.Second)
	if _, cached := d.CheckDomain(ctx, "broken.lc"); !cached {
		t.Errorf("4s after a SERVFAIL: cached = false, want true")
	}
	if got := s.Queries("broken.lc", dns.TypeMX); got != before {
		t.Errorf("4s after a SERVFAIL: %d new MX queries, want 0", got-before)
	}
	clock.Advance(2 * time.Second)
	if _, cached := d.CheckDomain(ctx, "broken.lc"); cached {
		t.Errorf("6s after a SERVFAIL: cached = true, want false")
	}
	if got := s.Queries("broken.lc", dns.TypeMX); got <= before {
		t.Errorf("6s after a SERVFAIL: no new MX query, want DNS asked again")
	}
}

// TestDNSCallerBudgetEndsTheWait: a caller with a 300ms budget for a domain
// whose DNS never answers gets "unknown" in time, not a hang; the load it
// started goes on detached.
func TestDNSCallerBudgetEndsTheWait(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{
		Zone:       cacheZone,
		Behaviours: map[string]dnstest.Behaviour{"hang.lc": dnstest.Blackhole()},
	})
	r, err := validate.NewDNSResolver([]string{s.Addr()}, 10*time.Second)
	if err != nil {
		t.Fatalf("NewDNSResolver: %v", err)
	}
	d := newTestDomains(t, Config{ErrorTTL: 5 * time.Second}, validate.DNSChecker{Resolver: r})

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	f, cached := d.CheckDomain(ctx, "hang.lc")
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("CheckDomain with a 300ms budget took %v", el)
	}
	want := validate.DomainFacts{Status: validate.DNSError, Error: "MX: timeout"}
	if f.Status != want.Status || f.Error != want.Error || cached {
		t.Errorf("CheckDomain = (%+v, cached %v), want (status %q, error %q, cached false)", f, cached, want.Status, want.Error)
	}
	if got := d.Stats().Loads; got != 1 {
		t.Errorf("loads = %d, want 1 (started, still running)", got)
	}
}
