package validate

import (
	"fmt"
	"net"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"
)

// Length limits, in octets. RFC 5321 §4.5.3.1 caps the local part at 64 and
// the forward path at 256 including its angle brackets, which leaves 254 for
// the address; RFC 1035 §2.3.4 caps a label at 63 and a name at 255 octets on
// the wire, which is 253 in dotted form. The address and domain limits count
// the A-label (ASCII) form of the domain, because that is what travels in DNS
// and SMTP.
const (
	maxLocalLength   = 64
	maxAddressLength = 254
	maxDomainLength  = 253
	maxLabelLength   = 63
	// maxInputLength bounds the work done on input that no valid address or
	// domain could be, before any Unicode processing.
	maxInputLength = 1024
)

// idnaProfile is the UTS #46 lookup profile (RFC 5891 §5): it maps case,
// width and compatibility forms, and checks STD3 host rules, hyphens, joiners
// and the Bidi rule. It is built here rather than taken from idna.Lookup so
// that its configuration cannot change under us with a library upgrade. It
// does not check DNS lengths; parseDomainPart does. A *idna.Profile is
// immutable, so sharing it is safe.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
)

// Address is a parsed, known-good email address. Code past ParseAddress uses
// it without checking the syntax again.
type Address struct {
	// Input is the text as received, before trimming.
	Input string
	// Local is the local part. Its case is kept (RFC 5321 §2.4 lets the
	// receiving server treat it as case-sensitive). It is NFC-normalised and
	// minimally quoted: a quoted local part that needs no quotes ("john")
	// becomes john, and escapes are reduced to the two that are needed (\"
	// and \\), as RFC 5321 §4.1.2 asks senders to do.
	Local string
	// Domain is the lower-case Unicode (U-label, NFC) form of the domain,
	// without a trailing root dot: what a person reads.
	Domain string
	// ASCIIDomain is the lower-case A-label form (xn--...) of Domain: what DNS
	// is asked and what caches and lists are keyed on.
	ASCIIDomain string
	// Tag is the sub-address after the first '+' of an unquoted local part,
	// without the '+'; it may be empty ("jane+@example.com").
	Tag string
	// Subaddressed is true when the local part has a '+' after at least one
	// other character. Many providers deliver jane+news to jane.
	Subaddressed bool
	// SMTPUTF8 is true when the local part is not ASCII (RFC 6531). Such an
	// address only works where every server on the way supports SMTPUTF8.
	SMTPUTF8 bool
	// Quoted is true when the local part can only be written as a quoted
	// string ("john doe"). RFC 5321 allows it, but most senders and
	// providers refuse such addresses, so the engine reports them risky
	// (ReasonQuotedLocalPart) rather than the parser rejecting them.
	Quoted bool
}

// Normalized returns the canonical form of the address: the local part as
// typed (case kept, since only the receiving server may decide that Jane and
// jane are the same mailbox) and the domain lower-cased in Unicode form (DNS
// names are case-insensitive). Parsing the result gives the same Address.
func (a Address) Normalized() string {
	return a.Local + "@" + a.Domain
}

// SyntaxError says why a text is not an address or domain we accept. Reason is
// for machines (ReasonInvalidSyntax, ReasonTooLong, ReasonInvalidDomain or
// ReasonIPLiteral); Message is for the person who typed it and says what is
// wrong and how to fix it.
type SyntaxError struct {
	Reason  Reason
	Message string
}

// Error returns the reason and the message.
func (e *SyntaxError) Error() string {
	return string(e.Reason) + ": " + e.Message
}

func syntaxErrorf(reason Reason, format string, args ...any) *SyntaxError {
	return &SyntaxError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Domain is a parsed, known-good bare domain name.
type Domain struct {
	// Input is the text as received.
	Input string
	// Unicode is the lower-case U-label form, without a trailing root dot.
	Unicode string
	// ASCII is the lower-case A-label form of Unicode.
	ASCII string
}

// ParseAddress parses one email address as a person would type it in a lead
// form: surrounding spaces are trimmed, and the result is checked against RFC
// 5321/5322 (dot-atom or quoted local part), RFC 6531 (UTF-8 local parts) and
// IDNA (UTS #46 lookup rules) for the domain, with the DNS and SMTP length
// limits. A failure is a *SyntaxError.
//
// Deliberately narrower than RFC 5322: display names ("Jane <jane@x.com>"),
// comments ("(work)"), IP-address literals ([192.0.2.1]), control and
// invisible formatting characters are rejected, because none of them belongs
// in a lead's address. Quoted local parts and non-ASCII local parts are
// accepted and flagged (Quoted, SMTPUTF8) for the engine to judge.
func ParseAddress(s string) (Address, error) {
	a, err := parseAddress(s)
	if err != nil {
		return Address{}, err
	}
	return a, nil
}

func parseAddress(input string) (Address, *SyntaxError) {
	s, serr := cleanInput(input, "address")
	if serr != nil {
		return Address{}, serr
	}
	if strings.HasSuffix(s, ">") && strings.Contains(s, "<") {
		return Address{}, syntaxErrorf(ReasonInvalidSyntax,
			"this looks like a name with an address in angle brackets; send the bare address, such as jane@example.com")
	}

	local, domain, quoted, serr := splitAddress(s)
	if serr != nil {
		return Address{}, serr
	}
	if quoted {
		raw, serr := unquoteLocal(local)
		if serr != nil {
			return Address{}, serr
		}
		raw = norm.NFC.String(raw)
		if checkDotAtom(raw) == nil {
			// The quotes were not needed; RFC 5321 §4.1.2 asks for the form
			// with the least quoting.
			local, quoted = raw, false
		} else {
			local = quoteLocal(raw)
		}
	} else {
		if serr := checkUnquotedParts(local, domain); serr != nil {
			return Address{}, serr
		}
		local = norm.NFC.String(local)
		if serr := checkDotAtom(local); serr != nil {
			return Address{}, serr
		}
	}
	if len(local) > maxLocalLength {
		return Address{}, syntaxErrorf(ReasonTooLong,
			"the part before \"@\" is %d characters long; the limit is %d", len(local), maxLocalLength)
	}

	if domain == "" {
		return Address{}, syntaxErrorf(ReasonInvalidSyntax,
			"there is nothing after \"@\"; add the domain, as in jane@example.com")
	}
	uni, ascii, serr := parseDomainPart(domain)
	if serr != nil {
		return Address{}, serr
	}
	if n := len(local) + 1 + len(ascii); n > maxAddressLength {
		return Address{}, syntaxErrorf(ReasonTooLong,
			"the address is %d characters long (counting the domain in its DNS form); the limit is %d", n, maxAddressLength)
	}

	a := Address{
		Input:       input,
		Local:       local,
		Domain:      uni,
		ASCIIDomain: ascii,
		Quoted:      quoted,
		SMTPUTF8:    !isASCIIText(local),
	}
	if !quoted {
		if i := strings.IndexByte(local, '+'); i > 0 {
			a.Subaddressed = true
			a.Tag = local[i+1:]
		}
	}
	return a, nil
}

// ParseDomain parses a bare domain name (no "@") with the same rules as the
// domain of an address: trimmed, IDNA lookup rules, lower-cased, one trailing
// root dot removed, at least two labels, a top-level domain that is not all
// digits, DNS length limits. A failure is a *SyntaxError.
func ParseDomain(s string) (Domain, error) {
	d, err := parseDomain(s)
	if err != nil {
		return Domain{}, err
	}
	return d, nil
}

func parseDomain(input string) (Domain, *SyntaxError) {
	s, serr := cleanInput(input, "domain")
	if serr != nil {
		return Domain{}, serr
	}
	switch {
	case strings.Contains(s, "://") || strings.ContainsAny(s, "/?#"):
		return Domain{}, syntaxErrorf(ReasonInvalidDomain,
			"%q looks like a web address; send the bare domain, such as example.com, without \"https://\" or a path", s)
	case strings.Contains(s, "@"):
		return Domain{}, syntaxErrorf(ReasonInvalidDomain,
			"a domain has no \"@\"; send only the part after \"@\", or send the whole address as an email")
	case strings.ContainsAny(s, "()"):
		return Domain{}, syntaxErrorf(ReasonInvalidSyntax,
			"comments in parentheses are not part of a domain; remove the \"(...)\" text")
	}
	uni, ascii, serr := parseDomainPart(s)
	if serr != nil {
		return Domain{}, serr
	}
	return Domain{Input: input, Unicode: uni, ASCII: ascii}, nil
}

// cleanInput trims surrounding spaces and rejects what no address or domain
// may contain anywhere: invalid UTF-8, control characters (NUL, CR, LF, TAB,
// DEL and the C1 range) and invisible formatting characters such as U+200B
// ZERO WIDTH SPACE, which arrive with copy and paste and make the text look
// right while it is not. ZWNJ and ZWJ are let through because some scripts
// need them inside domain labels (IDNA checks where they may stand). what
// names the kind of text in messages.
func cleanInput(input, what string) (string, *SyntaxError) {
	s := strings.TrimFunc(input, isTrimmedSpace)
	if s == "" {
		return "", syntaxErrorf(ReasonInvalidSyntax, "the %s is empty", what)
	}
	if len(s) > maxInputLength {
		return "", syntaxErrorf(ReasonTooLong,
			"the %s is %d characters long, far over the limit; check that it is one %s", what, len(s), what)
	}
	if !utf8.ValidString(s) {
		return "", syntaxErrorf(ReasonInvalidSyntax,
			"the %s is not valid UTF-8 text; check the encoding of the data", what)
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return "", syntaxErrorf(ReasonInvalidSyntax,
				"the %s contains the control character %U; remove it", what, r)
		case unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d':
			return "", syntaxErrorf(ReasonInvalidSyntax,
				"the %s contains the invisible character %U; retype it rather than pasting", what, r)
		}
	}
	return s, nil
}

// isTrimmedSpace reports the characters trimmed from both ends: Unicode white
// space (ASCII spaces, tabs and line ends, NBSP, the ideographic space...)
// and the invisible characters that copy and paste leave around a value.
func isTrimmedSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\u2060' || r == '\ufeff'
}

// splitAddress cuts s at the '@' that ends the local part. A local part that
// starts with '"' is a quoted string and may itself contain '@'; it is
// returned with its quotes for unquoteLocal.
func splitAddress(s string) (local, domain string, quoted bool, err *SyntaxError) {
	if s[0] == '"' {
		end := closingQuote(s)
		if end < 0 {
			return "", "", false, syntaxErrorf(ReasonInvalidSyntax,
				"the quoted part before \"@\" has no closing quote; add the missing '\"'")
		}
		rest := s[end+1:]
		if !strings.HasPrefix(rest, "@") {
			return "", "", false, syntaxErrorf(ReasonInvalidSyntax,
				"after the closing quote there must be \"@\"; put the whole part before \"@\" inside the quotes")
		}
		domain = rest[1:]
		if strings.Contains(domain, "@") {
			return "", "", false, moreThanOneAt()
		}
		return s[:end+1], domain, true, nil
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		if strings.ContainsRune(s, '＠') {
			return "", "", false, syntaxErrorf(ReasonInvalidSyntax,
				"the address uses the full-width \"＠\"; type the ordinary \"@\" instead")
		}
		return "", "", false, syntaxErrorf(ReasonInvalidSyntax,
			"the address has no \"@\"; an email address looks like jane@example.com")
	}
	local, domain = s[:at], s[at+1:]
	if strings.Contains(domain, "@") {
		return "", "", false, moreThanOneAt()
	}
	if local == "" {
		return "", "", false, syntaxErrorf(ReasonInvalidSyntax,
			"there is nothing before \"@\"; add the mailbox name, as in jane@example.com")
	}
	return local, domain, false, nil
}

func moreThanOneAt() *SyntaxError {
	return syntaxErrorf(ReasonInvalidSyntax,
		"the address contains more than one \"@\"; send one address at a time")
}

// closingQuote returns the index of the '"' that closes the quoted string
// starting at s[0], or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// checkUnquotedParts gives the specific messages for the RFC 5322 forms that
// are not addresses: comments, and angle brackets left over from a display
// name.
func checkUnquotedParts(local, domain string) *SyntaxError {
	for _, part := range []string{local, domain} {
		if strings.ContainsAny(part, "()") {
			return syntaxErrorf(ReasonInvalidSyntax,
				"comments in parentheses are not part of an address; remove the \"(...)\" text")
		}
		if strings.ContainsAny(part, "<>") {
			return syntaxErrorf(ReasonInvalidSyntax,
				"the address contains angle brackets; send the bare address, such as jane@example.com")
		}
	}
	return nil
}

// unquoteLocal checks a quoted local part ("..." with its quotes) against RFC
// 5321 Quoted-string, extended by RFC 6531 to UTF-8, and returns its content
// with the escapes removed.
func unquoteLocal(q string) (string, *SyntaxError) {
	inner := q[1 : len(q)-1]
	var b strings.Builder
	for i := 0; i < len(inner); {
		c := inner[i]
		switch {
		case c == '\\':
			if i+1 >= len(inner) || inner[i+1] < 0x20 || inner[i+1] > 0x7e {
				return "", syntaxErrorf(ReasonInvalidSyntax,
					"a backslash inside the quotes must be followed by a printable ASCII character")
			}
			b.WriteByte(inner[i+1])
			i += 2
		case c < utf8.RuneSelf:
			// cleanInput has already rejected control characters, and an
			// unescaped '"' would have closed the string.
			b.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(inner[i:])
			if !isLocalRune(r) {
				return "", syntaxErrorf(ReasonInvalidSyntax,
					"the part before \"@\" contains the character %U, which is not allowed in an address", r)
			}
			b.WriteRune(r)
			i += size
		}
	}
	if b.Len() == 0 {
		return "", syntaxErrorf(ReasonInvalidSyntax,
			"the quoted part before \"@\" is empty; add the mailbox name")
	}
	return b.String(), nil
}

// quoteLocal writes raw as a quoted string with only the escapes RFC 5321
// requires (backslash and double quote).
func quoteLocal(raw string) string {
	var b strings.Builder
	b.Grow(len(raw) + 2)
	b.WriteByte('"')
	for i := 0; i < len(raw); i++ {
		if raw[i] == '"' || raw[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(raw[i])
	}
	b.WriteByte('"')
	return b.String()
}

// checkDotAtom checks an unquoted local part: RFC 5322 dot-atom of atext,
// with RFC 6531's UTF-8 characters limited to letters, marks, numbers,
// punctuation and symbols.
func checkDotAtom(local string) *SyntaxError {
	switch {
	case local == "":
		return syntaxErrorf(ReasonInvalidSyntax,
			"there is nothing before \"@\"; add the mailbox name, as in jane@example.com")
	case local[0] == '.':
		return syntaxErrorf(ReasonInvalidSyntax,
			"the part before \"@\" starts with a dot; remove it")
	case local[len(local)-1] == '.':
		return syntaxErrorf(ReasonInvalidSyntax,
			"the part before \"@\" ends with a dot; remove it")
	case strings.Contains(local, ".."):
		return syntaxErrorf(ReasonInvalidSyntax,
			"the part before \"@\" contains two dots in a row; remove one")
	}
	for _, r := range local {
		switch {
		case r < utf8.RuneSelf && (isAtext(byte(r)) || r == '.'):
		case unicode.IsSpace(r):
			return syntaxErrorf(ReasonInvalidSyntax,
				"the part before \"@\" contains a space; remove it")
		case r < utf8.RuneSelf:
			return syntaxErrorf(ReasonInvalidSyntax,
				"the part before \"@\" contains %q, which is only allowed inside quotes; remove it", r)
		case !isLocalRune(r):
			return syntaxErrorf(ReasonInvalidSyntax,
				"the part before \"@\" contains the character %U, which is not allowed in an address", r)
		}
	}
	return nil
}

// isAtext reports RFC 5322 atext: letters, digits and !#$%&'*+-/=?^_`{|}~.
func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isLocalRune reports whether a non-ASCII rune may appear in a local part:
// visible characters only, so no spaces, joiners, unassigned or private-use
// code points.
func isLocalRune(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// isLabelDot reports the characters UTS #46 treats as label separators.
func isLabelDot(r rune) bool {
	return r == '.' || r == '\u3002' || r == '\uff0e' || r == '\uff61'
}

// parseDomainPart checks a domain (of an address or bare) and returns its
// Unicode and ASCII forms. Obvious mistakes are caught before IDNA
// processing so the message can name the label at fault.
//
// What the lookup profile accepts is accepted, including the symbols and
// emoji that UTS #46 lets through although IDNA2008 would not (💩.la): such
// names are registered, resolve and receive mail (disposable services hand
// out addresses at some), so DNS rather than the parser decides whether one
// works. Look-alike characters (a Cyrillic "а" in a Latin name) are valid
// IDNs too; spotting them is not a syntax question.
func parseDomainPart(s string) (unicodeForm, asciiForm string, err *SyntaxError) {
	if strings.HasPrefix(s, "[") {
		return "", "", syntaxErrorf(ReasonIPLiteral,
			"IP-address literals such as %s cannot be checked; a lead needs a domain name, such as example.com", s)
	}
	labels := splitLabels(s)
	// One trailing root dot ("example.com.") is accepted and removed.
	if len(labels) > 1 && labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	for _, l := range labels {
		if serr := checkLabel(s, l); serr != nil {
			return "", "", serr
		}
	}
	joined := strings.Join(labels, ".")
	ascii, ierr := idnaProfile.ToASCII(joined)
	if ierr != nil {
		for _, l := range labels {
			if _, lerr := idnaProfile.ToASCII(l); lerr != nil {
				return "", "", syntaxErrorf(ReasonInvalidDomain,
					"the domain label %q is not a valid internationalised domain label; check its spelling", l)
			}
		}
		return "", "", syntaxErrorf(ReasonInvalidDomain,
			"the domain %q is not a valid internationalised domain name (it mixes scripts or writing directions in a way IDNA forbids)", joined)
	}
	ascii = strings.ToLower(ascii)

	asciiLabels := strings.Split(ascii, ".")
	for _, l := range asciiLabels {
		if l == "" {
			return "", "", syntaxErrorf(ReasonInvalidDomain,
				"the domain %q has an empty label; check its spelling", joined)
		}
		if len(l) > maxLabelLength {
			return "", "", syntaxErrorf(ReasonTooLong,
				"the domain label %q is %d characters long in its DNS form; the limit is %d", shortLabel(l), len(l), maxLabelLength)
		}
	}
	if len(ascii) > maxDomainLength {
		return "", "", syntaxErrorf(ReasonTooLong,
			"the domain is %d characters long in its DNS form; the limit is %d", len(ascii), maxDomainLength)
	}
	if len(asciiLabels) < 2 {
		return "", "", syntaxErrorf(ReasonInvalidDomain,
			"the domain %q has no dot; use the full domain, such as %s.com", joined, joined)
	}
	if tld := asciiLabels[len(asciiLabels)-1]; labelIsNumeric(tld) {
		if net.ParseIP(ascii) != nil {
			return "", "", syntaxErrorf(ReasonInvalidDomain,
				"%q is an IP address; a lead needs a domain name, such as example.com", ascii)
		}
		return "", "", syntaxErrorf(ReasonInvalidDomain,
			"the top-level domain %q is all digits; check the end of the domain", tld)
	}

	uni, ierr := idnaProfile.ToUnicode(ascii)
	if ierr != nil {
		return "", "", syntaxErrorf(ReasonInvalidDomain,
			"the domain %q is not a valid internationalised domain name; check its spelling", ascii)
	}
	return norm.NFC.String(uni), ascii, nil
}

// splitLabels splits a domain on every form of dot UTS #46 knows.
func splitLabels(s string) []string {
	var labels []string
	start := 0
	for i, r := range s {
		if isLabelDot(r) {
			labels = append(labels, s[start:i])
			start = i + utf8.RuneLen(r)
		}
	}
	return append(labels, s[start:])
}

// checkLabel catches the common mistakes in one label of domain and says
// which label is wrong. Non-ASCII characters are left to IDNA.
func checkLabel(domain, label string) *SyntaxError {
	if label == "" {
		return syntaxErrorf(ReasonInvalidDomain,
			"the domain %q has an empty label: a dot at the start or two dots in a row; remove the extra dot", domain)
	}
	for _, r := range label {
		switch {
		case r < utf8.RuneSelf && (isLDHLetterDigit(byte(r)) || r == '-'):
		case unicode.IsSpace(r):
			return syntaxErrorf(ReasonInvalidDomain, "the domain label %q contains a space", label)
		case r == '_':
			return syntaxErrorf(ReasonInvalidDomain,
				"the domain label %q contains \"_\"; mail domains use only letters, digits and hyphens", label)
		case r == '[' || r == ']':
			return syntaxErrorf(ReasonInvalidDomain,
				"the domain label %q contains a square bracket; a lead needs a plain domain name", label)
		case r < utf8.RuneSelf:
			return syntaxErrorf(ReasonInvalidDomain,
				"the domain label %q contains %q; domains use only letters, digits and hyphens", label, r)
		}
	}
	if label[0] == '-' {
		return syntaxErrorf(ReasonInvalidDomain, "the domain label %q starts with a hyphen", label)
	}
	if label[len(label)-1] == '-' {
		return syntaxErrorf(ReasonInvalidDomain, "the domain label %q ends with a hyphen", label)
	}
	return nil
}

func isLDHLetterDigit(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func labelIsNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func isASCIIText(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// shortLabel keeps messages about very long labels readable.
func shortLabel(s string) string {
	if len(s) <= 24 {
		return s
	}
	return s[:20] + "..."
}
