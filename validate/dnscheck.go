package validate

import (
	"cmp"
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNSChecker adapts a Resolver to the engine's DomainChecker seam, without
// caching: every call asks DNS. The cache package wraps it.
type DNSChecker struct {
	Resolver Resolver
}

var _ DomainChecker = DNSChecker{}

// CheckDomain looks the domain up; the second result (served from a cache)
// is always false here.
func (c DNSChecker) CheckDomain(ctx context.Context, asciiDomain string) (DomainFacts, bool) {
	return LookupDomain(ctx, c.Resolver, asciiDomain), false
}

// The questions LookupDomain asks, by index into its answers.
const (
	askMX = iota
	askA
	askAAAA
	askTXT
	askDMARC
	askCount
)

// LookupDomain gathers a domain's mail facts. Lookups run in parallel (one
// round trip in total): MX, A, AAAA and TXT at the domain, TXT at
// _dmarc.<domain>. A and AAAA are always asked so that the implicit MX
// needs no second round trip, but they decide the outcome only when the
// domain has no MX records (RFC 5321 §5.1).
//
// Only a definite answer may make a domain look bad: NXDOMAIN gives
// DNSNXDomain, while SERVFAIL, REFUSED, timeouts and network errors give
// DNSError with an Error such as "MX: SERVFAIL" or "MX: timeout". A failed
// TXT lookup marks SPF or DMARC LookupFailed and leaves Status alone.
//
// TTL is the smallest TTL of the answers the facts rest on: the MX answer
// (CNAMEs included) when MX records exist, else the MX NODATA and the A and
// AAAA answers; plus the SPF and DMARC records when found. Negative answers
// count with their SOA's min(TTL, MINIMUM) (RFC 2308 §5); a negative answer
// without an SOA makes TTL zero (unknown), and so does Status DNSError.
// When MX records exist the A/AAAA answers are not used, so their TTLs do
// not count; nor does the absence of SPF or DMARC.
//
// Under AddressesWhenNeeded, A and AAAA are asked only when the MX answer
// leaves them something to decide.
func LookupDomain(ctx context.Context, r Resolver, asciiDomain string) DomainFacts {
	domain := strings.TrimSuffix(strings.ToLower(asciiDomain), ".")
	if domain == "" {
		return DomainFacts{Status: DNSError, Error: "MX: invalid name"}
	}
	if addressesWhenNeeded(ctx) {
		return lookupDomainMXFirst(ctx, r, domain)
	}
	questions := [askCount]struct {
		name  string
		qtype uint16
	}{
		askMX:    {domain, dns.TypeMX},
		askA:     {domain, dns.TypeA},
		askAAAA:  {domain, dns.TypeAAAA},
		askTXT:   {domain, dns.TypeTXT},
		askDMARC: {"_dmarc." + domain, dns.TypeTXT},
	}
	var answers [askCount]dnsAnswer
	var wg sync.WaitGroup
	for i, q := range questions {
		wg.Go(func() {
			msg, err := r.Query(ctx, q.name, q.qtype)
			answers[i] = dnsAnswer{msg: msg, err: err}
		})
	}
	wg.Wait()
	return domainFacts(answers)
}

// dnsAnswer is the outcome of one question: a message, or an error when no
// server answered.
type dnsAnswer struct {
	msg *dns.Msg
	err error
}

// failed reports an answer that decides nothing: no answer at all, or an
// rcode other than NOERROR and NXDOMAIN (SERVFAIL, REFUSED, ...).
func (a dnsAnswer) failed() bool {
	return a.err != nil || a.msg == nil ||
		(a.msg.Rcode != dns.RcodeSuccess && a.msg.Rcode != dns.RcodeNameError)
}

// nxdomain reports a definite "this name does not exist". With a CNAME
// chain the rcode speaks for the last name of the chain (RFC 6604), which
// is the name mail would go to.
func (a dnsAnswer) nxdomain() bool {
	return !a.failed() && a.msg.Rcode == dns.RcodeNameError
}

// failure names why a failed answer failed, in the words clients see in
// DomainFacts.Error. Internal details (addresses, socket errors) stay out.
func (a dnsAnswer) failure() string {
	switch {
	case a.err == nil && a.msg != nil:
		if s, ok := dns.RcodeToString[a.msg.Rcode]; ok {
			return s
		}
		return "RCODE" + strconv.Itoa(a.msg.Rcode)
	case a.err == nil:
		return "no answer"
	case errors.Is(a.err, errInvalidName):
		return "invalid name"
	case errors.Is(a.err, context.Canceled):
		return "canceled"
	case errors.Is(a.err, context.DeadlineExceeded), errors.Is(a.err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(a.err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "network error"
}

// dnsErrorMessage is the message of a dns_error verdict, from the Error of
// the facts ("MX: SERVFAIL", "A: timeout; AAAA: network error"): each kind
// of failure says what happened, in words for the person filling in a form,
// and that the address may be fine. When several questions failed, the
// first named decides.
func dnsErrorMessage(factsError string) string {
	first, _, _ := strings.Cut(factsError, ";")
	_, what, _ := strings.Cut(first, ": ")
	switch strings.TrimSpace(what) {
	case "timeout":
		return "the domain's name servers did not answer in time; the address may be fine, try again later"
	case "SERVFAIL":
		return "the domain's name servers failed to answer (SERVFAIL), often a fault on their side; the address may be fine, try again later"
	case "REFUSED":
		return "the name servers refused to answer for this domain (REFUSED); the address may be fine, try again later"
	case "network error":
		return "we could not reach our DNS servers to check the domain; the address may be fine, try again later"
	case "canceled":
		return "the check was stopped before DNS answered; the address may be fine, try again"
	default:
		return "DNS gave no usable answer for the domain; the address may be fine, try again later"
	}
}

// has reports whether the answer holds at least one record of rrtype.
func (a dnsAnswer) has(rrtype uint16) bool {
	if a.failed() {
		return false
	}
	for _, rr := range a.msg.Answer {
		if rr.Header().Rrtype == rrtype {
			return true
		}
	}
	return false
}

// ttlFloor keeps the smallest TTL seen. A source without a TTL (a negative
// answer without an SOA) makes the whole result unknown: zero.
type ttlFloor struct {
	min     uint32
	seen    bool
	unknown bool
}

func (t *ttlFloor) add(ttl uint32) {
	if !t.seen || ttl < t.min {
		t.min = ttl
	}
	t.seen = true
}

// addAnswer adds the TTL of every record in the answer section, CNAMEs
// included: the facts hold only as long as the whole chain does.
func (t *ttlFloor) addAnswer(a dnsAnswer) {
	if len(a.msg.Answer) == 0 {
		t.unknown = true
		return
	}
	for _, rr := range a.msg.Answer {
		t.add(rr.Header().Ttl)
	}
}

// addNegative adds the negative-caching TTL of an NXDOMAIN or NODATA
// answer: the smaller of the SOA record's own TTL and its MINIMUM field
// (RFC 2308 §5). CNAMEs on the way count too.
func (t *ttlFloor) addNegative(a dnsAnswer) {
	for _, rr := range a.msg.Answer {
		t.add(rr.Header().Ttl)
	}
	for _, rr := range a.msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			t.add(min(soa.Hdr.Ttl, soa.Minttl))
			return
		}
	}
	t.unknown = true
}

func (t ttlFloor) duration() time.Duration {
	if t.unknown || !t.seen {
		return 0
	}
	return time.Duration(t.min) * time.Second
}

// domainFacts decides the facts from the five answers.
func domainFacts(ans [askCount]dnsAnswer) DomainFacts {
	mx, a, aaaa := ans[askMX], ans[askA], ans[askAAAA]
	f := DomainFacts{
		Status:  DNSOK,
		HasA:    a.has(dns.TypeA),
		HasAAAA: aaaa.has(dns.TypeAAAA),
	}
	var spfTTL, dmarcTTL uint32
	f.SPF, spfTTL = readSPF(ans[askTXT])
	f.DMARC, dmarcTTL = readDMARC(ans[askDMARC])

	var ttl ttlFloor
	switch {
	case mx.nxdomain():
		f.Status = DNSNXDomain
		ttl.addNegative(mx)
		f.TTL = ttl.duration()
		return f

	case mx.failed():
		// A failure is never read as "no such domain", but an NXDOMAIN for
		// the same name from the A or AAAA question is definite on its own.
		for _, other := range []dnsAnswer{a, aaaa} {
			if other.nxdomain() {
				f.Status = DNSNXDomain
				ttl.addNegative(other)
				f.TTL = ttl.duration()
				return f
			}
		}
		f.Status = DNSError
		f.Error = "MX: " + mx.failure()
		return f
	}

	f.MX, f.NullMX = readMX(mx)
	if len(f.MX) > 0 {
		ttl.addAnswer(mx)
	} else {
		// No MX records: the domain itself is the implicit MX (RFC 5321
		// §5.1), so its A/AAAA decide. If neither shows an address and one
		// of them failed, we cannot tell "no mail server" from "DNS broke".
		ttl.addNegative(mx)
		if !f.HasA && !f.HasAAAA && (a.failed() || aaaa.failed()) {
			var errs []string
			if a.failed() {
				errs = append(errs, "A: "+a.failure())
			}
			if aaaa.failed() {
				errs = append(errs, "AAAA: "+aaaa.failure())
			}
			f.Status = DNSError
			f.Error = strings.Join(errs, "; ")
			return f
		}
		for _, addr := range []dnsAnswer{a, aaaa} {
			switch {
			case addr.failed():
				// The other one has an address; this one adds nothing.
			case addr.msg.Rcode == dns.RcodeSuccess && len(addr.msg.Answer) > 0:
				ttl.addAnswer(addr)
			default:
				ttl.addNegative(addr)
			}
		}
	}
	if f.SPF.Found {
		ttl.add(spfTTL)
	}
	if f.DMARC.Found {
		ttl.add(dmarcTTL)
	}
	f.TTL = ttl.duration()
	return f
}

// nullMXHost is how a null MX exchange (the root name) appears in MX.
const nullMXHost = "."

// readMX returns the MX records of a NOERROR answer, hosts lower-cased and
// without the trailing dot, sorted by preference then host, and whether the
// domain has a null MX.
//
// RFC 7505 §3 defines the null MX as a single MX with preference 0 and the
// root as exchange, and says a domain that publishes one MUST NOT publish
// other MX records. We read it this way:
//   - every MX has the root as exchange (normally exactly one, "0 ."): null
//     MX. MX then holds that record, {".", 0}, so that "MX records exist and
//     A/AAAA must not be used" (RFC 5321 §5.1) stays true for any reader.
//   - the root next to real exchanges breaks that MUST NOT; a sender
//     following RFC 5321 would skip the unusable "." and deliver to the
//     others, so we drop it and report the others, with NullMX false.
//
// Records are taken from the answer section whatever their owner, so a
// CNAME chain (alias -> target with MX) yields the target's MX.
func readMX(a dnsAnswer) ([]MX, bool) {
	var hosts, nulls []MX
	for _, rr := range a.msg.Answer {
		m, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		if m.Mx == "." {
			nulls = append(nulls, MX{Host: nullMXHost, Preference: m.Preference})
			continue
		}
		hosts = append(hosts, MX{
			Host:       strings.TrimSuffix(strings.ToLower(m.Mx), "."),
			Preference: m.Preference,
		})
	}
	if len(hosts) == 0 && len(nulls) > 0 {
		return nulls[:1], true
	}
	slices.SortFunc(hosts, func(x, y MX) int {
		return cmp.Or(cmp.Compare(x.Preference, y.Preference), strings.Compare(x.Host, y.Host))
	})
	return slices.Compact(hosts), false
}

// txtRecords returns each TXT record of the answer as one string, with the
// record's character-strings concatenated (RFC 7208 §3.3, RFC 7489 §6.1:
// a long record is split into strings of at most 255 octets), and its TTL.
func txtRecords(a dnsAnswer) (records []string, ttls []uint32) {
	for _, rr := range a.msg.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			var b strings.Builder
			for _, part := range t.Txt {
				b.WriteString(txtUnescape(part))
			}
			records = append(records, b.String())
			ttls = append(ttls, t.Hdr.Ttl)
		}
	}
	return records, ttls
}

// txtUnescape turns a TXT string as miekg/dns unpacks it (presentation
// form: `\"` and `\\` for quote and backslash, `\DDD` for bytes outside
// printable ASCII) back into the octets on the wire, so a tab is a tab when
// the SPF and DMARC readers look for separators.
func txtUnescape(s string) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && txtDigit(s[i+1]) && txtDigit(s[i+2]) && txtDigit(s[i+3]) {
			if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n <= 0xff {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

// txtDigit reports an ASCII digit of a \DDD escape.
func txtDigit(c byte) bool { return '0' <= c && c <= '9' }

// readSPF finds the domain's SPF record among its TXT records (RFC 7208
// §4.5) and returns it with its TTL. Exactly one record must start with the
// version "v=spf1"; none means no SPF, and several is a permerror, which we
// also report as not found since no policy applies.
func readSPF(a dnsAnswer) (PolicyRecord, uint32) {
	if a.failed() {
		return PolicyRecord{LookupFailed: true}, 0
	}
	records, ttls := txtRecords(a)
	var found []int
	for i, rec := range records {
		if isSPFRecord(rec) {
			found = append(found, i)
		}
	}
	if len(found) != 1 {
		return PolicyRecord{}, 0
	}
	rec := records[found[0]]
	return PolicyRecord{Found: true, Record: rec, Policy: spfAllPolicy(rec)}, ttls[found[0]]
}

// spfVersion is the version section every SPF record starts with.
const spfVersion = "v=spf1"

// isSPFRecord reports whether a TXT record is an SPF record: it starts with
// "v=spf1" followed by a space or the end (RFC 7208 §4.5), so "v=spf10" is
// not one. The ABNF literal is case-insensitive (RFC 5234 §2.3), so
// "V=SPF1" counts too.
func isSPFRecord(rec string) bool {
	if len(rec) < len(spfVersion) || !strings.EqualFold(rec[:len(spfVersion)], spfVersion) {
		return false
	}
	return len(rec) == len(spfVersion) || rec[len(spfVersion)] == ' '
}

// spfAllPolicy returns the record's "all" mechanism with its qualifier:
// "-all", "~all", "?all" or "+all" ("all" alone means "+all", RFC 7208
// §4.6.2). Terms are separated by spaces (RFC 7208 §4.6.1) and evaluated
// left to right, and "all" always matches, so the first "all" is the one
// that counts. Without one the result is "" (the record may end in a
// redirect= modifier, which we do not follow). The caller has checked that
// rec is an SPF record.
func spfAllPolicy(rec string) string {
	for term := range strings.SplitSeq(rec[len(spfVersion):], " ") {
		if term == "" {
			continue
		}
		qualifier := byte('+')
		switch term[0] {
		case '+', '-', '~', '?':
			qualifier = term[0]
			term = term[1:]
		}
		if strings.EqualFold(term, "all") {
			return string(qualifier) + "all"
		}
	}
	return ""
}

// readDMARC finds the DMARC record among the TXT records at _dmarc.<domain>
// (RFC 7489 §6.6.3): records that do not start with the v=DMARC1 tag are
// discarded, and unless exactly one remains there is no DMARC policy.
// NXDOMAIN at _dmarc is simply "no DMARC"; so is a name too long to ask.
func readDMARC(a dnsAnswer) (PolicyRecord, uint32) {
	if errors.Is(a.err, errInvalidName) {
		return PolicyRecord{}, 0
	}
	if a.failed() {
		return PolicyRecord{LookupFailed: true}, 0
	}
	records, ttls := txtRecords(a)
	found, policy := -1, ""
	for i, rec := range records {
		p, ok := dmarcPolicy(rec)
		if !ok {
			continue
		}
		if found >= 0 {
			return PolicyRecord{}, 0
		}
		found, policy = i, p
	}
	if found < 0 {
		return PolicyRecord{}, 0
	}
	return PolicyRecord{Found: true, Record: records[found], Policy: policy}, ttls[found]
}

// dmarcPolicy reads a DMARC record (RFC 7489 §6.4). ok is false unless the
// record's first tag is v=DMARC1: the tag name may be any case and have
// spaces or tabs around "=", but the value must be exactly "DMARC1". policy
// is the p= tag lower-cased when it is one of none, quarantine and reject,
// else "" (a record without a valid p= gets no policy from us).
func dmarcPolicy(rec string) (policy string, ok bool) {
	tags := strings.Split(rec, ";")
	name, value, found := strings.Cut(tags[0], "=")
	if !found || !strings.EqualFold(strings.TrimRight(name, " \t"), "v") ||
		strings.Trim(value, " \t") != "DMARC1" {
		return "", false
	}
	for _, tag := range tags[1:] {
		name, value, found := strings.Cut(tag, "=")
		if !found || !strings.EqualFold(strings.Trim(name, " \t"), "p") {
			continue
		}
		switch p := strings.ToLower(strings.Trim(value, " \t")); p {
		case "none", "quarantine", "reject":
			return p, true
		default:
			return "", true
		}
	}
	return "", true
}
