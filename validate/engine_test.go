package validate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

const engineZone = `
$ORIGIN test.
@             300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
acme          300 IN MX  10 mx.acme.test.
acme          300 IN TXT "v=spf1 mx -all"
_dmarc.acme   300 IN TXT "v=DMARC1; p=reject"
plain         300 IN MX  10 mx.plain.test.
implicit      300 IN A   192.0.2.1
nullmx        300 IN MX  0 .
broken        300 IN MX  10 mx.broken.test.
nomail        300 IN TXT "no mail here"
$ORIGIN com.
@             300 IN SOA ns.com. hostmaster.com. 1 3600 600 86400 60
gmail         300 IN MX  5 gmail-smtp-in.l.google.com.
gmail         300 IN TXT "v=spf1 redirect=_spf.google.com"
_dmarc.gmail  300 IN TXT "v=DMARC1; p=none"
mailinator    300 IN MX  10 mail.mailinator.com.
`

func newEngine(t *testing.T) (*validate.Engine, *dnstest.Server) {
	t.Helper()
	srv := dnstest.Start(t, dnstest.Config{Zone: engineZone, Behaviours: map[string]dnstest.Behaviour{"broken.test": dnstest.Servfail()}})
	r, err := validate.NewDNSResolver([]string{srv.Addr()}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := validate.LoadLists(validate.ListsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return validate.NewEngine(lists, validate.DNSChecker{Resolver: r}), srv
}

func TestEngineVerdictsAndScores(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t)
	tests := []struct {
		name    string
		req     validate.Request
		verdict validate.Verdict
		reason  validate.Reason // of the email, phone or domain, whichever is set first
		score   int
	}{
		{"corporate with spf and dmarc", validate.Request{Email: "jane@acme.test"}, validate.Valid, validate.ReasonOK, 100},
		{"no spf no dmarc", validate.Request{Email: "jane@plain.test"}, validate.Valid, validate.ReasonOK, 90},
		{"implicit mx", validate.Request{Email: "jane@implicit.test"}, validate.Valid, validate.ReasonOK, 85},
		{"free provider", validate.Request{Email: "jane@gmail.com"}, validate.Valid, validate.ReasonOK, 90},
		{"free and tagged", validate.Request{Email: "jane+x@gmail.com"}, validate.Valid, validate.ReasonOK, 85},
		{"role", validate.Request{Email: "sales@acme.test"}, validate.Risky, validate.ReasonRoleAccount, 40},
		{"disposable beats role", validate.Request{Email: "info@mailinator.com"}, validate.Risky, validate.ReasonDisposable, 10},
		{"quoted local part", validate.Request{Email: `"jane doe"@acme.test`}, validate.Risky, validate.ReasonQuotedLocalPart, 30},
		{"null mx", validate.Request{Email: "jane@nullmx.test"}, validate.Invalid, validate.ReasonNullMX, 0},
		{"nxdomain", validate.Request{Email: "jane@nowhere.test"}, validate.Invalid, validate.ReasonNoSuchDomain, 0},
		{"servfail", validate.Request{Email: "jane@broken.test"}, validate.Unknown, validate.ReasonDNSError, 50},
		{"role at a broken domain stays risky", validate.Request{Email: "info@broken.test"}, validate.Risky, validate.ReasonRoleAccount, 40},
		{"role at a dead domain is invalid", validate.Request{Email: "info@nowhere.test"}, validate.Invalid, validate.ReasonNoSuchDomain, 0},
		{"syntax", validate.Request{Email: "jane@@acme.test"}, validate.Invalid, validate.ReasonInvalidSyntax, 0},
		{"ip literal", validate.Request{Email: "jane@[192.0.2.1]"}, validate.Invalid, validate.ReasonIPLiteral, 0},
		{"phone only", validate.Request{Phone: "+44 20 7946 0958"}, validate.Valid, validate.ReasonOK, 100},
		{"bad phone", validate.Request{Phone: "+44 20"}, validate.Invalid, "", 0},
		{"domain only", validate.Request{Domain: "acme.test"}, validate.Valid, validate.ReasonOK, 100},
		{"disposable domain", validate.Request{Domain: "mailinator.com"}, validate.Risky, validate.ReasonDisposable, 10},
		{"worst field wins", validate.Request{Email: "jane@acme.test", Phone: "+44 20"}, validate.Invalid, validate.ReasonOK, 0},
		{"unknown beats valid", validate.Request{Email: "jane@broken.test", Domain: "acme.test"}, validate.Unknown, validate.ReasonDNSError, 50},
		{"risky beats unknown", validate.Request{Email: "sales@acme.test", Domain: "broken.test"}, validate.Risky, validate.ReasonRoleAccount, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := e.Validate(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tt.verdict || res.Score != tt.score {
				t.Errorf("got %s/%d, want %s/%d", res.Verdict, res.Score, tt.verdict, tt.score)
			}
			var reason validate.Reason
			switch {
			case res.Email != nil:
				reason = res.Email.Reason
			case res.Phone != nil:
				reason = res.Phone.Reason
			case res.Domain != nil:
				reason = res.Domain.Reason
			}
			if tt.reason != "" && reason != tt.reason {
				t.Errorf("reason: got %s, want %s", reason, tt.reason)
			}
		})
	}
}

// TestScoreFollowsVerdict: whatever the lead, score ranges never overlap
// across verdicts, so sorting by score sorts by verdict.
func TestScoreFollowsVerdict(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t)
	inputs := []string{"jane@acme.test", "jane@plain.test", "jane+a@gmail.com", "info@acme.test", "a@mailinator.com",
		"x@broken.test", "x@nowhere.test", "bad@", `"q"@acme.test`, "admin@implicit.test", "jane@nullmx.test"}
	ranges := map[validate.Verdict][2]int{validate.Invalid: {0, 0}, validate.Risky: {10, 40}, validate.Unknown: {50, 50}, validate.Valid: {70, 100}}
	for _, in := range inputs {
		res, err := e.Validate(context.Background(), validate.Request{Email: in})
		if err != nil {
			t.Fatal(err)
		}
		r := ranges[res.Verdict]
		if res.Score < r[0] || res.Score > r[1] {
			t.Errorf("%s: verdict %s with score %d, want %d..%d", in, res.Verdict, res.Score, r[0], r[1])
		}
	}
}

func TestEngineDidYouMean(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t)
	for in, want := range map[string]string{
		"jane@gmial.com":   "jane@gmail.com",
		"Jane@GMAIL.CON":   "Jane@gmail.com",
		"jane@acme.test":   "",
		"jane@hotmial.com": "jane@hotmail.com",
	} {
		res, err := e.Validate(context.Background(), validate.Request{Email: in})
		if err != nil {
			t.Fatal(err)
		}
		if res.Email.DidYouMean != want {
			t.Errorf("%s: did_you_mean %q, want %q", in, res.Email.DidYouMean, want)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		req         validate.Request
		field, code string
	}{
		{validate.Request{}, "email", "missing_field"},
		{validate.Request{Name: "Jane", Company: "Acme"}, "email", "missing_field"},
		{validate.Request{Email: "  "}, "email", "missing_field"},
		{validate.Request{Email: strings.Repeat("a", 1025)}, "email", "field_too_long"},
		{validate.Request{Email: "a@b.test", Company: strings.Repeat("c", 2000)}, "company", "field_too_long"},
		{validate.Request{Email: "a\x00@b.test"}, "email", "control_character"},
		{validate.Request{Phone: "+1 415\n5550100"}, "phone", "control_character"},
		{validate.Request{Domain: "\xff.test"}, "domain", "invalid_encoding"},
		{validate.Request{Phone: "4155550100", Country: "ZZ"}, "country", "unknown_country"},
		{validate.Request{Phone: "4155550100", Country: "USA"}, "country", "unknown_country"},
		{validate.Request{Phone: "4155550100", Country: "us"}, "", ""},
		{validate.Request{Email: "a@b.test"}, "", ""},
	}
	for _, tt := range tests {
		err := validate.CheckRequest(tt.req)
		var ie *validate.InputError
		if tt.code == "" {
			if err != nil {
				t.Errorf("%+v: got %v, want nil", tt.req, err)
			}
			continue
		}
		if !errors.As(err, &ie) || ie.Field != tt.field || ie.Code != tt.code || ie.Message == "" {
			t.Errorf("%+v: got %v, want field %s code %s", tt.req, err, tt.field, tt.code)
		}
	}
}

// TestEngineHonoursDeadline: DNS that never answers yields "unknown" once
// the caller's deadline passes.
func TestEngineHonoursDeadline(t *testing.T) {
	t.Parallel()
	e, srv := newEngine(t)
	srv.SetBehaviour("acme.test", dnstest.Blackhole())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := e.Validate(ctx, validate.Request{Email: "jane@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != validate.Unknown || res.Email.Reason != validate.ReasonDNSError {
		t.Errorf("got %s/%s, want unknown/dns_error", res.Verdict, res.Email.Reason)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %s with a 300ms deadline", took)
	}
}

// FuzzValidate: no input makes the engine panic or break its invariants.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{"jane@acme.test", "", "@", "a@b", `"x"@acme.test`, "jane@[1.2.3.4]", "+44 20 7946 0958", "ä@ü.test"} {
		f.Add(s, s, "GB")
	}
	srv, err := dnstest.New(dnstest.Config{Zone: engineZone})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	r, _ := validate.NewDNSResolver([]string{srv.Addr()}, time.Second)
	lists, _ := validate.LoadLists(validate.ListsConfig{})
	e := validate.NewEngine(lists, validate.DNSChecker{Resolver: r})
	f.Fuzz(func(t *testing.T, email, phone, country string) {
		res, err := e.Validate(context.Background(), validate.Request{Email: email, Phone: phone, Country: country})
		if err != nil {
			var ie *validate.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v is not an InputError", err)
			}
			return
		}
		if res.Score < 0 || res.Score > 100 {
			t.Fatalf("score %d", res.Score)
		}
		if res.Email != nil && res.Email.Verdict == validate.Invalid && res.Verdict != validate.Invalid {
			t.Fatalf("email invalid but lead %s", res.Verdict)
		}
	})
}
