package validate

import (
	"slices"
	"strings"
	"testing"
)

func TestSuggestDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		domain string
		want   string
	}{
		// One edit away from a popular provider.
		{"gmial.com", "gmail.com"},
		{"gmai.com", "gmail.com"},
		{"gmal.com", "gmail.com"},
		{"gnail.com", "gmail.com"},
		{"gmaill.com", "gmail.com"},
		{"gamil.com", "gmail.com"},
		{"gmali.com", "gmail.com"},
		{"gmil.com", "gmail.com"},
		{"gmaik.com", "gmail.com"},
		{"gmsil.com", "gmail.com"},
		{"gmail.co", "gmail.com"},
		{"gmail.cm", "gmail.com"},
		{"gmail.con", "gmail.com"},
		{"gmail.cmo", "gmail.com"},
		{"gmail.ocm", "gmail.com"},
		{"gmail.om", "gmail.com"},
		{"gmail.comm", "gmail.com"},
		{"gmail.xom", "gmail.com"},
		{"gmail.vom", "gmail.com"},
		{"gmail.cpm", "gmail.com"},
		{"gmailc.om", "gmail.com"},
		{"GMIAL.COM", "gmail.com"},
		{"gmial.com.", "gmail.com"},
		{"hotmial.com", "hotmail.com"},
		{"hotmai.com", "hotmail.com"},
		{"hotmal.com", "hotmail.com"},
		{"hotamil.com", "hotmail.com"},
		{"hotmali.com", "hotmail.com"},
		{"hotmaill.com", "hotmail.com"},
		{"hitmail.com", "hotmail.com"},
		{"hotnail.com", "hotmail.com"},
		{"otmail.com", "hotmail.com"},
		{"hotmail.co", "hotmail.com"},
		{"hotmail.con", "hotmail.com"},
		{"hotmial.co.uk", "hotmail.co.uk"},
		{"hotmail.co.uj", "hotmail.co.uk"},
		{"yaho.com", "yahoo.com"},
		{"yahooo.com", "yahoo.com"},
		{"yhaoo.com", "yahoo.com"},
		{"yahho.com", "yahoo.com"},
		{"yahoo.cmo", "yahoo.com"},
		{"yahoo.con", "yahoo.com"},
		{"yahoo.co", "yahoo.com"},
		{"yahoo.co.uj", "yahoo.co.uk"},
		{"yaoo.fr", "yahoo.fr"},
		{"outlok.com", "outlook.com"},
		{"outllok.com", "outlook.com"},
		{"outlook.co", "outlook.com"},
		{"outloook.com", "outlook.com"},
		{"outiook.com", "outlook.com"},
		{"otulook.com", "outlook.com"},
		{"iclod.com", "icloud.com"},
		{"icoud.com", "icloud.com"},
		{"iclould.com", "icloud.com"},
		{"icluod.com", "icloud.com"},
		{"icloud.con", "icloud.com"},
		{"aol.co", "aol.com"},
		{"aol.con", "aol.com"},
		{"live.co", "live.com"},
		{"msn.co", "msn.com"},
		{"me.con", "me.com"},
		{"gmx.co", "gmx.com"},
		{"gmx.con", "gmx.com"},
		{"googlemial.com", "googlemail.com"},
		{"googlemail.co", "googlemail.com"},
		{"protonmial.com", "protonmail.com"},
		{"protonmai.com", "protonmail.com"},
		{"comcats.net", "comcast.net"},
		{"comcast.ner", "comcast.net"},
		{"verizon.ent", "verizon.net"},
		{"verizn.net", "verizon.net"},
		{"sbcglbal.net", "sbcglobal.net"},
		{"bellsouth.ent", "bellsouth.net"},
		{"yandex.rj", "yandex.ru"},
		{"yandx.ru", "yandex.ru"},
		{"btinternet.co", "btinternet.com"},
		{"btinternt.com", "btinternet.com"},
		{"rocketmial.com", "rocketmail.com"},
		// One edit in the name and one in the ending.
		{"gmial.con", "gmail.com"},
		{"gmial.co", "gmail.com"},
		{"hotmial.con", "hotmail.com"},
		{"yahooo.cmo", "yahoo.com"},
		{"outlok.con", "outlook.com"},
		// An exact name with a non-existent ending two edits away.
		{"gmail.c", "gmail.com"},
		{"gmail.cmoo", "gmail.com"},
		// A non-existent TLD on any domain.
		{"acme.con", "acme.com"},
		{"acme.cmo", "acme.com"},
		{"example.comm", "example.com"},
		{"example.ocm", "example.com"},
		{"example.nte", "example.net"},
		{"example.ogr", "example.org"},
		{"example.co.uj", "example.co.uk"},
		{"mail.acme.con", "mail.acme.com"},
		// Fixing the ending reveals a provider typo; the suggestion goes all the way.
		{"ymal.0co", "ymail.com"},
		{"uni-example.eud", "uni-example.edu"},

		// Popular and well-known free domains are left alone.
		{"gmail.com", ""},
		{"googlemail.com", ""},
		{"yahoo.com", ""},
		{"yahoo.co.uk", ""},
		{"yahoo.de", ""},
		{"hotmail.com", ""},
		{"hotmail.fr", ""},
		{"hotmail.se", ""},
		{"outlook.com", ""},
		{"outlook.de", ""},
		{"live.com", ""},
		{"live.ca", ""},
		{"msn.com", ""},
		{"icloud.com", ""},
		{"me.com", ""},
		{"mac.com", ""},
		{"aol.com", ""},
		{"proton.me", ""},
		{"protonmail.com", ""},
		{"pm.me", ""},
		{"gmx.com", ""},
		{"gmx.de", ""},
		{"gmx.net", ""},
		{"gmx.at", ""},
		{"web.de", ""},
		{"mail.com", ""},
		{"email.com", ""},
		{"ymail.com", ""},
		{"y7mail.com", ""},
		{"rocketmail.com", ""},
		{"yandex.ru", ""},
		{"yandex.com", ""},
		{"ya.ru", ""},
		{"mail.ru", ""},
		{"bk.ru", ""},
		{"inbox.ru", ""},
		{"list.ru", ""},
		{"comcast.net", ""},
		{"att.net", ""},
		{"verizon.net", ""},
		{"earthling.net", ""},
		{"libero.it", ""},
		{"orange.fr", ""},
		{"naver.com", ""},
		{"qq.com", ""},
		{"163.com", ""},
		{"126.com", ""},
		{"t-online.de", ""},
		{"fastmail.com", ""},
		{"hey.com", ""},
		{"zoho.com", ""},

		// Real domains close to a provider must get no suggestion.
		{"gmx.de", ""},
		{"ibm.com", ""},
		{"mit.edu", ""},
		{"acme.com", ""},
		{"apple.com", ""},
		{"google.com", ""},
		{"hotmart.com", ""},
		{"cloud.com", ""},
		{"wahoo.com", ""},
		{"never.com", ""},
		{"libera.it", ""},
		{"oranje.nl", ""},
		{"att.com", ""},
		{"verizon.com", ""},
		{"comcast.com", ""},
		{"web.com", ""},
		{"web.be", ""},
		{"gmx.dk", ""},
		{"mail.co", "mail.com"},
		{"main.com", ""},
		{"mall.com", ""},
		{"life.com", ""},
		{"love.com", ""},
		{"aoll.com", ""},
		{"mw.com", ""},
		{"msm.com", ""},
		{"amd.com", ""},
		{"hp.com", ""},
		{"ge.com", ""},
		{"3m.com", ""},
		{"ups.com", ""},
		{"bmw.de", ""},
		{"sap.com", ""},
		{"gap.com", ""},
		{"gm.com", ""},
		{"yahoo-inc.com", ""},
		{"googlemaps.com", ""},
		{"gmail.ru", ""},
		{"gmail.de", ""},
		{"gmail.cz", ""},
		{"gmail.co.uk", ""},
		{"mail.google.com", ""},
		{"eng.gmial.example", ""},
		{"hotels.com", ""},
		{"outlook.office365.com", ""},
		{"microsoft.com", ""},
		{"amazon.com", ""},
		{"stanford.edu", ""},
		{"ox.ac.uk", ""},
		{"cam.ac.uk", ""},
		{"harvard.edu", ""},
		{"ethz.ch", ""},
		{"tum.de", ""},
		{"siemens.de", ""},
		{"bund.de", ""},
		{"gov.uk", ""},
		{"nhs.net", ""},
		{"nasa.gov", ""},
		{"who.int", ""},
		{"europa.eu", ""},
		{"example.com", ""},
		{"example.co", ""},
		{"example.cm", ""},
		{"example.io", ""},
		{"example.dev", ""},
		{"example.museum", ""},
		{"startup.ai", ""},
		{"shop.co.uk", ""},
		{"mailchimp.com", ""},
		{"mailgun.com", ""},
		{"gmailify.com", ""},
		{"hotjar.com", ""},
		{"outreach.io", ""},
		{"yammer.com", ""},
		{"icloud-content.com", ""},
		{"protonvpn.com", ""},
		{"xn--bcher-kva.de", ""},
		{"bücher.de", ""},
		{"co.uk", ""},
		{"com", ""},
		{"", ""},
		{"gmail", ""},
		// A non-existent TLD too far from every popular ending.
		{"example.zzzz", ""},
		// Two popular endings equally close and neither generic.
		{"example.uj", ""},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			t.Parallel()
			if got := SuggestDomain(tt.domain); got != tt.want {
				t.Errorf("SuggestDomain(%q) = %q, want %q", tt.domain, got, tt.want)
			}
		})
	}
}

// Suggestions must be usable as they are: a popular domain or a domain that
// parses, and never the input itself.
func TestSuggestDomainResultParses(t *testing.T) {
	t.Parallel()
	inputs := []string{"gmial.com", "acme.con", "example.co.uj", "hotmial.co.uk", "gmail.c", "mail.acme.con"}
	for _, in := range inputs {
		got := SuggestDomain(in)
		if got == "" || got == in {
			t.Errorf("SuggestDomain(%q) = %q, want a different domain", in, got)
			continue
		}
		d, err := ParseDomain(got)
		if err != nil {
			t.Errorf("SuggestDomain(%q) = %q, which does not parse: %v", in, got, err)
			continue
		}
		if d.ASCII != got {
			t.Errorf("SuggestDomain(%q) = %q, whose ASCII form is %q", in, got, d.ASCII)
		}
	}
}

// Every free-provider domain shipped with the binary is correct as typed,
// except the registered typos the suggester corrects on purpose.
func TestSuggestDomainLeavesFreeListAlone(t *testing.T) {
	t.Parallel()
	for _, d := range strings.Fields(string(embeddedFree)) {
		if slices.Contains(freeListTypos, d) {
			if got := SuggestDomain(d); got == "" {
				t.Errorf("SuggestDomain(%q) = \"\", want a correction for a listed typo", d)
			}
			continue
		}
		if got := SuggestDomain(d); got != "" {
			t.Errorf("SuggestDomain(%q) = %q, want \"\" for a free provider", d, got)
		}
	}
}

func TestPopularDomainsAreValid(t *testing.T) {
	t.Parallel()
	for _, p := range popularDomains {
		d, err := ParseDomain(p)
		if err != nil {
			t.Errorf("popular domain %q does not parse: %v", p, err)
			continue
		}
		if d.ASCII != p {
			t.Errorf("popular domain %q has ASCII form %q, want it written in ASCII", p, d.ASCII)
		}
	}
	for _, tld := range popularTLDs {
		labels := strings.Split(tld, ".")
		if !isRealTLD(labels[len(labels)-1]) {
			t.Errorf("popular TLD %q does not end in a delegated TLD", tld)
		}
	}
}

func TestOSADistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"", "", 2, 0},
		{"gmail", "gmail", 2, 0},
		{"gmial", "gmail", 2, 1}, // a swap costs one
		{"gmai", "gmail", 2, 1},
		{"gmaill", "gmail", 2, 1},
		{"gnail", "gmail", 2, 1},
		{"hotmart", "hotmail", 2, 2},
		{"ca", "abc", 3, 3}, // OSA, unlike full Damerau, edits no substring twice
		{"gmx", "aol", 2, 3},
		{"abcdef", "a", 2, 3},
		{"abcdef", "ghijkl", 2, 3},
		{"abcdef", "ghijkl", 10, 6},
		{"", "abc", 5, 3},
		{"abc", "", 5, 3},
	}
	for _, tt := range tests {
		if got := osaDistance(tt.a, tt.b, tt.limit); got != tt.want {
			t.Errorf("osaDistance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
		if got := osaDistance(tt.b, tt.a, tt.limit); got != tt.want {
			t.Errorf("osaDistance(%q, %q, %d) = %d, want %d", tt.b, tt.a, tt.limit, got, tt.want)
		}
	}
}

func FuzzSuggestDomain(f *testing.F) {
	for _, s := range []string{"gmial.com", "acme.con", "example.co.uj", "gmail.c", "a.b", ".", "..", "x..con"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := SuggestDomain(s)
		if got == "" {
			return
		}
		if got == strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".") {
			t.Fatalf("SuggestDomain(%q) = %q, the input itself", s, got)
		}
		if SuggestDomain(got) != "" {
			// A suggestion is a fixed point: suggesting again changes nothing.
			t.Fatalf("SuggestDomain(%q) = %q, which itself gets suggestion %q", s, got, SuggestDomain(got))
		}
	})
}

func BenchmarkSuggestDomain(b *testing.B) {
	domains := []string{"unknown-company.com", "acme.com", "gmial.com", "example.co.uk", "mail.ru", "startup.io"}
	for b.Loop() {
		for _, d := range domains {
			SuggestDomain(d)
		}
	}
}
