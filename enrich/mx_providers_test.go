package enrich

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// rowSamples holds, for every row of mailProviders, an MX host that its
// customers publish. TestMailProviderRows fails when a row has none.
var rowSamples = map[string]string{
	"google_workspace": "aspmx.l.google.com",
	"microsoft_365":    "acme-test.mail.protection.outlook.com",
	"zoho":             "mx.zoho.eu",
	"proton":           "mail.protonmail.ch",
	"fastmail":         "in1-smtp.messagingengine.com",
	"yahoo":            "mta5.am0.yahoodns.net",
	"icloud":           "mx01.mail.icloud.com",
	"yandex":           "mx.yandex.net",
	"gmx":              "mx00.gmx.net",
	"web_de":           "mx-ha03.web.de",
	"amazon_workmail":  "inbound-smtp.us-east-1.amazonaws.com",
	"mailgun":          "mxa.mailgun.org",
	"sendgrid":         "mx.sendgrid.net",
	"rackspace":        "mx1.emailsrvr.com",
	"godaddy":          "mailstore1.secureserver.net",
	"ovh":              "mx1.mail.ovh.net",
	"ionos":            "mx00.ionos.de",
	"mimecast":         "eu-smtp-inbound-1.mimecast.com",
	"proofpoint":       "mx0a-00123456.pphosted.com",
	"barracuda":        "d123456a.ess.barracudanetworks.com",
	"cisco":            "mx1.hc1234-56.iphmx.com",
	"trend_micro":      "acme.in.tmes.trendmicro.eu",
	"sophos":           "mx-01-eu-central-1.prod.hydra.sophos.com",
	"forcepoint":       "cluster1.eu.mailcontrol.com",
	"symantec":         "cluster1.eu.messagelabs.com",
}

// TestMailProviderRows resolves, through the fixture DNS server, one domain
// per row of the MX table whose MX is the row's sample host, and checks the
// provider (or, for gateways, the gateway) read from it.
func TestMailProviderRows(t *testing.T) {
	t.Parallel()
	var zone strings.Builder
	zone.WriteString("$ORIGIN test.\n@ 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60\n")
	for _, p := range mailProviders {
		host, ok := rowSamples[p.id]
		if !ok {
			t.Errorf("row %s has no sample MX host in rowSamples", p.id)
			continue
		}
		fmt.Fprintf(&zone, "%s 300 IN MX 10 %s.\n", rowDomain(p.id), host)
	}
	engine, lists := newEngine(t, zone.String(), nil)
	e := New(Config{AllowPrivate: true, Resolve: routes(t, nil)}, engine, lists, nil, nil)
	for _, p := range mailProviders {
		if _, ok := rowSamples[p.id]; !ok {
			continue
		}
		t.Run(p.id, func(t *testing.T) {
			t.Parallel()
			got, err := e.Enrich(context.Background(), validate.Request{Email: "jane.doe@" + rowDomain(p.id) + ".test"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Mail == nil {
				t.Fatalf("got no mail facts; missing %+v", got.Missing)
			}
			wantID, wantName, wantGateway := p.id, p.name, ""
			if p.gateway {
				wantID, wantName, wantGateway = ProviderUnknown, providerNames[ProviderUnknown], p.name
			}
			if got.Mail.Provider != wantID || got.Mail.ProviderName != wantName || got.Mail.SecurityGateway != wantGateway {
				t.Errorf("got provider %q (%q) gateway %q, want %q (%q) gateway %q",
					got.Mail.Provider, got.Mail.ProviderName, got.Mail.SecurityGateway, wantID, wantName, wantGateway)
			}
		})
	}
}

func rowDomain(id string) string { return "row-" + strings.ReplaceAll(id, "_", "-") }

// TestClassifyMail covers the rules around the table: preference order,
// gateways with and without a visible mailbox, SPF inference, self-hosting,
// free consumer services and every DNS outcome.
func TestClassifyMail(t *testing.T) {
	t.Parallel()
	mx := func(hosts ...string) []validate.MX {
		var out []validate.MX
		for i, h := range hosts {
			out = append(out, validate.MX{Host: h, Preference: uint16(10 * (i + 1))})
		}
		return out
	}
	ok := func(m []validate.MX) validate.DNSResult {
		return validate.DNSResult{Status: validate.DNSOK, MXFound: len(m) > 0, MX: m}
	}
	withSPF := func(d validate.DNSResult, rec string) validate.DNSResult {
		d.SPF = validate.PolicyRecord{Found: true, Record: rec}
		return d
	}
	tests := []struct {
		name                   string
		domain                 string
		free                   bool
		dns                    validate.DNSResult
		id, providerName, gate string
	}{
		{name: "google", domain: "acme.com", dns: ok(mx("aspmx.l.google.com.", "alt1.aspmx.l.google.com.")), id: "google_workspace", providerName: "Google Workspace"},
		{name: "google new single MX", domain: "acme.com", dns: ok(mx("smtp.google.com")), id: "google_workspace", providerName: "Google Workspace"},
		{name: "googlemail backup", domain: "acme.com", dns: ok(mx("aspmx2.googlemail.com")), id: "google_workspace", providerName: "Google Workspace"},
		{name: "upper case and root dot", domain: "acme.com", dns: ok(mx("ASPMX.L.GOOGLE.COM.")), id: "google_workspace", providerName: "Google Workspace"},
		{name: "gmail is the consumer service", domain: "gmail.com", free: true, dns: ok(mx("gmail-smtp-in.l.google.com.")), id: "google", providerName: "Gmail"},
		{name: "outlook.com consumer", domain: "outlook.com", free: true, dns: ok(mx("outlook-com.olc.protection.outlook.com.")), id: "microsoft", providerName: "Outlook.com"},
		{name: "yahoo consumer keeps its id", domain: "yahoo.com", free: true, dns: ok(mx("mta5.am0.yahoodns.net")), id: "yahoo", providerName: "Yahoo Mail"},
		{name: "yandex consumer name", domain: "yandex.ru", free: true, dns: ok(mx("mx.yandex.ru")), id: "yandex", providerName: "Yandex Mail"},
		{name: "lowest preference wins", domain: "acme.com", dns: ok(mx("acme-com.mail.protection.outlook.com", "aspmx.l.google.com")), id: "microsoft_365", providerName: "Microsoft 365"},
		{name: "preference, not order", domain: "acme.com",
			dns: ok([]validate.MX{{Host: "aspmx.l.google.com", Preference: 20}, {Host: "mx.zoho.com", Preference: 5}}), id: "zoho", providerName: "Zoho Mail"},
		{name: "suffix needs a dot", domain: "acme.com", dns: ok(mx("mx.notgoogle.com")), id: ProviderUnknown, providerName: "Unknown"},
		{name: "lookalike under another domain", domain: "acme.com", dns: ok(mx("aspmx.l.google.com.evil.example")), id: ProviderUnknown, providerName: "Unknown"},
		{name: "any amazonaws host is not workmail", domain: "acme.com", dns: ok(mx("ec2-192-0-2-1.compute-1.amazonaws.com")), id: ProviderUnknown, providerName: "Unknown"},
		{name: "gateway hides mailbox", domain: "acme.com", dns: ok(mx("us-smtp-inbound-1.mimecast.com", "us-smtp-inbound-2.mimecast.com")), id: ProviderUnknown, providerName: "Unknown", gate: "Mimecast"},
		{name: "gateway with SPF include", domain: "acme.com",
			dns: withSPF(ok(mx("mx0a-001.pphosted.com")), "v=spf1 include:spf.protection.outlook.com include:sendgrid.net -all"),
			id:  "microsoft_365", providerName: "Microsoft 365", gate: "Proofpoint"},
		{name: "gateway with SPF redirect", domain: "acme.com",
			dns: withSPF(ok(mx("mx1.hc1-2.iphmx.com")), "v=spf1 redirect=_spf.google.com"),
			id:  "google_workspace", providerName: "Google Workspace", gate: "Cisco Secure Email (IronPort)"},
		{name: "gateway, SPF names only senders", domain: "acme.com",
			dns: withSPF(ok(mx("d1.ess.barracudanetworks.com")), "v=spf1 include:sendgrid.net include:mailgun.org ~all"),
			id:  ProviderUnknown, providerName: "Unknown", gate: "Barracuda"},
		{name: "gateway and backup mailbox MX", domain: "acme.com", dns: ok(mx("cluster1.eu.messagelabs.com", "acme-com.mail.protection.outlook.com")),
			id: "microsoft_365", providerName: "Microsoft 365", gate: "Broadcom Email Security.cloud (Symantec)"},
		{name: "SPF ignored without gateway", domain: "acme.com", dns: withSPF(ok(mx("mail.other.example")), "v=spf1 include:_spf.google.com -all"),
			id: ProviderUnknown, providerName: "Unknown"},
		{name: "self hosted", domain: "acme.com", dns: ok(mx("mail.acme.com.")), id: ProviderSelfHosted, providerName: "Self-hosted"},
		{name: "self hosted at apex", domain: "acme.com", dns: ok(mx("acme.com")), id: ProviderSelfHosted, providerName: "Self-hosted"},
		{name: "self hosted under registrable domain", domain: "sales.acme.co.uk", dns: ok(mx("mx.acme.co.uk")), id: ProviderSelfHosted, providerName: "Self-hosted"},
		{name: "sibling under public suffix is not self", domain: "acme.co.uk", dns: ok(mx("mx.other.co.uk")), id: ProviderUnknown, providerName: "Unknown"},
		{name: "implicit MX", domain: "acme.com", dns: validate.DNSResult{Status: validate.DNSOK, ImplicitMX: true, MX: []validate.MX{}}, id: ProviderSelfHosted, providerName: "Self-hosted"},
		{name: "null MX", domain: "acme.com", dns: validate.DNSResult{Status: validate.DNSOK, NullMX: true, MX: mx(".")}, id: ProviderNone, providerName: "No mail service"},
		{name: "nxdomain", domain: "acme.com", dns: validate.DNSResult{Status: validate.DNSNXDomain}, id: ProviderNone, providerName: "No mail service"},
		{name: "no mail server", domain: "acme.com", dns: validate.DNSResult{Status: validate.DNSOK, MX: []validate.MX{}}, id: ProviderNone, providerName: "No mail service"},
		{name: "dns error", domain: "acme.com", dns: validate.DNSResult{Status: validate.DNSError}, id: ProviderUnknown, providerName: "Unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, name, gate := classifyMail(mailFacts{asciiDomain: tt.domain, free: tt.free, dns: tt.dns})
			if diff := cmp.Diff([]string{tt.id, tt.providerName, tt.gate}, []string{id, name, gate}); diff != "" {
				t.Errorf("got %q %q %q, want %q %q %q", id, name, gate, tt.id, tt.providerName, tt.gate)
			}
		})
	}
}

func TestHostMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host, pattern string
		want          bool
	}{
		{"google.com", "google.com", true},
		{"aspmx.l.google.com", "google.com", true},
		{"notgoogle.com", "google.com", false},
		{"google.com.evil", "google.com", false},
		{"inbound-smtp.eu-west-1.amazonaws.com", "inbound-smtp.*.amazonaws.com", true},
		{"x.inbound-smtp.eu-west-1.amazonaws.com", "inbound-smtp.*.amazonaws.com", true},
		{"inbound-smtp.amazonaws.com", "inbound-smtp.*.amazonaws.com", false},
		{"outbound.eu-west-1.amazonaws.com", "inbound-smtp.*.amazonaws.com", false},
		{"", "google.com", false},
	}
	for _, tt := range tests {
		if got := hostMatches(tt.host, tt.pattern); got != tt.want {
			t.Errorf("hostMatches(%q, %q): got %v, want %v", tt.host, tt.pattern, got, tt.want)
		}
	}
}

// TestMailPosture checks the SPF and DMARC reading, through the fixture
// DNS server, with failed lookups as gaps.
func TestMailPosture(t *testing.T) {
	t.Parallel()
	const zone = `
$ORIGIN test.
@              300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
strict         300 IN MX  10 mx.strict.test.
strict         300 IN TXT "v=spf1 mx -all"
_dmarc.strict  300 IN TXT "v=DMARC1; p=reject"
soft           300 IN MX  10 mx.soft.test.
soft           300 IN TXT "v=spf1 include:_spf.google.com ~all"
_dmarc.soft    300 IN TXT "v=DMARC1; p=none; rua=mailto:d@soft.test"
bare           300 IN MX  10 mx.bare.test.
noall          300 IN MX  10 mx.noall.test.
noall          300 IN TXT "v=spf1 mx"
redirect       300 IN MX  10 mx.redirect.test.
redirect       300 IN TXT "v=spf1 redirect=_spf.redirect.test"
txtfail        300 IN MX  10 mx.txtfail.test.
dmarcfail      300 IN MX  10 mx.dmarcfail.test.
dmarcfail      300 IN TXT "v=spf1 -all"
broken         300 IN MX  10 mx.broken.test.
`
	engine, lists := newEngine(t, zone, map[string]dnstest.Behaviour{
		"txtfail.test":          {Rcode: dns.RcodeServerFailure, Qtype: dns.TypeTXT},
		"_dmarc.dmarcfail.test": dnstest.Servfail(),
		"broken.test":           dnstest.Servfail(),
	})
	e := New(Config{AllowPrivate: true, Resolve: routes(t, nil)}, engine, lists, nil, nil)
	tests := []struct {
		domain, spf, dmarc string
		gaps               []string
	}{
		{"strict.test", "-all", "reject", nil},
		{"soft.test", "~all", "none", nil},
		{"bare.test", "none", "missing", nil},
		{"noall.test", "?all", "missing", nil},
		{"redirect.test", "", "missing", []string{GapNoData}},
		{"txtfail.test", "", "", []string{GapDNSError, GapDNSError}},
		{"dmarcfail.test", "-all", "", []string{GapDNSError}},
		{"broken.test", "", "", []string{GapDNSError}},
		{"missing.test", "none", "missing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			got, err := e.Enrich(context.Background(), validate.Request{Email: "jane@" + tt.domain})
			if err != nil {
				t.Fatal(err)
			}
			if got.Mail == nil {
				t.Fatal("got no mail facts")
			}
			if got.Mail.SPF != tt.spf || got.Mail.DMARC != tt.dmarc {
				t.Errorf("got spf %q dmarc %q, want %q %q", got.Mail.SPF, got.Mail.DMARC, tt.spf, tt.dmarc)
			}
			if diff := cmp.Diff(tt.gaps, gapReasons(got, PartMail)); diff != "" {
				t.Errorf("mail gaps (-want +got):\n%s", diff)
			}
		})
	}
}
