package validate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// dnscheckZone is the fixture for LookupDomain: one domain per outcome.
// Negative answers in test. carry min(3600, 300) = 300s; in example.
// min(60, 600) = 60s.
const dnscheckZone = `
$ORIGIN test.
$TTL 3600
@                SOA ns.test. hostmaster.test. 1 7200 900 1209600 300

; several MX, out of order and mixed case; the A record must not shorten
; the TTL because MX exist.
several      600 MX 20 mx2.several.test.
several      300 MX 10 MX1.Several.Test.
several      900 MX 10 a.several.test.
several       60 A  192.0.2.1

nullmx           MX 0 .
nullmx           A  192.0.2.2
nullmix          MX 0 .
nullmix          MX 10 mx.nullmix.test.

implicit-a   120 A  192.0.2.5
implicit-aaaa 90 AAAA 2001:db8::5
nomail           TXT "just a note"

alias        120 CNAME target.test.
target       600 MX 5 mx.target.test.

; MX fine, only the A lookup breaks (behaviour below).
mx-afail         MX 10 mx.mx-afail.test.
afail            TXT "exists, without MX or addresses"
afail-aaaa       AAAA 2001:db8::6

spf-none         MX 10 mx.spf-none.test.
spf-none         TXT "google-site-verification=abc123"
spf-one          MX 10 mx.spf-one.test.
spf-one          TXT "v=spf1 include:_spf.example.com -all"
spf-one          TXT "unrelated=1"
spf-two          MX 10 mx.spf-two.test.
spf-two          TXT "v=spf1 -all"
spf-two          TXT "v=spf1 ~all"
spf-split        MX 10 mx.spf-split.test.
spf-split        TXT "v=spf1 ip4:192.0.2.0/24 " "ip4:198.51.100.0/24 ~all"
spf10            MX 10 mx.spf10.test.
spf10            TXT "v=spf10 -all"
spf-neutral      MX 10 mx.spf-neutral.test.
spf-neutral      TXT "v=spf1 a mx ?all"
spf-bare-all     MX 10 mx.spf-bare-all.test.
spf-bare-all     TXT "v=spf1 all"
spf-redirect     MX 10 mx.spf-redirect.test.
spf-redirect     TXT "v=spf1 redirect=_spf.example.com"
spf-ttl      600 MX 10 mx.spf-ttl.test.
spf-ttl       30 TXT "v=spf1 -all"

dmarc-reject     MX 10 mx.dmarc-reject.test.
_dmarc.dmarc-reject TXT "v=DMARC1; p=reject; rua=mailto:d@dmarc-reject.test"
dmarc-two        MX 10 mx.dmarc-two.test.
_dmarc.dmarc-two TXT "v=DMARC1; p=reject"
_dmarc.dmarc-two TXT "v=DMARC1; p=none"
dmarc-notfirst   MX 10 mx.dmarc-notfirst.test.
_dmarc.dmarc-notfirst TXT "p=reject; v=DMARC1"
dmarc-mixed      MX 10 mx.dmarc-mixed.test.
_dmarc.dmarc-mixed TXT "some other record"
_dmarc.dmarc-mixed TXT "v=DMARC1;p=Quarantine"
dmarc-fail       MX 10 mx.dmarc-fail.test.
dmarc-tab        MX 10 mx.dmarc-tab.test.
_dmarc.dmarc-tab TXT "v=DMARC1;\009p=reject"
spf-quote        MX 10 mx.spf-quote.test.
spf-quote        TXT "v=spf1 exp=\"x\\y\" -all"
txt-fail         MX 10 mx.txt-fail.test.
txt-fail         TXT "v=spf1 -all"

$ORIGIN example.
@             60 SOA ns.example. hostmaster.example. 1 7200 900 1209600 600
`

// dnscheckBehaviours are the failures of the fixture.
var dnscheckBehaviours = map[string]dnstest.Behaviour{
	"servfail.test":          dnstest.Servfail(),
	"refused.test":           dnstest.Refused(),
	"txt-fail.test":          {Rcode: dns.RcodeServerFailure, Qtype: dns.TypeTXT},
	"_dmarc.dmarc-fail.test": dnstest.Servfail(),
	"mx-afail.test":          {Rcode: dns.RcodeServerFailure, Qtype: dns.TypeA},
	"afail.test":             {Rcode: dns.RcodeServerFailure, Qtype: dns.TypeA},
	"afail-aaaa.test":        {Rcode: dns.RcodeServerFailure, Qtype: dns.TypeA},
	"mxfail-nx.test":         {Rcode: dns.RcodeServerFailure, Qtype: dns.TypeMX},
}

func TestLookupDomain(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{Zone: dnscheckZone, Behaviours: dnscheckBehaviours})
	r := newResolverForTest(t, resolverTestTimeout, s.Addr())

	const neg = 300 * time.Second
	mx := func(host string, pref uint16) []MX { return []MX{{Host: host, Preference: pref}} }
	failed := PolicyRecord{LookupFailed: true}

	tests := []struct {
		domain string
		want   DomainFacts
	}{
		{"several.test", DomainFacts{Status: DNSOK, HasA: true, TTL: 300 * time.Second, MX: []MX{
			{Host: "a.several.test", Preference: 10},
			{Host: "mx1.several.test", Preference: 10},
			{Host: "mx2.several.test", Preference: 20},
		}}},
		{"Several.Test.", DomainFacts{Status: DNSOK, HasA: true, TTL: 300 * time.Second, MX: []MX{
			{Host: "a.several.test", Preference: 10},
			{Host: "mx1.several.test", Preference: 10},
			{Host: "mx2.several.test", Preference: 20},
		}}},
		{"nullmx.test", DomainFacts{Status: DNSOK, NullMX: true, MX: mx(".", 0), HasA: true, TTL: time.Hour}},
		{"nullmix.test", DomainFacts{Status: DNSOK, MX: mx("mx.nullmix.test", 10), TTL: time.Hour}},
		{"implicit-a.test", DomainFacts{Status: DNSOK, HasA: true, TTL: 120 * time.Second}},
		{"implicit-aaaa.test", DomainFacts{Status: DNSOK, HasAAAA: true, TTL: 90 * time.Second}},
		{"nomail.test", DomainFacts{Status: DNSOK, TTL: neg}},
		{"nope.test", DomainFacts{Status: DNSNXDomain, TTL: neg}},
		{"nope.example", DomainFacts{Status: DNSNXDomain, TTL: 60 * time.Second}},
		{"alias.test", DomainFacts{Status: DNSOK, MX: mx("mx.target.test", 5), TTL: 120 * time.Second}},
		{"servfail.test", DomainFacts{Status: DNSError, Error: "MX: SERVFAIL", SPF: failed, DMARC: failed}},
		{"refused.test", DomainFacts{Status: DNSError, Error: "MX: REFUSED", SPF: failed, DMARC: failed}},
		{"outside.invalid", DomainFacts{Status: DNSError, Error: "MX: REFUSED", SPF: failed, DMARC: failed}},
		{"mx-afail.test", DomainFacts{Status: DNSOK, MX: mx("mx.mx-afail.test", 10), TTL: time.Hour}},
		{"afail.test", DomainFacts{Status: DNSError, Error: "A: SERVFAIL"}},
		{"afail-aaaa.test", DomainFacts{Status: DNSOK, HasAAAA: true, TTL: neg}},
		{"mxfail-nx.test", DomainFacts{Status: DNSNXDomain, TTL: neg}},

		{"spf-none.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-none.test", 10), TTL: time.Hour}},
		{"spf-one.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-one.test", 10), TTL: time.Hour,
			SPF: PolicyRecord{Found: true, Record: "v=spf1 include:_spf.example.com -all", Policy: "-all"}}},
		{"spf-two.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-two.test", 10), TTL: time.Hour}},
		{"spf-split.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-split.test", 10), TTL: time.Hour,
			SPF: PolicyRecord{Found: true, Record: "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ~all", Policy: "~all"}}},
		{"spf10.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf10.test", 10), TTL: time.Hour}},
		{"spf-neutral.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-neutral.test", 10), TTL: time.Hour,
			SPF: PolicyRecord{Found: true, Record: "v=spf1 a mx ?all", Policy: "?all"}}},
		{"spf-bare-all.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-bare-all.test", 10), TTL: time.Hour,
			SPF: PolicyRecord{Found: true, Record: "v=spf1 all", Policy: "+all"}}},
		{"spf-redirect.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-redirect.test", 10), TTL: time.Hour,
			SPF: PolicyRecord{Found: true, Record: "v=spf1 redirect=_spf.example.com"}}},
		{"spf-ttl.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-ttl.test", 10), TTL: 30 * time.Second,
			SPF: PolicyRecord{Found: true, Record: "v=spf1 -all", Policy: "-all"}}},
		{"txt-fail.test", DomainFacts{Status: DNSOK, MX: mx("mx.txt-fail.test", 10), TTL: time.Hour,
			SPF: failed, DMARC: failed}},

		{"dmarc-reject.test", DomainFacts{Status: DNSOK, MX: mx("mx.dmarc-reject.test", 10), TTL: time.Hour,
			DMARC: PolicyRecord{Found: true, Record: "v=DMARC1; p=reject; rua=mailto:d@dmarc-reject.test", Policy: "reject"}}},
		{"dmarc-two.test", DomainFacts{Status: DNSOK, MX: mx("mx.dmarc-two.test", 10), TTL: time.Hour}},
		{"dmarc-notfirst.test", DomainFacts{Status: DNSOK, MX: mx("mx.dmarc-notfirst.test", 10), TTL: time.Hour}},
		{"dmarc-mixed.test", DomainFacts{Status: DNSOK, MX: mx("mx.dmarc-mixed.test", 10), TTL: time.Hour,
			DMARC: PolicyRecord{Found: true, Record: "v=DMARC1;p=Quarantine", Policy: "quarantine"}}},
		{"dmarc-tab.test", DomainFacts{Status: DNSOK, MX: mx("mx.dmarc-tab.test", 10), TTL: time.Hour,
			DMARC: PolicyRecord{Found: true, Record: "v=DMARC1;\tp=reject", Policy: "reject"}}},
		{"spf-quote.test", DomainFacts{Status: DNSOK, MX: mx("mx.spf-quote.test", 10), TTL: time.Hour,
			SPF: PolicyRecord{Found: true, Record: `v=spf1 exp="x\y" -all`, Policy: "-all"}}},
		{"dmarc-fail.test", DomainFacts{Status: DNSOK, MX: mx("mx.dmarc-fail.test", 10), TTL: time.Hour,
			DMARC: failed}},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			got := LookupDomain(t.Context(), r, tt.domain)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LookupDomain(%q) (-want +got):\n%s", tt.domain, diff)
			}
		})
	}
}

func TestLookupDomainBlackholeTimesOut(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{
		Zone:       dnscheckZone,
		Behaviours: map[string]dnstest.Behaviour{"hole.test": dnstest.Blackhole()},
	})
	r := newResolverForTest(t, resolverFailTimeout, s.Addr())

	start := time.Now()
	got := LookupDomain(t.Context(), r, "hole.test")
	if elapsed := time.Since(start); elapsed > resolverHangBound {
		t.Errorf("took %v with a %v timeout, want well under %v", elapsed, resolverFailTimeout, resolverHangBound)
	}
	failed := PolicyRecord{LookupFailed: true}
	want := DomainFacts{Status: DNSError, Error: "MX: timeout", SPF: failed, DMARC: failed}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LookupDomain (-want +got):\n%s", diff)
	}
}

func TestLookupDomainNextServer(t *testing.T) {
	t.Parallel()
	dead := dnstest.Start(t, dnstest.Config{
		Zone:       dnscheckZone,
		Behaviours: map[string]dnstest.Behaviour{".": dnstest.Blackhole()},
	})
	live := dnstest.Start(t, dnstest.Config{Zone: dnscheckZone})
	r := newResolverForTest(t, resolverFailoverTimeout, dead.Addr(), live.Addr())

	got := LookupDomain(t.Context(), r, "spf-one.test")
	if got.Status != DNSOK || len(got.MX) != 1 || !got.SPF.Found {
		t.Errorf("LookupDomain: got %+v, want status ok with one MX and SPF", got)
	}
	if got, want := live.TotalQueries(), 5; got != want {
		t.Errorf("queries at the live server: got %d, want %d", got, want)
	}
}

func TestLookupDomainTruncationUsesTCP(t *testing.T) {
	t.Parallel()
	// 60 MX with long host names: far more than 1232 bytes.
	var zone strings.Builder
	zone.WriteString(dnscheckZone)
	zone.WriteString("$ORIGIN test.\n")
	var want []MX
	for i := range 60 {
		host := fmt.Sprintf("mx%02d.a-rather-long-mail-exchanger-name.big.test", i)
		fmt.Fprintf(&zone, "big MX %d %s.\n", i, host)
		want = append(want, MX{Host: host, Preference: uint16(i)})
	}
	s := dnstest.Start(t, dnstest.Config{Zone: zone.String()})
	r := newResolverForTest(t, resolverTestTimeout, s.Addr())

	got := LookupDomain(t.Context(), r, "big.test")
	if got.Status != DNSOK {
		t.Fatalf("status: got %s (%s), want ok", got.Status, got.Error)
	}
	if diff := cmp.Diff(want, got.MX); diff != "" {
		t.Errorf("MX (-want +got):\n%s", diff)
	}
	if s.TCPQueries() == 0 {
		t.Errorf("TCP queries: got 0, want at least 1")
	}
}

func TestLookupDomainCancelled(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{Zone: dnscheckZone})
	r := newResolverForTest(t, resolverTestTimeout, s.Addr())

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got := LookupDomain(ctx, r, "several.test")
	failed := PolicyRecord{LookupFailed: true}
	want := DomainFacts{Status: DNSError, Error: "MX: canceled", SPF: failed, DMARC: failed}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LookupDomain (-want +got):\n%s", diff)
	}
}

// TestLookupDomainAsksInParallel holds every answer at the server and
// checks that all five questions arrive before any is answered: serial
// lookups would leave four of them unasked. It measures no time.
func TestLookupDomainAsksInParallel(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{Zone: dnscheckZone, Latency: time.Hour})
	r := newResolverForTest(t, time.Minute, s.Addr())

	done := make(chan DomainFacts, 1)
	go func() { done <- LookupDomain(t.Context(), r, "spf-one.test") }()

	waitForQueries(t, s, 5)
	select {
	case f := <-done:
		t.Fatalf("LookupDomain returned %+v while every answer was held", f)
	default:
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"spf-one.test", dns.TypeMX},
		{"spf-one.test", dns.TypeA},
		{"spf-one.test", dns.TypeAAAA},
		{"spf-one.test", dns.TypeTXT},
		{"_dmarc.spf-one.test", dns.TypeTXT},
	} {
		if got := s.Queries(q.name, q.qtype); got != 1 {
			t.Errorf("queries for %s %s: got %d, want 1", q.name, dns.TypeToString[q.qtype], got)
		}
	}

	s.SetLatency(0)
	select {
	case f := <-done:
		if f.Status != DNSOK || !f.SPF.Found {
			t.Errorf("after release: got %+v, want status ok with SPF", f)
		}
	case <-time.After(resolverHangBound):
		t.Fatalf("LookupDomain did not return within %v of releasing the answers", resolverHangBound)
	}
}

func TestDNSCheckerNeverCached(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{Zone: dnscheckZone})
	c := DNSChecker{Resolver: newResolverForTest(t, resolverTestTimeout, s.Addr())}

	for range 2 {
		facts, cached := c.CheckDomain(t.Context(), "implicit-a.test")
		if cached {
			t.Errorf("CheckDomain: got cached=true, want false")
		}
		if !facts.HasA || facts.Status != DNSOK {
			t.Errorf("CheckDomain: got %+v, want status ok with HasA", facts)
		}
	}
	if got, want := s.TotalQueries(), 10; got != want {
		t.Errorf("queries: got %d, want %d (no caching)", got, want)
	}
}

func TestSPFRecordReading(t *testing.T) {
	t.Parallel()
	tests := []struct {
		record     string
		wantSPF    bool
		wantPolicy string
	}{
		{"v=spf1 -all", true, "-all"},
		{"v=spf1 ~all", true, "~all"},
		{"v=spf1 ?all", true, "?all"},
		{"v=spf1 +all", true, "+all"},
		{"v=spf1 all", true, "+all"},
		{"v=spf1 ALL", true, "+all"},
		{"V=SPF1 -all", true, "-all"},
		{"v=spf1", true, ""},
		{"v=spf1 ", true, ""},
		{"v=spf1  mx   -all  ", true, "-all"},
		{"v=spf1 -all ~all", true, "-all"},
		{"v=spf1 include:all.example.com -all", true, "-all"},
		{"v=spf1 -allx", true, ""},
		{"v=spf1 redirect=_spf.example.com", true, ""},
		{"v=spf10 -all", false, ""},
		{"v=spf1\t-all", false, ""},
		{" v=spf1 -all", false, ""},
		{"spf1 -all", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.record, func(t *testing.T) {
			t.Parallel()
			if got := isSPFRecord(tt.record); got != tt.wantSPF {
				t.Fatalf("isSPFRecord(%q): got %v, want %v", tt.record, got, tt.wantSPF)
			}
			if !tt.wantSPF {
				return
			}
			if got := spfAllPolicy(tt.record); got != tt.wantPolicy {
				t.Errorf("spfAllPolicy(%q): got %q, want %q", tt.record, got, tt.wantPolicy)
			}
		})
	}
}

func TestDMARCRecordReading(t *testing.T) {
	t.Parallel()
	tests := []struct {
		record     string
		wantOK     bool
		wantPolicy string
	}{
		{"v=DMARC1; p=reject", true, "reject"},
		{"v=DMARC1;p=none", true, "none"},
		{"v=DMARC1; p=QUARANTINE; pct=50", true, "quarantine"},
		{"v = DMARC1 ; p = reject ;", true, "reject"},
		{"V=DMARC1; P=reject", true, "reject"},
		{"v=DMARC1; rua=mailto:d@example.com; p=reject", true, "reject"},
		{"v=DMARC1; sp=reject", true, ""},
		{"v=DMARC1; p=bogus", true, ""},
		{"v=DMARC1; p=reject; p=none", true, "reject"},
		{"v=DMARC1", true, ""},
		{"v=dmarc1; p=reject", false, ""},
		{"v=DMARC10; p=reject", false, ""},
		{"p=reject; v=DMARC1", false, ""},
		{"v=spf1 -all", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.record, func(t *testing.T) {
			t.Parallel()
			policy, ok := dmarcPolicy(tt.record)
			if ok != tt.wantOK || policy != tt.wantPolicy {
				t.Errorf("dmarcPolicy(%q): got (%q, %v), want (%q, %v)", tt.record, policy, ok, tt.wantPolicy, tt.wantOK)
			}
		})
	}
}

func FuzzSPFPolicy(f *testing.F) {
	for _, seed := range []string{
		"v=spf1 -all", "v=spf1 all", "v=spf1 include:x ~all", "v=spf10", "V=SPF1 ?ALL",
		"v=spf1 ", "v=spf1 - + ~ ?", "", "v=spf1 \x00all",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, record string) {
		if !isSPFRecord(record) {
			return
		}
		switch p := spfAllPolicy(record); p {
		case "", "-all", "~all", "?all", "+all":
		default:
			t.Fatalf("spfAllPolicy(%q): got %q, want one of \"\", -all, ~all, ?all, +all", record, p)
		}
	})
}

func FuzzDMARCPolicy(f *testing.F) {
	for _, seed := range []string{
		"v=DMARC1; p=reject", "v=DMARC1;p=none;sp=reject", "v = DMARC1 ; p = Quarantine",
		"p=reject; v=DMARC1", "v=DMARC1", "", ";;;", "v=DMARC1; p", "v=DMARC1;=;p=",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, record string) {
		policy, ok := dmarcPolicy(record)
		if !ok && policy != "" {
			t.Fatalf("dmarcPolicy(%q): got policy %q for a non-DMARC record", record, policy)
		}
		switch policy {
		case "", "none", "quarantine", "reject":
		default:
			t.Fatalf("dmarcPolicy(%q): got policy %q, want none, quarantine, reject or empty", record, policy)
		}
		if ok && !strings.Contains(record, "DMARC1") {
			t.Fatalf("dmarcPolicy(%q): accepted a record without DMARC1", record)
		}
	})
}

// FuzzTXTUnescape checks txtUnescape against miekg/dns itself: any octets
// packed into a TXT record and unpacked again (which escapes them) must
// come back unchanged.
func FuzzTXTUnescape(f *testing.F) {
	for _, seed := range []string{"v=spf1 -all", "tab\there", `quote" and \ backslash`, "\x00\xff", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 255 {
			raw = raw[:255]
		}
		// Write every octet as \DDD so the packer stores it verbatim.
		var presentation strings.Builder
		for i := 0; i < len(raw); i++ {
			fmt.Fprintf(&presentation, "\\%03d", raw[i])
		}
		m := new(dns.Msg)
		m.SetQuestion("fuzz.test.", dns.TypeTXT)
		m.Answer = []dns.RR{&dns.TXT{
			Hdr: dns.RR_Header{Name: "fuzz.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 1},
			Txt: []string{presentation.String()},
		}}
		wire, err := m.Pack()
		if err != nil {
			t.Fatalf("pack: %v", err)
		}
		var back dns.Msg
		if err := back.Unpack(wire); err != nil {
			t.Fatalf("unpack: %v", err)
		}
		got := txtUnescape(back.Answer[0].(*dns.TXT).Txt[0])
		if got != raw {
			t.Fatalf("txtUnescape(%q): got %q, want %q", back.Answer[0].(*dns.TXT).Txt[0], got, raw)
		}
	})
}
