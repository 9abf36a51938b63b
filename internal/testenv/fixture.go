package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// MailZone is the fixture DNS data the API and bulk tests validate against:
// a domain for every DNS outcome an address can meet.
//
//   - acme.test receives mail, with SPF and DMARC; its MX records are out of
//     order, so answers must be sorted by preference;
//   - nullmx.test refuses mail (null MX); implicit.test has only an A
//     record; nomail.test has neither MX nor A;
//   - broken.test and slow.test exist, for tests that make them fail
//     (dnstest.Servfail, dnstest.Blackhole); missing.test does not exist;
//   - gmail.com is a free provider and mailinator.com a disposable one.
const MailZone = `
$ORIGIN test.
@             300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
acme          300 IN MX  20 mx2.acme.test.
acme          300 IN MX  10 mx1.acme.test.
acme          300 IN TXT "v=spf1 mx -all"
_dmarc.acme   300 IN TXT "v=DMARC1; p=reject"
nullmx        300 IN MX  0 .
implicit      300 IN A   192.0.2.10
nomail        300 IN TXT "not a mail domain"
broken        300 IN MX  10 mx.broken.test.
slow          300 IN MX  10 mx.slow.test.
$ORIGIN com.
@             300 IN SOA ns.com. hostmaster.com. 1 3600 600 86400 60
gmail         300 IN MX  5 gmail-smtp-in.l.google.com.
mailinator    300 IN MX  10 mail.mailinator.com.
`

// ManyDomains returns MailZone with n more mail domains, d0.many to
// d<n-1>.many, and a CSV file (header "email") with one address at each
// of them: a bulk job that must resolve n distinct domains, long enough to
// be caught running when the DNS is slowed down.
func ManyDomains(n int) (zone, csv string) {
	var z, f strings.Builder
	z.WriteString(MailZone)
	z.WriteString("$ORIGIN many.\n@ 300 IN SOA ns.many. h.many. 1 3600 600 86400 60\n")
	f.WriteString("email\n")
	for i := range n {
		fmt.Fprintf(&z, "d%d 300 IN MX 10 mx.d%d.many.\n", i, i)
		fmt.Fprintf(&f, "p@d%d.many\n", i)
	}
	return z.String(), f.String()
}

// Fixture is what a validation needs in a test: a real DNS server on
// loopback, the built-in lists, and a domain checker that asks that server
// and nothing else.
type Fixture struct {
	DNS     *dnstest.Server
	Lists   *validate.Lists
	Checker validate.DNSChecker
}

// NewFixture starts a DNS server with cfg (MailZone when cfg.Zone is empty)
// that stops when the test ends, and loads the built-in lists. Each DNS
// query waits at most timeout.
func NewFixture(tb testing.TB, cfg dnstest.Config, timeout time.Duration) *Fixture {
	tb.Helper()
	if cfg.Zone == "" {
		cfg.Zone = MailZone
	}
	srv := dnstest.Start(tb, cfg)
	resolver, err := validate.NewDNSResolver([]string{srv.Addr()}, timeout)
	if err != nil {
		tb.Fatalf("resolver for the fixture DNS: %v", err)
	}
	lists, err := validate.LoadLists(validate.ListsConfig{})
	if err != nil {
		tb.Fatalf("load the built-in lists: %v", err)
	}
	return &Fixture{DNS: srv, Lists: lists, Checker: validate.DNSChecker{Resolver: resolver}}
}

// Engine is a validation engine over the fixture's lists and DNS.
func (f *Fixture) Engine() *validate.Engine {
	return validate.NewEngine(f.Lists, f.Checker)
}
