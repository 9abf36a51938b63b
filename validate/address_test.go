package validate

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// addr builds the Address a test expects; Input is filled in by the test.
func addr(local, domain, ascii string) Address {
	return Address{Local: local, Domain: domain, ASCIIDomain: ascii, SMTPUTF8: !isASCIIText(local)}
}

func tagged(a Address, tag string) Address {
	a.Subaddressed, a.Tag = true, tag
	return a
}

func quotedAddr(a Address) Address {
	a.Quoted = true
	return a
}

// Strings at and around the length limits.
var (
	local64    = strings.Repeat("a", 64)
	label63    = strings.Repeat("b", 63)
	label64    = strings.Repeat("b", 64)
	domain253  = label63 + "." + label63 + "." + label63 + "." + strings.Repeat("c", 61)
	domain254  = label63 + "." + label63 + "." + label63 + "." + strings.Repeat("c", 62)
	domain189  = label63 + "." + label63 + "." + strings.Repeat("d", 57) + ".com" // 63+1+63+1+57+4
	domain190  = label63 + "." + label63 + "." + strings.Repeat("d", 58) + ".com"
	umlaut57   = strings.Repeat("ü", 57) // A-label "xn--tda" + 56 "a": 63 octets
	umlaut58   = strings.Repeat("ü", 58) // 64 octets
	umlaut57A  = "xn--tda" + strings.Repeat("a", 56)
	tooLongRaw = strings.Repeat("x", 1100) + "@example.com"
)

func TestParseAddressLengthFixtures(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		s    string
		want int
	}{
		"domain253": {domain253, 253},
		"domain254": {domain254, 254},
		"domain189": {domain189, 189},
		"domain190": {domain190, 190},
		"umlaut57A": {umlaut57A, 63},
	} {
		if got := len(tt.s); got != tt.want {
			t.Errorf("len(%s) = %d, want %d", name, got, tt.want)
		}
	}
}

func TestParseAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string // defaults to in
		in     string
		want   Address // when reason is ""
		reason Reason
		msg    string // a substring the message must contain
	}{
		// Plain addresses, trimming and case.
		{in: "jane@example.com", want: addr("jane", "example.com", "example.com")},
		{in: "Jane.Doe@Example.COM", want: addr("Jane.Doe", "example.com", "example.com")},
		{in: "JANE@EXAMPLE.COM", want: addr("JANE", "example.com", "example.com")},
		{in: "Jane@ExAmPlE.cOm", want: addr("Jane", "example.com", "example.com")},
		{in: "  jane@example.com  ", want: addr("jane", "example.com", "example.com")},
		{in: "\tjane@example.com\r\n", want: addr("jane", "example.com", "example.com")},
		{name: "nbsp and ideographic space", in: "\u00a0jane@example.com\u3000", want: addr("jane", "example.com", "example.com")},
		{name: "byte order mark", in: "\ufeffjane@example.com", want: addr("jane", "example.com", "example.com")},
		{name: "zero width spaces around", in: "\u200bjane@example.com\u200b", want: addr("jane", "example.com", "example.com")},
		{name: "next line around", in: "\u0085jane@example.com\u2028", want: addr("jane", "example.com", "example.com")},
		{in: "jane@example.com.", want: addr("jane", "example.com", "example.com")},
		{in: "jane@EXAMPLE.com.", want: addr("jane", "example.com", "example.com")},
		{in: "j@e.co", want: addr("j", "e.co", "e.co")},
		{in: "a@b.c", want: addr("a", "b.c", "b.c")},
		{in: "1234567890@example.com", want: addr("1234567890", "example.com", "example.com")},
		{in: "a.b.c@example.com", want: addr("a.b.c", "example.com", "example.com")},
		{in: "first.last@sub.example.co.uk", want: addr("first.last", "sub.example.co.uk", "sub.example.co.uk")},
		{in: "jane.doe@sub-domain.example-site.co.uk", want: addr("jane.doe", "sub-domain.example-site.co.uk", "sub-domain.example-site.co.uk")},
		{in: "o'reilly@example.ie", want: addr("o'reilly", "example.ie", "example.ie")},
		{in: "user-name@example.com", want: addr("user-name", "example.com", "example.com")},
		{in: "user_name@example.com", want: addr("user_name", "example.com", "example.com")},
		{in: "user%example.net@example.org", want: addr("user%example.net", "example.org", "example.org")},
		{in: "x@example.museum", want: addr("x", "example.museum", "example.museum")},
		{in: "x@a.b.c.d.e.example.com", want: addr("x", "a.b.c.d.e.example.com", "a.b.c.d.e.example.com")},
		{in: "x@123.example.com", want: addr("x", "123.example.com", "123.example.com")},
		{in: "x@example.c0m", want: addr("x", "example.c0m", "example.c0m")},
		{in: "x@exa--mple.com", want: addr("x", "exa--mple.com", "exa--mple.com")},
		{in: "x@e-x-a-m-p-l-e.com", want: addr("x", "e-x-a-m-p-l-e.com", "e-x-a-m-p-l-e.com")},
		{in: "x@3com.com", want: addr("x", "3com.com", "3com.com")},
		{name: "every atext special", in: "!#$%&'*-/=?^_`{|}~@example.com", want: addr("!#$%&'*-/=?^_`{|}~", "example.com", "example.com")},

		// Sub-addresses.
		{in: "jane+news@example.com", want: tagged(addr("jane+news", "example.com", "example.com"), "news")},
		{in: "Jane+News@example.com", want: tagged(addr("Jane+News", "example.com", "example.com"), "News")},
		{in: "jane+@example.com", want: tagged(addr("jane+", "example.com", "example.com"), "")},
		{in: "jane+a+b@example.com", want: tagged(addr("jane+a+b", "example.com", "example.com"), "a+b")},
		{in: "jane.doe+x.y@example.com", want: tagged(addr("jane.doe+x.y", "example.com", "example.com"), "x.y")},
		{in: "+jane@example.com", want: addr("+jane", "example.com", "example.com")},
		{in: "+@example.com", want: addr("+", "example.com", "example.com")},

		// Internationalised domains.
		{in: "jane@bücher.de", want: addr("jane", "bücher.de", "xn--bcher-kva.de")},
		{in: "jane@BÜCHER.DE", want: addr("jane", "bücher.de", "xn--bcher-kva.de")},
		{in: "jane@xn--bcher-kva.de", want: addr("jane", "bücher.de", "xn--bcher-kva.de")},
		{in: "jane@XN--BCHER-KVA.DE", want: addr("jane", "bücher.de", "xn--bcher-kva.de")},
		{name: "decomposed umlaut", in: "jane@bu\u0308cher.de", want: addr("jane", "bücher.de", "xn--bcher-kva.de")},
		{in: "jane@münchen.de", want: addr("jane", "münchen.de", "xn--mnchen-3ya.de")},
		{in: "jane@日本語.jp", want: addr("jane", "日本語.jp", "xn--wgv71a119e.jp")},
		{in: "jane@пример.рф", want: addr("jane", "пример.рф", "xn--e1afmkfd.xn--p1ai")},
		{in: "jane@example.xn--p1ai", want: addr("jane", "example.рф", "example.xn--p1ai")},
		{name: "non-transitional sharp s", in: "jane@straße.de", want: addr("jane", "straße.de", "xn--strae-oqa.de")},
		{name: "hebrew label", in: "jane@שלום.com", want: addr("jane", "שלום.com", "xn--9dbne9b.com")},
		{name: "full-width letters and dot", in: "jane@ｅｘａｍｐｌｅ．ｃｏｍ", want: addr("jane", "example.com", "example.com")},
		{name: "ideographic full stop", in: "jane@example。com", want: addr("jane", "example.com", "example.com")},
		{name: "halfwidth ideographic full stop", in: "jane@example｡com", want: addr("jane", "example.com", "example.com")},
		{name: "ideographic trailing root dot", in: "jane@example.com。", want: addr("jane", "example.com", "example.com")},
		// Lookup rules do not detect homographs: a Cyrillic "а" in a Latin
		// name is a valid IDN. Spotting look-alikes is not the parser's job.
		{name: "cyrillic a in latin name", in: "jane@аpple.com", want: addr("jane", "аpple.com", "xn--pple-43d.com")},
		{name: "cyrillic e at the end", in: "jane@examplе.com", want: addr("jane", "examplе.com", "xn--exampl-8of.com")},
		{name: "mixed label over 63 octets", in: "jane@umlaut" + umlaut57 + ".de", reason: ReasonTooLong, msg: "in its DNS form"},

		// UTF-8 local parts (RFC 6531).
		{in: "josé@example.com", want: addr("josé", "example.com", "example.com")},
		{name: "local part NFC", in: "jose\u0301@example.com", want: addr("josé", "example.com", "example.com")},
		{in: "Ñoño@example.com", want: addr("Ñoño", "example.com", "example.com")},
		{in: "δοκιμή@παράδειγμα.δοκιμή", want: addr("δοκιμή", "παράδειγμα.δοκιμή", "xn--hxajbheg2az3al.xn--jxalpdlp")},
		{in: "我買@屋企.香港", want: addr("我買", "屋企.香港", "xn--hoqu73a.xn--j6w193g")},
		{in: "二ノ宮@黒川.日本", want: addr("二ノ宮", "黒川.日本", "xn--5rtw95l.xn--wgv71a")},
		{in: "медведь@с-балалайкой.рф", want: addr("медведь", "с-балалайкой.рф", "xn----8sbaac5cahfb0b0a.xn--p1ai")},
		{in: "संपर्क@डाटामेल.भारत", want: addr("संपर्क", "डाटामेल.भारत", "xn--c2bd4bq1db8d.xn--h2brj9c")},
		{in: "用户@例子.广告", want: addr("用户", "例子.广告", "xn--fsqu00a.xn--4rr70v")},
		{in: "josé+té@example.com", want: tagged(addr("josé+té", "example.com", "example.com"), "té")},
		{in: "€uro@example.com", want: addr("€uro", "example.com", "example.com")},

		// Quoted local parts: accepted and flagged, with minimal quoting.
		{in: `"john doe"@example.com`, want: quotedAddr(addr(`"john doe"`, "example.com", "example.com"))},
		{in: `"John Doe"@Example.com`, want: quotedAddr(addr(`"John Doe"`, "example.com", "example.com"))},
		{in: `"john"@example.com`, want: addr("john", "example.com", "example.com")},
		{in: `"john.doe"@example.com`, want: addr("john.doe", "example.com", "example.com")},
		{in: `"jo\hn"@example.com`, want: addr("john", "example.com", "example.com")},
		{in: `"john+tag"@example.com`, want: tagged(addr("john+tag", "example.com", "example.com"), "tag")},
		{in: `"john..doe"@example.com`, want: quotedAddr(addr(`"john..doe"`, "example.com", "example.com"))},
		{in: `".john"@example.com`, want: quotedAddr(addr(`".john"`, "example.com", "example.com"))},
		{in: `"john."@example.com`, want: quotedAddr(addr(`"john."`, "example.com", "example.com"))},
		{in: `"john@doe"@example.com`, want: quotedAddr(addr(`"john@doe"`, "example.com", "example.com"))},
		{in: `"john\"doe"@example.com`, want: quotedAddr(addr(`"john\"doe"`, "example.com", "example.com"))},
		{in: `"john\\doe"@example.com`, want: quotedAddr(addr(`"john\\doe"`, "example.com", "example.com"))},
		{in: `"john\ doe"@example.com`, want: quotedAddr(addr(`"john doe"`, "example.com", "example.com"))},
		{in: `"john doe+tag"@example.com`, want: quotedAddr(addr(`"john doe+tag"`, "example.com", "example.com"))},
		{in: `"(comment)"@example.com`, want: quotedAddr(addr(`"(comment)"`, "example.com", "example.com"))},
		{in: `"a<b>c"@example.com`, want: quotedAddr(addr(`"a<b>c"`, "example.com", "example.com"))},
		{in: `"a,b;c:d"@example.com`, want: quotedAddr(addr(`"a,b;c:d"`, "example.com", "example.com"))},
		{in: `"[x]"@example.com`, want: quotedAddr(addr(`"[x]"`, "example.com", "example.com"))},
		{in: `" "@example.com`, want: quotedAddr(addr(`" "`, "example.com", "example.com"))},
		{in: `"@"@example.com`, want: quotedAddr(addr(`"@"`, "example.com", "example.com"))},
		{in: `"José Ñ"@example.com`, want: quotedAddr(addr(`"José Ñ"`, "example.com", "example.com"))},
		{in: `"josé"@example.com`, want: addr("josé", "example.com", "example.com")},
		{in: `""@example.com`, reason: ReasonInvalidSyntax, msg: "quoted part before \"@\" is empty"},
		{in: `"john@example.com`, reason: ReasonInvalidSyntax, msg: "no closing quote"},
		{in: `"john\"@example.com`, reason: ReasonInvalidSyntax, msg: "no closing quote"},
		{in: `"john"doe@example.com`, reason: ReasonInvalidSyntax, msg: "after the closing quote"},
		{in: `"john".doe@example.com`, reason: ReasonInvalidSyntax, msg: "after the closing quote"},
		{in: `"john"@"example.com"`, reason: ReasonInvalidDomain, msg: `contains '"'`},
		{in: `john."doe"@example.com`, reason: ReasonInvalidSyntax, msg: "only allowed inside quotes"},
		{in: `jo"hn@example.com`, reason: ReasonInvalidSyntax, msg: "only allowed inside quotes"},
		{in: `"john"@doe@example.com`, reason: ReasonInvalidSyntax, msg: "more than one"},
		{in: "\"jo\u00a0hn\"@example.com", reason: ReasonInvalidSyntax, msg: "U+00A0"},
		{in: "\"jo\\\u00e9hn\"@example.com", reason: ReasonInvalidSyntax, msg: "backslash"},

		// Comments are not part of an address.
		{in: "john(comment)@example.com", reason: ReasonInvalidSyntax, msg: "comments in parentheses"},
		{in: "(comment)john@example.com", reason: ReasonInvalidSyntax, msg: "comments in parentheses"},
		{in: "john@(comment)example.com", reason: ReasonInvalidSyntax, msg: "comments in parentheses"},
		{in: "john@example.com(comment)", reason: ReasonInvalidSyntax, msg: "comments in parentheses"},
		{in: "john@example.com (Work)", reason: ReasonInvalidSyntax, msg: "comments in parentheses"},
		{in: "john)@example.com", reason: ReasonInvalidSyntax, msg: "comments in parentheses"},

		// Display names: send the bare address.
		{in: "Jane <jane@example.com>", reason: ReasonInvalidSyntax, msg: "send the bare address"},
		{in: "<jane@example.com>", reason: ReasonInvalidSyntax, msg: "send the bare address"},
		{in: `"Jane Doe" <jane@example.com>`, reason: ReasonInvalidSyntax, msg: "send the bare address"},
		{in: "Jane Doe<jane@example.com> ", reason: ReasonInvalidSyntax, msg: "send the bare address"},
		{in: "jane@example.com>", reason: ReasonInvalidSyntax, msg: "send the bare address"},
		{in: "Jane <jane@example.com", reason: ReasonInvalidSyntax, msg: "send the bare address"},
		{in: "<jane>@example.com", reason: ReasonInvalidSyntax, msg: "send the bare address"},

		// IP literals and IP addresses: a lead needs a domain.
		{in: "user@[192.0.2.1]", reason: ReasonIPLiteral, msg: "a lead needs a domain"},
		{in: "user@[IPv6:2001:db8::1]", reason: ReasonIPLiteral},
		{in: "user@[300.1.1.1]", reason: ReasonIPLiteral},
		{in: "user@[example.com]", reason: ReasonIPLiteral},
		{in: "user@192.0.2.1", reason: ReasonInvalidDomain, msg: "is an IP address"},
		{in: "user@2001:db8::1", reason: ReasonInvalidDomain},
		{in: "user@example.[com]", reason: ReasonInvalidDomain, msg: "square bracket"},

		// Control characters, invisible characters and bad encodings.
		{name: "NUL in local", in: "jane\x00@example.com", reason: ReasonInvalidSyntax, msg: "control character U+0000"},
		{name: "NUL in domain", in: "jane@exam\x00ple.com", reason: ReasonInvalidSyntax, msg: "control character"},
		{name: "NUL alone", in: "\x00", reason: ReasonInvalidSyntax, msg: "control character"},
		{name: "tab inside", in: "ja\tne@example.com", reason: ReasonInvalidSyntax, msg: "control character U+0009"},
		{name: "header injection", in: "jane@example.com\r\nBcc: x@example.org", reason: ReasonInvalidSyntax, msg: "control character"},
		{name: "line feed inside", in: "jane@exa\nmple.com", reason: ReasonInvalidSyntax, msg: "control character"},
		{name: "DEL", in: "jane\x7f@example.com", reason: ReasonInvalidSyntax, msg: "control character U+007F"},
		{name: "C1 next line inside", in: "jane\u0085x@example.com", reason: ReasonInvalidSyntax, msg: "control character U+0085"},
		{name: "escape", in: "jane\x1b[31m@example.com", reason: ReasonInvalidSyntax, msg: "control character"},
		{name: "zero width space inside", in: "jane\u200b@example.com", reason: ReasonInvalidSyntax, msg: "invisible character U+200B"},
		{name: "soft hyphen in domain", in: "jane@exam\u00adple.com", reason: ReasonInvalidSyntax, msg: "invisible character U+00AD"},
		{name: "right-to-left mark", in: "jane@\u200fexample.com", reason: ReasonInvalidSyntax, msg: "invisible character"},
		{name: "zero width joiner in local", in: "ja\u200dne@example.com", reason: ReasonInvalidSyntax, msg: "U+200D"},
		{name: "zero width joiner in domain", in: "jane@exa\u200dmple.com", reason: ReasonInvalidDomain},
		{name: "private use in local", in: "ja\ue000ne@example.com", reason: ReasonInvalidSyntax, msg: "U+E000"},
		{name: "invalid UTF-8 in local", in: "jane\xff@example.com", reason: ReasonInvalidSyntax, msg: "UTF-8"},
		{name: "invalid UTF-8 in domain", in: "jane@exa\xc3mple.com", reason: ReasonInvalidSyntax, msg: "UTF-8"},

		// Missing parts and stray "@".
		{name: "empty", in: "", reason: ReasonInvalidSyntax, msg: "empty"},
		{name: "only spaces", in: "   \t ", reason: ReasonInvalidSyntax, msg: "empty"},
		{in: "@", reason: ReasonInvalidSyntax, msg: "nothing before"},
		{in: "@example.com", reason: ReasonInvalidSyntax, msg: "nothing before"},
		{in: "jane@", reason: ReasonInvalidSyntax, msg: "nothing after"},
		{in: "jane", reason: ReasonInvalidSyntax, msg: "no \"@\""},
		{in: "jane.example.com", reason: ReasonInvalidSyntax, msg: "no \"@\""},
		{in: "jane＠example.com", reason: ReasonInvalidSyntax, msg: "full-width"},
		{in: "jane@@example.com", reason: ReasonInvalidSyntax, msg: "more than one"},
		{in: "jane@example@com", reason: ReasonInvalidSyntax, msg: "more than one"},
		{in: "a@b@example.com", reason: ReasonInvalidSyntax, msg: "more than one"},
		{in: "jane@example.com, john@example.com", reason: ReasonInvalidSyntax, msg: "more than one"},
		{in: "mailto:jane@example.com", reason: ReasonInvalidSyntax, msg: `':'`},

		// Dots.
		{in: ".jane@example.com", reason: ReasonInvalidSyntax, msg: "starts with a dot"},
		{in: "jane.@example.com", reason: ReasonInvalidSyntax, msg: "ends with a dot"},
		{in: "ja..ne@example.com", reason: ReasonInvalidSyntax, msg: "two dots in a row"},
		{in: ".@example.com", reason: ReasonInvalidSyntax, msg: "starts with a dot"},
		{in: "jane@.example.com", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: "jane@example..com", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: "jane@example.com..", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: "jane@.", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: "jane@..", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: "jane@example。。com", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: "jane@example", reason: ReasonInvalidDomain, msg: "has no dot"},
		{in: "jane@localhost", reason: ReasonInvalidDomain, msg: "has no dot"},
		{in: "jane@com.", reason: ReasonInvalidDomain, msg: "has no dot"},
		{in: "jane@xn--bcher-kva", reason: ReasonInvalidDomain, msg: "has no dot"},

		// Spaces.
		{in: "jane doe@example.com", reason: ReasonInvalidSyntax, msg: "contains a space"},
		{in: "jane @example.com", reason: ReasonInvalidSyntax, msg: "contains a space"},
		{name: "nbsp in local", in: "jane\u00a0doe@example.com", reason: ReasonInvalidSyntax, msg: "contains a space"},
		{in: "jane@ example.com", reason: ReasonInvalidDomain, msg: `the domain label " example" contains a space`},
		{in: "jane@exa mple.com", reason: ReasonInvalidDomain, msg: `the domain label "exa mple" contains a space`},
		{in: "jane@example .com", reason: ReasonInvalidDomain, msg: `the domain label "example " contains a space`},
		{name: "ideographic space in domain", in: "jane@exa\u3000mple.com", reason: ReasonInvalidDomain, msg: "contains a space"},
		{name: "line separator in domain", in: "jane@exa\u2028mple.com", reason: ReasonInvalidDomain, msg: "contains a space"},

		// Characters outside atext and LDH.
		{in: "jane,doe@example.com", reason: ReasonInvalidSyntax, msg: `','`},
		{in: "jane;doe@example.com", reason: ReasonInvalidSyntax, msg: `';'`},
		{in: "jane:doe@example.com", reason: ReasonInvalidSyntax, msg: `':'`},
		{in: "jane[doe]@example.com", reason: ReasonInvalidSyntax, msg: `'['`},
		{in: `jane\doe@example.com`, reason: ReasonInvalidSyntax, msg: `'\\'`},
		{in: "jane@exam_ple.com", reason: ReasonInvalidDomain, msg: `contains "_"`},
		{in: "jane@_dmarc.example.com", reason: ReasonInvalidDomain, msg: `contains "_"`},
		{in: "jane@-example.com", reason: ReasonInvalidDomain, msg: "starts with a hyphen"},
		{in: "jane@example-.com", reason: ReasonInvalidDomain, msg: "ends with a hyphen"},
		{in: "jane@example.-com", reason: ReasonInvalidDomain, msg: "starts with a hyphen"},
		{in: "jane@exa!mple.com", reason: ReasonInvalidDomain, msg: `'!'`},
		{in: "jane@example.com:25", reason: ReasonInvalidDomain, msg: `':'`},
		{in: "jane@example.com/path", reason: ReasonInvalidDomain, msg: `'/'`},
		{in: "jane@example.com,", reason: ReasonInvalidDomain, msg: `','`},
		{in: "jane@example.com;", reason: ReasonInvalidDomain, msg: `';'`},
		{in: `jane@example.com"`, reason: ReasonInvalidDomain, msg: `'"'`},
		{in: "jane@exa*mple.com", reason: ReasonInvalidDomain, msg: `'*'`},
		{in: "jane@ex--ample.com", reason: ReasonInvalidDomain, msg: `"ex--ample"`},
		{in: "jane@xn--a.com", reason: ReasonInvalidDomain, msg: `"xn--a"`},
		{in: "jane@xn--abc.com", reason: ReasonInvalidDomain},
		{in: "jane@xn--.com", reason: ReasonInvalidDomain, msg: "ends with a hyphen"},
		{in: "jane@a.xn--", reason: ReasonInvalidDomain, msg: "ends with a hyphen"},
		{in: "jane@example.123", reason: ReasonInvalidDomain, msg: "all digits"},
		{in: "jane@1.2.3", reason: ReasonInvalidDomain, msg: "all digits"},
		{in: "jane@example.0", reason: ReasonInvalidDomain, msg: "all digits"},

		// IDNs that lookup rules reject.
		// Symbols and emoji pass UTS #46 lookup (not IDNA2008): accepted,
		// DNS decides.
		{name: "emoji domain", in: "jane@💩.la", want: addr("jane", "💩.la", "xn--ls8h.la")},
		{name: "emoji A-label", in: "jane@xn--ls8h.la", want: addr("jane", "💩.la", "xn--ls8h.la")},
		{name: "heart symbol", in: "jane@i♥ny.com", want: addr("jane", "i♥ny.com", "xn--iny-zx5a.com")},
		{name: "latin and hebrew in one label", in: "jane@exא.com", reason: ReasonInvalidDomain, msg: `"exא"`},
		{name: "hebrew label then digit-led label", in: "jane@שלום.1com", reason: ReasonInvalidDomain},
		{name: "leading combining mark", in: "jane@\u0301a.com", reason: ReasonInvalidDomain},
		{name: "ascii-only A-label", in: "jane@xn--example-.com", reason: ReasonInvalidDomain},

		// Length limits, at and one over each.
		{name: "local 64", in: local64 + "@example.com", want: addr(local64, "example.com", "example.com")},
		{name: "local 65", in: local64 + "a@example.com", reason: ReasonTooLong, msg: "the limit is 64"},
		{name: "utf8 local 64 octets", in: strings.Repeat("é", 32) + "@example.com", want: addr(strings.Repeat("é", 32), "example.com", "example.com")},
		{name: "utf8 local 66 octets", in: strings.Repeat("é", 33) + "@example.com", reason: ReasonTooLong, msg: "the limit is 64"},
		{name: "quoted local 64", in: `"` + strings.Repeat("a b", 20) + `ab"@example.com`, want: quotedAddr(addr(`"`+strings.Repeat("a b", 20)+`ab"`, "example.com", "example.com"))},
		{name: "quoted local 65", in: `"` + strings.Repeat("a b", 21) + `"@example.com`, reason: ReasonTooLong},
		{name: "label 63", in: "x@" + label63 + ".com", want: addr("x", label63+".com", label63+".com")},
		{name: "label 64", in: "x@" + label64 + ".com", reason: ReasonTooLong, msg: "the limit is 63"},
		{name: "idn label 63 octets", in: "x@" + umlaut57 + ".de", want: addr("x", umlaut57+".de", umlaut57A+".de")},
		{name: "idn label 64 octets", in: "x@" + umlaut58 + ".de", reason: ReasonTooLong, msg: "in its DNS form"},
		{name: "domain 254", in: "x@" + domain254, reason: ReasonTooLong, msg: "the limit is 253"},
		{name: "address 254", in: local64 + "@" + domain189, want: addr(local64, domain189, domain189)},
		{name: "address 255", in: local64 + "@" + domain190, reason: ReasonTooLong, msg: "the limit is 254"},
		{name: "address with domain 253", in: "x@" + domain253, reason: ReasonTooLong, msg: "the limit is 254"},
		{name: "huge input", in: tooLongRaw, reason: ReasonTooLong},
	}
	seen := make(map[string]bool)
	for _, tt := range tests {
		name := tt.name
		if name == "" {
			name = tt.in
		}
		if seen[name] {
			t.Fatalf("duplicate test name %q", name)
		}
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAddress(tt.in)
			if tt.reason != "" {
				checkSyntaxError(t, err, tt.reason, tt.msg)
				if diff := cmp.Diff(Address{}, got); diff != "" {
					t.Errorf("ParseAddress(%q) returned a non-zero Address with an error (-want +got):\n%s", tt.in, diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q) error = %v, want none", tt.in, err)
			}
			want := tt.want
			want.Input = tt.in
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseAddress(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// checkSyntaxError checks that err is a *SyntaxError with the reason and a
// message containing msg.
func checkSyntaxError(t *testing.T, err error, reason Reason, msg string) {
	t.Helper()
	var serr *SyntaxError
	if !errors.As(err, &serr) {
		t.Fatalf("error = %v (%T), want a *SyntaxError", err, err)
	}
	if serr.Reason != reason {
		t.Errorf("reason = %q (message %q), want %q", serr.Reason, serr.Message, reason)
	}
	if serr.Message == "" {
		t.Errorf("message is empty, want an explanation")
	}
	if !strings.Contains(serr.Message, msg) {
		t.Errorf("message = %q, want it to contain %q", serr.Message, msg)
	}
	if !strings.HasPrefix(err.Error(), string(reason)+": ") {
		t.Errorf("Error() = %q, want it to start with the reason %q", err.Error(), reason)
	}
}

func TestAddressNormalized(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
	}{
		{"Jane.Doe@EXAMPLE.COM", "Jane.Doe@example.com"},
		{"  jane@example.com. ", "jane@example.com"},
		{"jane@XN--BCHER-KVA.DE", "jane@bücher.de"},
		{"jane@ＥＸＡＭＰＬＥ.com", "jane@example.com"},
		{`"john"@example.com`, "john@example.com"},
		{`"john\ doe"@example.com`, `"john doe"@example.com`},
		{`"a\"b"@example.com`, `"a\"b"@example.com`},
		{"jose\u0301@example.com", "josé@example.com"},
		{"Jane+Tag@Example.com", "Jane+Tag@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			a, err := ParseAddress(tt.in)
			if err != nil {
				t.Fatalf("ParseAddress(%q) error = %v", tt.in, err)
			}
			if got := a.Normalized(); got != tt.want {
				t.Errorf("ParseAddress(%q).Normalized() = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseDomain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   Domain // Input is filled in
		reason Reason
		msg    string
	}{
		{in: "example.com", want: Domain{Unicode: "example.com", ASCII: "example.com"}},
		{in: "EXAMPLE.COM.", want: Domain{Unicode: "example.com", ASCII: "example.com"}},
		{in: "  www.example.co.uk\n", want: Domain{Unicode: "www.example.co.uk", ASCII: "www.example.co.uk"}},
		{in: "bücher.de", want: Domain{Unicode: "bücher.de", ASCII: "xn--bcher-kva.de"}},
		{in: "xn--bcher-kva.de", want: Domain{Unicode: "bücher.de", ASCII: "xn--bcher-kva.de"}},
		{in: "münchen.de", want: Domain{Unicode: "münchen.de", ASCII: "xn--mnchen-3ya.de"}},
		{in: "日本語.jp", want: Domain{Unicode: "日本語.jp", ASCII: "xn--wgv71a119e.jp"}},
		{in: "пример.рф", want: Domain{Unicode: "пример.рф", ASCII: "xn--e1afmkfd.xn--p1ai"}},
		{in: "ｅｘａｍｐｌｅ．ｃｏｍ", want: Domain{Unicode: "example.com", ASCII: "example.com"}},
		{in: label63 + ".com", want: Domain{Unicode: label63 + ".com", ASCII: label63 + ".com"}},
		{in: domain253, want: Domain{Unicode: domain253, ASCII: domain253}},
		{in: domain253 + ".", want: Domain{Unicode: domain253, ASCII: domain253}},
		{in: "", reason: ReasonInvalidSyntax, msg: "the domain is empty"},
		{in: " \t", reason: ReasonInvalidSyntax, msg: "the domain is empty"},
		{in: "https://example.com", reason: ReasonInvalidDomain, msg: "without \"https://\""},
		{in: "example.com/contact", reason: ReasonInvalidDomain, msg: "bare domain"},
		{in: "example.com?x=1", reason: ReasonInvalidDomain, msg: "bare domain"},
		{in: "jane@example.com", reason: ReasonInvalidDomain, msg: "no \"@\""},
		{in: "example.com (main)", reason: ReasonInvalidSyntax, msg: "comments"},
		{in: "localhost", reason: ReasonInvalidDomain, msg: "has no dot"},
		{in: "com", reason: ReasonInvalidDomain, msg: "has no dot"},
		{in: ".", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: ".example.com", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: "example..com", reason: ReasonInvalidDomain, msg: "empty label"},
		{in: "exa mple.com", reason: ReasonInvalidDomain, msg: `the domain label "exa mple" contains a space`},
		{in: "ex_ample.com", reason: ReasonInvalidDomain, msg: `"_"`},
		{in: "example.com:8080", reason: ReasonInvalidDomain, msg: `':'`},
		{in: "[192.0.2.1]", reason: ReasonIPLiteral},
		{in: "192.0.2.1", reason: ReasonInvalidDomain, msg: "IP address"},
		{in: "example.42", reason: ReasonInvalidDomain, msg: "all digits"},
		{in: "💩.la", want: Domain{Unicode: "💩.la", ASCII: "xn--ls8h.la"}},
		{in: "xn--o38h.abrdns.com", want: Domain{Unicode: "😭.abrdns.com", ASCII: "xn--o38h.abrdns.com"}},
		{in: label64 + ".com", reason: ReasonTooLong, msg: "the limit is 63"},
		{in: domain254, reason: ReasonTooLong, msg: "the limit is 253"},
		{in: "exam\x00ple.com", reason: ReasonInvalidSyntax, msg: "control character"},
		{in: "exam\xffple.com", reason: ReasonInvalidSyntax, msg: "UTF-8"},
		{in: strings.Repeat("a.", 600) + "com", reason: ReasonTooLong},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:20] + "..." + name[len(name)-10:]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseDomain(tt.in)
			if tt.reason != "" {
				checkSyntaxError(t, err, tt.reason, tt.msg)
				return
			}
			if err != nil {
				t.Fatalf("ParseDomain(%q) error = %v, want none", tt.in, err)
			}
			want := tt.want
			want.Input = tt.in
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ParseDomain(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// The domain of an address and a bare domain follow the same rules.
func TestParseDomainMatchesAddressDomain(t *testing.T) {
	t.Parallel()
	domains := []string{
		"example.com", "Example.COM.", "bücher.de", "xn--bcher-kva.de", "exa mple.com",
		"ex_ample.com", "-example.com", "example", "example.123", "💩.la", "exא.com",
		label64 + ".com", domain254, "example..com", "[192.0.2.1]", "xn--a.com",
	}
	for _, d := range domains {
		dom, derr := ParseDomain(d)
		a, aerr := ParseAddress("x@" + d)
		if (derr == nil) != (aerr == nil) {
			t.Errorf("%q: ParseDomain error = %v, ParseAddress error = %v, want both or neither", d, derr, aerr)
			continue
		}
		if derr != nil {
			var de, ae *SyntaxError
			errors.As(derr, &de)
			errors.As(aerr, &ae)
			if de.Reason != ae.Reason {
				t.Errorf("%q: ParseDomain reason = %q, ParseAddress reason = %q, want the same", d, de.Reason, ae.Reason)
			}
			continue
		}
		if dom.Unicode != a.Domain || dom.ASCII != a.ASCIIDomain {
			t.Errorf("%q: ParseDomain = (%q, %q), ParseAddress = (%q, %q), want the same", d, dom.Unicode, dom.ASCII, a.Domain, a.ASCIIDomain)
		}
	}
}

func TestSyntaxErrorError(t *testing.T) {
	t.Parallel()
	err := &SyntaxError{Reason: ReasonInvalidDomain, Message: `the domain label "exa mple" contains a space`}
	want := `invalid_domain: the domain label "exa mple" contains a space`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

var addressSeeds = []string{
	"jane@example.com", "Jane.Doe+tag@Example.COM.", `"john doe"@example.com`, `"jo\"hn"@example.com`,
	"josé@bücher.de", "用户@例子.广告", "jane@xn--bcher-kva.de", "user@[192.0.2.1]", "Jane <jane@example.com>",
	"a(b)@c.com", "jane@exa mple.com", "jane@ｅｘａｍｐｌｅ．ｃｏｍ", "jane@example.com。", "\x00@x.com",
	"x@" + umlaut57 + ".de", local64 + "@" + domain189, `"\\"@x.com`, "jane@שלום.com", "jane@xn--.com",
}

func FuzzParseAddress(f *testing.F) {
	for _, s := range addressSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			var serr *SyntaxError
			if !errors.As(err, &serr) {
				t.Fatalf("ParseAddress(%q) error %v is a %T, want *SyntaxError", s, err, err)
			}
			switch serr.Reason {
			case ReasonInvalidSyntax, ReasonTooLong, ReasonInvalidDomain, ReasonIPLiteral:
			default:
				t.Fatalf("ParseAddress(%q) reason = %q, want a syntax reason", s, serr.Reason)
			}
			if serr.Message == "" {
				t.Fatalf("ParseAddress(%q) gave an empty message", s)
			}
			return
		}
		checkAddressInvariants(t, a)
		again, err := ParseAddress(a.Normalized())
		if err != nil {
			t.Fatalf("ParseAddress(%q) ok, but its Normalized() %q fails: %v", s, a.Normalized(), err)
		}
		again.Input = a.Input
		if diff := cmp.Diff(a, again); diff != "" {
			t.Fatalf("reparsing Normalized() of %q changed the address (-first +second):\n%s", s, diff)
		}
	})
}

func checkAddressInvariants(t *testing.T, a Address) {
	t.Helper()
	switch {
	case len(a.Local) == 0 || len(a.Local) > maxLocalLength:
		t.Fatalf("%q: local part length %d out of range", a.Input, len(a.Local))
	case len(a.Local)+1+len(a.ASCIIDomain) > maxAddressLength:
		t.Fatalf("%q: address length %d over the limit", a.Input, len(a.Local)+1+len(a.ASCIIDomain))
	case len(a.ASCIIDomain) > maxDomainLength:
		t.Fatalf("%q: domain length %d over the limit", a.Input, len(a.ASCIIDomain))
	case !isASCIIText(a.ASCIIDomain) || strings.ToLower(a.ASCIIDomain) != a.ASCIIDomain:
		t.Fatalf("%q: ASCIIDomain %q is not lower-case ASCII", a.Input, a.ASCIIDomain)
	case !utf8.ValidString(a.Local) || !utf8.ValidString(a.Domain):
		t.Fatalf("%q: invalid UTF-8 in %q@%q", a.Input, a.Local, a.Domain)
	case a.SMTPUTF8 == isASCIIText(a.Local):
		t.Fatalf("%q: SMTPUTF8 = %v for local part %q", a.Input, a.SMTPUTF8, a.Local)
	case a.Subaddressed && (a.Quoted || !strings.HasSuffix(a.Local, "+"+a.Tag)):
		t.Fatalf("%q: tag %q does not fit local part %q (quoted %v)", a.Input, a.Tag, a.Local, a.Quoted)
	case !a.Subaddressed && a.Tag != "":
		t.Fatalf("%q: tag %q without Subaddressed", a.Input, a.Tag)
	case a.Quoted != strings.HasPrefix(a.Local, `"`):
		t.Fatalf("%q: Quoted = %v for local part %q", a.Input, a.Quoted, a.Local)
	case strings.HasSuffix(a.ASCIIDomain, ".") || strings.Count(a.ASCIIDomain, ".") < 1:
		t.Fatalf("%q: ASCIIDomain %q is not a multi-label name without root dot", a.Input, a.ASCIIDomain)
	}
	for _, l := range strings.Split(a.ASCIIDomain, ".") {
		if l == "" || len(l) > maxLabelLength {
			t.Fatalf("%q: ASCII label %q has length %d", a.Input, l, len(l))
		}
	}
	d, err := ParseDomain(a.Domain)
	if err != nil {
		t.Fatalf("%q: ParseDomain(Domain %q) error = %v", a.Input, a.Domain, err)
	}
	if d.ASCII != a.ASCIIDomain || d.Unicode != a.Domain {
		t.Fatalf("%q: ParseDomain(%q) = (%q, %q), want (%q, %q)", a.Input, a.Domain, d.Unicode, d.ASCII, a.Domain, a.ASCIIDomain)
	}
}

func FuzzParseDomain(f *testing.F) {
	for _, s := range []string{
		"example.com", "EXAMPLE.com.", "bücher.de", "xn--bcher-kva.de", "日本語.jp", "💩.la", "exa mple.com",
		"[192.0.2.1]", "192.0.2.1", "https://example.com", "xn--a.com", "ｅｘａｍｐｌｅ．ｃｏｍ", domain253, "a.b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDomain(s)
		if err != nil {
			var serr *SyntaxError
			if !errors.As(err, &serr) || serr.Message == "" {
				t.Fatalf("ParseDomain(%q) error = %v (%T), want a *SyntaxError with a message", s, err, err)
			}
			return
		}
		if !isASCIIText(d.ASCII) || strings.ToLower(d.ASCII) != d.ASCII || len(d.ASCII) > maxDomainLength {
			t.Fatalf("ParseDomain(%q).ASCII = %q, want lower-case ASCII of at most %d octets", s, d.ASCII, maxDomainLength)
		}
		for _, l := range strings.Split(d.ASCII, ".") {
			if l == "" || len(l) > maxLabelLength {
				t.Fatalf("ParseDomain(%q).ASCII = %q has label %q", s, d.ASCII, l)
			}
		}
		for _, form := range []string{d.Unicode, d.ASCII} {
			again, err := ParseDomain(form)
			if err != nil {
				t.Fatalf("ParseDomain(%q) ok, but ParseDomain(%q) fails: %v", s, form, err)
			}
			if again.Unicode != d.Unicode || again.ASCII != d.ASCII {
				t.Fatalf("ParseDomain(%q) = (%q, %q), but ParseDomain(%q) = (%q, %q)", s, d.Unicode, d.ASCII, form, again.Unicode, again.ASCII)
			}
		}
	})
}

func BenchmarkParseAddress(b *testing.B) {
	for b.Loop() {
		if _, err := ParseAddress("Jane.Doe+news@Example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAddressIDN(b *testing.B) {
	for b.Loop() {
		if _, err := ParseAddress("josé@bücher.de"); err != nil {
			b.Fatal(err)
		}
	}
}
