package enrich

import (
	"cmp"
	"slices"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/leadcheck/leadcheck/validate"
)

// Provider ids that are not rows of the table.
const (
	// ProviderSelfHosted: the MX hosts live under the domain itself (or
	// there is no MX and mail goes to the domain's own address records).
	ProviderSelfHosted = "self_hosted"
	// ProviderUnknown: MX hosts exist but match no row, or a security
	// gateway hides the mailboxes behind it, or DNS did not answer.
	ProviderUnknown = "unknown"
	// ProviderNone: the domain receives no mail (NXDOMAIN, null MX, or
	// neither MX nor address records).
	ProviderNone = "none"
)

// mailProvider is one row of the MX table. The table is what sales teams
// read "mail provider" from, so every row is tested (mx_providers_test.go)
// and listed in the README.
type mailProvider struct {
	id, name string
	// consumerID and consumerName name the free consumer service when the
	// address's domain is a free mailbox domain: gmail.com is Gmail, not
	// Google Workspace. Empty means the same as id and name.
	consumerID, consumerName string
	// gateway marks a filtering service that sits in front of the real
	// mailboxes; its MX says nothing about where mail is stored.
	gateway bool
	// mx are MX host patterns: a host matches when it ends with the
	// pattern's labels, and a "*" label matches any one label
	// ("inbound-smtp.*.amazonaws.com").
	mx []string
	// spf are SPF include:/redirect= targets, matched the same way, that
	// reveal the provider's mailboxes when a gateway hides them. Only
	// mailbox providers have them: senders (newsletters, CRMs) include
	// their own SPF records too, and say nothing about mailboxes.
	spf []string
}

// mailProviders is the table, mailbox providers first, then gateways.
// Sources: each provider's published set-up instructions for customer
// domains (the MX hosts customers are told to publish).
var mailProviders = []mailProvider{
	{id: "google_workspace", name: "Google Workspace", consumerID: "google", consumerName: "Gmail",
		mx: []string{"google.com", "googlemail.com"}, spf: []string{"_spf.google.com"}},
	{id: "microsoft_365", name: "Microsoft 365", consumerID: "microsoft", consumerName: "Outlook.com",
		mx: []string{"protection.outlook.com", "hotmail.com"}, spf: []string{"spf.protection.outlook.com"}},
	{id: "zoho", name: "Zoho Mail",
		mx:  []string{"zoho.com", "zoho.eu", "zoho.in", "zoho.com.au", "zoho.jp", "zoho.com.cn", "zoho.sa", "zohocloud.ca", "zohomail.com"},
		spf: []string{"zoho.com", "zoho.eu", "zoho.in", "zoho.com.au", "zoho.jp", "zohomail.com"}},
	{id: "proton", name: "Proton Mail", mx: []string{"protonmail.ch"}, spf: []string{"_spf.protonmail.ch"}},
	{id: "fastmail", name: "Fastmail", mx: []string{"messagingengine.com"}, spf: []string{"spf.messagingengine.com"}},
	{id: "yahoo", name: "Yahoo Mail", mx: []string{"yahoodns.net"}, spf: []string{"_spf.mail.yahoo.com"}},
	{id: "icloud", name: "iCloud Mail", mx: []string{"mail.icloud.com"}, spf: []string{"icloud.com"}},
	{id: "yandex", name: "Yandex 360", consumerName: "Yandex Mail", mx: []string{"yandex.net", "yandex.ru"}, spf: []string{"_spf.yandex.net"}},
	{id: "gmx", name: "GMX", mx: []string{"gmx.net", "gmx.com", "gmx.de"}},
	{id: "web_de", name: "WEB.DE", mx: []string{"web.de"}},
	{id: "amazon_workmail", name: "Amazon WorkMail / SES", mx: []string{"inbound-smtp.*.amazonaws.com", "awsapps.com"}},
	{id: "mailgun", name: "Mailgun", mx: []string{"mailgun.org"}},
	{id: "sendgrid", name: "SendGrid Inbound Parse", mx: []string{"mx.sendgrid.net"}},
	{id: "rackspace", name: "Rackspace Email", mx: []string{"emailsrvr.com"}, spf: []string{"emailsrvr.com"}},
	{id: "godaddy", name: "GoDaddy Email", mx: []string{"secureserver.net"}, spf: []string{"secureserver.net"}},
	{id: "ovh", name: "OVHcloud", mx: []string{"ovh.net", "ovh.ca"}, spf: []string{"mx.ovh.com"}},
	{id: "ionos", name: "IONOS",
		mx:  []string{"ionos.com", "ionos.de", "ionos.co.uk", "ionos.es", "ionos.fr", "ionos.it", "ionos.mx", "ionos.ca", "1and1.com", "1and1.co.uk", "kundenserver.de"},
		spf: []string{"_spf.perfora.net", "_spf-us.ionos.com", "_spf-eu.ionos.com"}},

	{id: "mimecast", name: "Mimecast", gateway: true, mx: []string{"mimecast.com", "mimecast.co.za", "mimecast-offshore.com"}},
	{id: "proofpoint", name: "Proofpoint", gateway: true, mx: []string{"pphosted.com", "ppe-hosted.com"}},
	{id: "barracuda", name: "Barracuda", gateway: true, mx: []string{"barracudanetworks.com"}},
	{id: "cisco", name: "Cisco Secure Email (IronPort)", gateway: true, mx: []string{"iphmx.com"}},
	{id: "trend_micro", name: "Trend Micro Email Security", gateway: true, mx: []string{"trendmicro.com", "trendmicro.eu"}},
	{id: "sophos", name: "Sophos Email", gateway: true, mx: []string{"sophos.com"}},
	{id: "forcepoint", name: "Forcepoint Email Security", gateway: true, mx: []string{"mailcontrol.com"}},
	{id: "symantec", name: "Broadcom Email Security.cloud (Symantec)", gateway: true, mx: []string{"messagelabs.com"}},
}

// providerNames names the ids that are not table rows.
var providerNames = map[string]string{
	ProviderSelfHosted: "Self-hosted",
	ProviderUnknown:    "Unknown",
	ProviderNone:       "No mail service",
}

// hostMatches reports whether host ends with pattern's labels, where a "*"
// label in pattern matches any single label. Both are lower-case without a
// trailing dot.
func hostMatches(host, pattern string) bool {
	if !strings.Contains(pattern, "*") {
		return host == pattern || strings.HasSuffix(host, "."+pattern)
	}
	hl, pl := strings.Split(host, "."), strings.Split(pattern, ".")
	if len(hl) < len(pl) {
		return false
	}
	hl = hl[len(hl)-len(pl):]
	for i, p := range pl {
		if p != "*" && p != hl[i] {
			return false
		}
	}
	return true
}

// lookupMX finds the row whose MX patterns match host, or nil.
func lookupMX(host string) *mailProvider {
	for i := range mailProviders {
		for _, p := range mailProviders[i].mx {
			if hostMatches(host, p) {
				return &mailProviders[i]
			}
		}
	}
	return nil
}

// lookupSPF finds the mailbox provider an SPF record delegates to through
// include: or redirect=, or nil.
func lookupSPF(record string) *mailProvider {
	for _, target := range spfTargets(record) {
		for i := range mailProviders {
			for _, p := range mailProviders[i].spf {
				if hostMatches(target, p) {
					return &mailProviders[i]
				}
			}
		}
	}
	return nil
}

// spfTargets returns the domains of an SPF record's include: mechanisms and
// redirect= modifier, lower-cased, in record order.
func spfTargets(record string) []string {
	var out []string
	for _, term := range strings.Fields(record) {
		term = strings.ToLower(term)
		switch {
		case strings.HasPrefix(strings.TrimLeft(term, "+-~?"), "include:"):
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(strings.TrimLeft(term, "+-~?"), "include:"), "."))
		case strings.HasPrefix(term, "redirect="):
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(term, "redirect="), "."))
		}
	}
	return out
}

// mailFacts is what DNS said about a domain, in the form the MX reading
// needs.
type mailFacts struct {
	asciiDomain string
	free        bool
	dns         validate.DNSResult
}

// classifyMail reads the mail provider and security gateway from the MX
// hosts:
//   - the lowest-preference MX that matches a mailbox row names the provider,
//     and any MX that matches a gateway row names the gateway;
//   - behind a gateway with no mailbox MX, the SPF record's include:
//     targets may still reveal the mailbox provider; otherwise "unknown";
//   - MX hosts under the domain's own registrable domain (or no MX, mail to
//     the domain's address records) mean self_hosted;
//   - no mail at all (NXDOMAIN, null MX, nothing to deliver to) is "none";
//   - a DNS failure or an unmatched host is "unknown".
//
// For a free mailbox domain the consumer service is named (gmail.com is
// Gmail, not Google Workspace).
func classifyMail(f mailFacts) (id, name, gateway string) {
	d := f.dns
	switch {
	case d.Status == validate.DNSNXDomain:
		return ProviderNone, providerNames[ProviderNone], ""
	case d.Status != validate.DNSOK:
		return ProviderUnknown, providerNames[ProviderUnknown], ""
	case d.NullMX:
		return ProviderNone, providerNames[ProviderNone], ""
	case d.ImplicitMX:
		return ProviderSelfHosted, providerNames[ProviderSelfHosted], ""
	case len(d.MX) == 0:
		return ProviderNone, providerNames[ProviderNone], ""
	}
	mx := slices.Clone(d.MX)
	slices.SortStableFunc(mx, func(a, b validate.MX) int {
		return cmp.Or(cmp.Compare(a.Preference, b.Preference), strings.Compare(a.Host, b.Host))
	})
	var mailbox, gw *mailProvider
	for _, m := range mx {
		p := lookupMX(normalizeHost(m.Host))
		switch {
		case p == nil:
		case p.gateway && gw == nil:
			gw = p
		case !p.gateway && mailbox == nil:
			mailbox = p
		}
	}
	if gw != nil {
		gateway = gw.name
		if mailbox == nil && d.SPF.Found {
			mailbox = lookupSPF(d.SPF.Record)
		}
	}
	if mailbox != nil {
		id, name = mailbox.id, mailbox.name
		if f.free {
			if mailbox.consumerID != "" {
				id = mailbox.consumerID
			}
			if mailbox.consumerName != "" {
				name = mailbox.consumerName
			}
		}
		return id, name, gateway
	}
	if gw == nil && underDomain(normalizeHost(mx[0].Host), f.asciiDomain) {
		return ProviderSelfHosted, providerNames[ProviderSelfHosted], ""
	}
	return ProviderUnknown, providerNames[ProviderUnknown], gateway
}

// normalizeHost lower-cases a DNS name and drops the root dot.
func normalizeHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// underDomain reports whether host belongs to the same registrable domain
// (public suffix plus one label) as domain, so that mail.acme.com serves
// sales.acme.com.
func underDomain(host, domain string) bool {
	domain = normalizeHost(domain)
	if host == domain || strings.HasSuffix(host, "."+domain) {
		return true
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(domain)
	if err != nil {
		return false
	}
	return host == reg || strings.HasSuffix(host, "."+reg)
}
