package validate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// B6 in BENCHMARKS.md: the CPU cost of validating one email+phone lead
// in-process with a warm DNS cache, divided by the least any such check can
// cost on the same inputs (BenchmarkLibraryFloor). The bench program runs
//
//	go test ./validate/ -run '^$' -bench '^(BenchmarkValidateEmailPhone|BenchmarkLibraryFloor)$' -benchmem
//
// and prints the ratio; the target is ≤ 1.5.

// benchLead is one lead of the B6 inputs.
type benchLead struct {
	email, phone, country string
}

// benchLeads are leads as forms send them: corporate and free-provider
// addresses, a +tag, a role account, phones in national and international
// form. Every domain is answered by the fixture zone, so the cache is warm
// with real DNS facts, not invented ones.
func benchLeads() []benchLead {
	return []benchLead{
		{"jane.doe@acme-widgets.com", "(201) 555-0123", "US"},
		{"j.smith+leads@northwind-traders.com", "+1 506 234 5678", ""},
		{"oliver.brown@gmail.com", "020 7946 0958", "GB"},
		{"sales@acme-widgets.com", "+44 7400 123456", ""},
		{"m.mueller@beispiel-handel.de", "030 1234567", "DE"},
		{"k.schmidt@outlook.com", "+49 1512 3456789", ""},
		{"claire.martin@exemple-conseil.fr", "06 12 34 56 78", "FR"},
		{"priya.patel@contoso-india.com", "+91 81234 56789", ""},
		{"ana.souza@empresa-exemplo.com.br", "(11) 96123-4567", "BR"},
		{"liam.wilson@northwind-traders.com", "0412 345 678", "AU"},
		{"hiro.tanaka@gmail.com", "090-1234-5678", "JP"},
		{"chidi.okafor@contoso-india.com", "0802 123 4567", "NG"},
	}
}

// benchZone answers for every domain of benchLeads: MX, SPF and DMARC for
// most, an implicit MX (A only) for one.
const benchZone = `
$TTL 3600
com.                 IN SOA ns.bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 300
de.                  IN SOA ns.bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 300
fr.                  IN SOA ns.bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 300
br.                  IN SOA ns.bench.invalid. hostmaster.bench.invalid. 1 3600 600 86400 300
acme-widgets.com.        IN MX 10 mx1.acme-widgets.com.
acme-widgets.com.        IN TXT "v=spf1 mx -all"
_dmarc.acme-widgets.com. IN TXT "v=DMARC1; p=reject"
northwind-traders.com.   IN MX 10 mx.northwind-traders.com.
northwind-traders.com.   IN MX 20 mx2.northwind-traders.com.
northwind-traders.com.   IN TXT "v=spf1 include:_spf.northwind-traders.com ~all"
gmail.com.               IN MX 5 gmail-smtp-in.l.google.com.
gmail.com.               IN TXT "v=spf1 redirect=_spf.google.com"
_dmarc.gmail.com.        IN TXT "v=DMARC1; p=none"
outlook.com.             IN MX 10 outlook-com.olc.protection.outlook.com.
outlook.com.             IN TXT "v=spf1 include:spf.protection.outlook.com -all"
_dmarc.outlook.com.      IN TXT "v=DMARC1; p=none"
beispiel-handel.de.      IN MX 10 mail.beispiel-handel.de.
exemple-conseil.fr.      IN A 192.0.2.10
contoso-india.com.       IN MX 0 mx.contoso-india.com.
_dmarc.contoso-india.com. IN TXT "v=DMARC1; p=quarantine"
empresa-exemplo.com.br.  IN MX 10 mx.empresa-exemplo.com.br.
empresa-exemplo.com.br.  IN TXT "v=spf1 mx ~all"
`

// warmEngine builds the engine as the service does (lists, the in-process
// cache tier, the DNS checker) against a loopback DNS server, and validates
// every lead once so that the DNS facts are cached.
func warmEngine(b *testing.B, leads []benchLead) *validate.Engine {
	b.Helper()
	srv := dnstest.Start(b, dnstest.Config{Zone: benchZone})
	resolver, err := validate.NewDNSResolver([]string{srv.Addr()}, 2*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	lists, err := validate.LoadLists(validate.ListsConfig{})
	if err != nil {
		b.Fatal(err)
	}
	domains, err := cache.NewDomains(cache.DefaultConfig(), validate.DNSChecker{Resolver: resolver}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = domains.Close() })
	engine := validate.NewEngine(lists, domains)
	ctx := context.Background()
	for _, l := range leads {
		res, err := engine.Validate(ctx, validate.Request{Email: l.email, Phone: l.phone, Country: l.country})
		if err != nil {
			b.Fatalf("Validate(%q, %q): %v", l.email, l.phone, err)
		}
		if res.Email.DNS == nil || res.Email.DNS.Status != validate.DNSOK {
			b.Fatalf("Validate(%q): got DNS %+v, want status ok from the fixture zone", l.email, res.Email.DNS)
		}
	}
	queries := srv.TotalQueries()
	for _, l := range leads {
		res, _ := engine.Validate(ctx, validate.Request{Email: l.email, Phone: l.phone, Country: l.country})
		if !res.Cached {
			b.Fatalf("Validate(%q) after warm-up: got cached=false, want true", l.email)
		}
	}
	if got := srv.TotalQueries(); got != queries {
		b.Fatalf("second pass asked DNS %d more times, want 0 (warm cache)", got-queries)
	}
	return engine
}

// BenchmarkValidateEmailPhone is Engine.Validate for one email+phone lead
// with a warm DNS cache: everything the service does per lead apart from
// HTTP.
func BenchmarkValidateEmailPhone(b *testing.B) {
	leads := benchLeads()
	engine := warmEngine(b, leads)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l := leads[i%len(leads)]
		i++
		if _, err := engine.Validate(ctx, validate.Request{Email: l.email, Phone: l.phone, Country: l.country}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLibraryFloor is the least an email+phone check can cost on the
// same leads: phonenumbers.Parse and IsValidNumber, and a plain syntax check
// of the address. The engine does more (IDNA, lists, typo suggestion,
// scoring, the cache lookup); B6 bounds how much more.
func BenchmarkLibraryFloor(b *testing.B) {
	leads := benchLeads()
	b.ReportAllocs()
	i, valid := 0, 0
	for b.Loop() {
		l := leads[i%len(leads)]
		i++
		if !plainEmailSyntax(l.email) {
			b.Fatalf("plainEmailSyntax(%q) = false, want true", l.email)
		}
		num, err := phonenumbers.Parse(l.phone, l.country)
		if err == nil && phonenumbers.IsValidNumber(num) {
			valid++
		}
	}
	if valid == 0 {
		b.Fatalf("got no valid number in %d parses, want most leads valid", i)
	}
}

// plainEmailSyntax is the floor of an address syntax check, written without
// net/mail: one @, a dot-atom local part of at most 64 bytes, and a domain of
// at most 253 bytes made of two or more letter-digit-hyphen labels of at most
// 63 bytes, under 254 bytes in all. No IDNA, no quoting, no normalization.
func plainEmailSyntax(s string) bool {
	if len(s) > 254 {
		return false
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) == 0 || len(local) > 64 || len(domain) == 0 || len(domain) > 253 {
		return false
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		if !isAtextOrDot(local[i]) {
			return false
		}
	}
	labels := 0
	for label := range strings.SplitSeq(domain, ".") {
		labels++
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return labels >= 2
}

// isAtextOrDot reports the bytes RFC 5322 allows in a dot-atom.
func isAtextOrDot(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", c) >= 0
}

func TestPlainEmailSyntax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{"jane.doe@acme-widgets.com", true},
		{"j.smith+leads@northwind-traders.com", true},
		{"a@b.c", true},
		{"no-at-sign.com", false},
		{"@acme.com", false},
		{"jane@", false},
		{"jane@localhost", false},
		{".jane@acme.com", false},
		{"jane.@acme.com", false},
		{"ja..ne@acme.com", false},
		{"jane@-acme.com", false},
		{"jane@acme-.com", false},
		{"jane@acme..com", false},
		{"jane@ac_me.com", false},
		{"jane doe@acme.com", false},
		{"jane@acme.com@acme.com", false},
		{strings.Repeat("a", 65) + "@acme.com", false},
		{"jane@" + strings.Repeat("a", 64) + ".com", false},
		{"jané@acme.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := plainEmailSyntax(tt.in); got != tt.want {
				t.Errorf("plainEmailSyntax(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestBenchLeadsAreJudgedAlike makes sure the two B6 benchmarks compare the
// same work: every lead passes the floor's syntax check and the engine's
// parser, and the two agree on which phones are valid.
func TestBenchLeadsAreJudgedAlike(t *testing.T) {
	t.Parallel()
	for _, l := range benchLeads() {
		t.Run(l.email, func(t *testing.T) {
			t.Parallel()
			if !plainEmailSyntax(l.email) {
				t.Errorf("plainEmailSyntax(%q) = false, want true", l.email)
			}
			if _, err := validate.ParseAddress(l.email); err != nil {
				t.Errorf("ParseAddress(%q): got %v, want no error", l.email, err)
			}
			num, err := phonenumbers.Parse(l.phone, l.country)
			floorValid := err == nil && phonenumbers.IsValidNumber(num)
			if got := validate.ValidatePhone(l.phone, l.country); got.Valid != floorValid {
				t.Errorf("ValidatePhone(%q, %q).Valid = %v, want %v as the library says", l.phone, l.country, got.Valid, floorValid)
			}
		})
	}
}

// FuzzPlainEmailSyntax checks the floor's parser never panics, is
// deterministic, and only accepts inputs of the shape it promises.
func FuzzPlainEmailSyntax(f *testing.F) {
	for _, l := range benchLeads() {
		f.Add(l.email)
	}
	for _, s := range []string{"", "@", "a@b", "a@b.c", "a..b@c.d", "a@-b.c", "a@b.c-", "\xff@a.b", strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := plainEmailSyntax(s)
		if again := plainEmailSyntax(s); again != got {
			t.Fatalf("plainEmailSyntax(%q): got %v then %v, want the same answer", s, got, again)
		}
		if !got {
			return
		}
		local, domain, ok := strings.Cut(s, "@")
		if !ok || strings.Contains(domain, "@") || len(s) > 254 || len(local) > 64 || !strings.Contains(domain, ".") {
			t.Fatalf("plainEmailSyntax(%q) = true, want false: not one @, too long or a single-label domain", s)
		}
		for _, label := range strings.Split(domain, ".") {
			if label == "" || len(label) > 63 {
				t.Fatalf("plainEmailSyntax(%q) = true with label %q, want false", s, label)
			}
		}
		for i := 0; i < len(s); i++ {
			if s[i] <= ' ' || s[i] >= 0x7f {
				t.Fatalf("plainEmailSyntax(%q) = true with byte %#x at %d, want only printable ASCII accepted", s, s[i], i)
			}
		}
	})
}
