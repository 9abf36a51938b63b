package validate

import (
	"slices"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// popularDomains are the mailbox providers whose typos are worth correcting,
// most used first: when two are equally close, the earlier one wins. The list
// is short on purpose. Every entry is a target that a real domain could be
// mistaken for, so only providers that hold a large share of lead addresses
// belong here, and names one letter away from common words (naver/never,
// libero/libera, orange/oranje) are left out.
var popularDomains = []string{
	"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com",
	"aol.com", "live.com", "msn.com", "me.com", "mac.com", "googlemail.com",
	"proton.me", "protonmail.com", "gmx.com", "gmx.de", "gmx.net", "web.de",
	"mail.com", "yandex.ru", "yandex.com", "mail.ru", "comcast.net", "att.net",
	"verizon.net", "sbcglobal.net", "bellsouth.net", "charter.net", "cox.net",
	"earthlink.net", "ymail.com", "rocketmail.com", "yahoo.co.uk",
	"hotmail.co.uk", "live.co.uk", "outlook.co.uk", "btinternet.com",
	"yahoo.fr", "hotmail.fr", "wanadoo.fr", "laposte.net",
	"yahoo.de", "hotmail.de", "t-online.de", "freenet.de", "yahoo.es",
	"hotmail.es", "yahoo.it", "hotmail.it", "yahoo.ca",
	"hotmail.ca", "yahoo.com.br", "hotmail.com.br", "uol.com.br",
	"yahoo.co.jp", "yahoo.co.in", "rediffmail.com", "qq.com", "163.com",
	"zoho.com", "fastmail.com", "tutanota.com",
}

// genericTLDs are the top-level domains a mistyped real TLD may be corrected
// to: "gmail.co" and "gmail.cm" are slips for .com, while "gmx.dk" is more
// likely a real Danish domain than a slip for gmx.de.
var genericTLDs = []string{"com", "net", "org"}

// popularTLDs are the endings a non-existent TLD is corrected to ("acme.con"
// becomes "acme.com"), most used first. Ties between the first three are
// resolved in this order; other ties are too ambiguous to suggest anything.
var popularTLDs = []string{
	"com", "net", "org", "edu", "gov", "info", "biz", "io",
	"co.uk", "org.uk", "ac.uk", "com.au", "com.br", "co.jp", "co.in",
	"co.nz", "co.za", "com.mx", "com.ar",
	"de", "fr", "it", "es", "nl", "ru", "jp", "br", "ca", "au", "in", "ch",
	"be", "at", "pl", "se", "no", "dk", "fi", "ie", "pt", "cz", "me", "co",
	"us", "uk", "mx", "ar", "cn", "kr", "nz", "za", "tr", "gr", "hu", "ro",
	"ua", "il", "sg", "hk", "tw",
}

// freeListTypos are entries of the embedded free-provider list that are
// registered typos of a popular provider (typo-squats or defensive
// registrations): they may receive mail, but a person who types one almost
// always meant the provider.
var freeListTypos = []string{
	"hitmail.com", "hotmail.co", "outiook.com", "sbcglbal.net", "yaho.com",
	"yahoo.co",
}

// SuggestDomain returns a likely intended domain for a mistyped one, or ""
// when there is no confident guess. It takes the lower-case ASCII domain (as
// in Address.ASCIIDomain) and feeds "did you mean", so a wrong suggestion
// costs more than a missing one.
//
// It works as mailcheck does, with tighter limits. First the whole domain is
// compared with the popular provider domains: one edit (a missing, extra or
// wrong letter, or two letters swapped) is corrected, as in gmial.com,
// yahooo.com or gmail.con. Then the first label and the rest are compared
// separately, allowing one edit in each (gmial.con). Last, a top-level
// domain that does not exist is corrected to the closest popular one
// (acme.con becomes acme.com).
//
// It never suggests anything for a popular or well-known free-provider domain
// (mail.com, ymail.com, gmx.net), and it limits edits where a real domain is
// likely: a provider name shorter than five letters (aol, gmx, me, live) is
// never edited, only its ending (gmx.co becomes gmx.com, aoll.com stays); in
// five- and six-letter names the first letter is never changed (cloud.com
// does not become icloud.com); an existing TLD is only corrected to .com,
// .net or .org; and provider corrections apply to whole domains only, so
// mail.gmial.com is left alone.
func SuggestDomain(domain string) string {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	if !strings.Contains(d, ".") || !isASCIIText(d) || isKnownDomain(d) {
		return ""
	}
	if s := suggestWhole(d); s != "" {
		return s
	}
	if s := suggestParts(d); s != "" {
		return s
	}
	s := suggestTLD(d)
	if s == "" || isKnownDomain(s) {
		return s
	}
	// With its ending fixed the domain may turn out to be a provider's
	// typo too (gmal.cmoo → gmal.com → gmail.com); a suggestion must not
	// itself need another.
	if p := suggestWhole(s); p != "" {
		return p
	}
	if p := suggestParts(s); p != "" {
		return p
	}
	return s
}

// isKnownDomain reports domains that are correct as typed.
func isKnownDomain(d string) bool {
	if slices.Contains(popularDomains, d) {
		return true
	}
	if slices.Contains(freeListTypos, d) {
		return false
	}
	_, ok := embeddedFreeDomains()[d]
	return ok
}

// suggestWhole finds a popular domain one edit away from d.
func suggestWhole(d string) string {
	for _, p := range popularDomains {
		if lenDiffAbs(len(p)-len(d)) > 1 || osaDistance(d, p, 1) != 1 {
			continue
		}
		sld, tld, _ := strings.Cut(d, ".")
		psld, ptld, _ := strings.Cut(p, ".")
		if sldEditAllowed(sld, psld) && tldEditAllowed(tld, ptld) {
			return p
		}
	}
	return ""
}

// suggestParts compares the first label and the rest of d separately with
// each popular domain: at most one edit in each, the fewest edits winning.
func suggestParts(d string) string {
	sld, tld, _ := strings.Cut(d, ".")
	best, bestCost := "", 3
	for _, p := range popularDomains {
		psld, ptld, _ := strings.Cut(p, ".")
		ds := osaDistance(sld, psld, 1)
		if ds > 1 || !sldEditAllowed(sld, psld) {
			continue
		}
		dt := osaDistance(tld, ptld, 2)
		maxTLDEdits := 1
		if ds == 0 && !isRealTLD(lastDomainLabel(tld)) {
			// The provider name is exact and the ending does not exist:
			// "gmail.c" and "gmail.cmoo" can only mean one thing.
			maxTLDEdits = 2
		}
		if dt > maxTLDEdits || !tldEditAllowed(tld, ptld) {
			continue
		}
		if cost := ds + dt; cost > 0 && cost < bestCost {
			best, bestCost = p, cost
		}
	}
	return best
}

// suggestTLD corrects a top-level domain that does not exist, keeping the
// rest of d: one edit away from a popular ending, preferring endings of more
// labels ("acme.co.uj" becomes "acme.co.uk", not "acme.co.us").
func suggestTLD(d string) string {
	labels := strings.Split(d, ".")
	if isRealTLD(labels[len(labels)-1]) {
		return ""
	}
	best, bestLabels, tie := "", 0, false
	for _, t := range popularTLDs {
		n := strings.Count(t, ".") + 1
		if n >= len(labels) || n < bestLabels {
			continue
		}
		tail := strings.Join(labels[len(labels)-n:], ".")
		if osaDistance(tail, t, 1) != 1 {
			continue
		}
		switch {
		case best == "" || n > bestLabels:
			best, bestLabels, tie = t, n, false
		case !slices.Contains(genericTLDs, best):
			// Two equally close endings and the first is not one of the
			// generic three: no confident guess.
			tie = true
		}
	}
	if best == "" || tie {
		return ""
	}
	return strings.Join(labels[:len(labels)-bestLabels], ".") + "." + best
}

// sldEditAllowed says whether typed may be corrected to the provider name
// want: names under five letters only when already exact, and in five- and
// six-letter names not at the first letter.
func sldEditAllowed(typed, want string) bool {
	switch {
	case typed == want:
		return true
	case len(want) < 5:
		return false
	case len(want) <= 6:
		return typed != "" && typed[0] == want[0]
	default:
		return true
	}
}

// tldEditAllowed says whether the ending typed may be corrected to want: an
// ending that exists is only corrected to a generic TLD.
func tldEditAllowed(typed, want string) bool {
	if typed == want || !isRealTLD(lastDomainLabel(typed)) {
		return true
	}
	return slices.Contains(genericTLDs, want)
}

// isRealTLD reports whether label is a top-level domain in the ICANN section
// of the public suffix list.
func isRealTLD(label string) bool {
	if label == "" {
		return false
	}
	// The probe may itself be a listed suffix (x.se is one); the ICANN flag
	// is what tells a delegated TLD from the list's default rule.
	_, icann := publicsuffix.PublicSuffix("x." + label)
	return icann
}

func lastDomainLabel(d string) string {
	return d[strings.LastIndexByte(d, '.')+1:]
}

// osaDistance returns the optimal string alignment distance between a and b
// (insertions, deletions, substitutions and swaps of adjacent bytes, each
// costing one), or limit+1 as soon as it is known to exceed limit. The strings
// are ASCII, so bytes are characters.
func osaDistance(a, b string, limit int) int {
	if lenDiffAbs(len(a)-len(b)) > limit {
		return limit + 1
	}
	if len(a) > 250 || len(b) > 250 {
		return limit + 1 // longer than any domain; keeps the cells within a byte
	}
	// Three rows of the dynamic-programming table: two back, previous,
	// current. This runs for every address against every popular domain, so
	// the rows are small byte arrays on the stack.
	var rows [3][64]uint8
	var prev2, prev, cur []uint8
	if len(b) < len(rows[0]) {
		prev2, prev, cur = rows[0][:len(b)+1], rows[1][:len(b)+1], rows[2][:len(b)+1]
	} else {
		prev2, prev, cur = make([]uint8, len(b)+1), make([]uint8, len(b)+1), make([]uint8, len(b)+1)
	}
	for j := range prev {
		prev[j] = uint8(j)
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = uint8(i)
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			var cost uint8 = 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if int(rowMin) > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(int(prev[len(b)]), limit+1)
}

func lenDiffAbs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
