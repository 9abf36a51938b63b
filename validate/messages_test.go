package validate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// TestEngineDNSFailureMessages: each kind of DNS failure is unknown with a
// message of its own that says what happened, and the invalid mail verdicts
// a form may show are in plain words.
func TestEngineDNSFailureMessages(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t, dnstest.Config{Zone: engineZone, Behaviours: map[string]dnstest.Behaviour{
		"slow.test":    dnstest.Blackhole(),
		"broken.test":  dnstest.Servfail(),
		"refuses.test": dnstest.Refused(),
	}})
	// A server that is gone: its port answers "connection refused".
	gone := dnstest.Start(t, dnstest.Config{Zone: engineZone})
	goneAddr := gone.Addr()
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	lists, err := validate.LoadLists(validate.ListsConfig{})
	if err != nil {
		t.Fatal(err)
	}
	engineAt := func(addr string) *validate.Engine {
		r, err := validate.NewDNSResolver([]string{addr}, 300*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		return validate.NewEngine(lists, validate.DNSChecker{Resolver: r})
	}
	live, dead := engineAt(srv.Addr()), engineAt(goneAddr)

	tests := []struct {
		name    string
		engine  *validate.Engine
		email   string
		verdict validate.Verdict
		reason  validate.Reason
		message string // a part of the message
		jargon  string // a part the message must not have; "" for none
	}{
		{"timeout", live, "jane@slow.test", validate.Unknown, validate.ReasonDNSError, "did not answer in time", ""},
		{"servfail", live, "jane@broken.test", validate.Unknown, validate.ReasonDNSError, "failed to answer (SERVFAIL)", "in time"},
		{"refused", live, "jane@refuses.test", validate.Unknown, validate.ReasonDNSError, "refused to answer", "in time"},
		{"network error", dead, "jane@acme.test", validate.Unknown, validate.ReasonDNSError, "could not reach our DNS servers", "in time"},
		{"null mx", live, "jane@nullmx.test", validate.Invalid, validate.ReasonNullMX, "this domain says it accepts no email", "MX"},
		{"no mail server", live, "jane@nomail.test", validate.Invalid, validate.ReasonNoMailServer, "has no mail server", "MX"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := tt.engine.Validate(context.Background(), validate.Request{Email: tt.email})
			if err != nil {
				t.Fatal(err)
			}
			e := res.Email
			if e.Verdict != tt.verdict || e.Reason != tt.reason {
				t.Fatalf("got %s/%s (%q), want %s/%s", e.Verdict, e.Reason, e.Message, tt.verdict, tt.reason)
			}
			if !strings.Contains(e.Message, tt.message) {
				t.Errorf("message: got %q, want one containing %q", e.Message, tt.message)
			}
			if tt.jargon != "" && strings.Contains(e.Message, tt.jargon) {
				t.Errorf("message: got %q, want one without %q", e.Message, tt.jargon)
			}
		})
	}
}

// TestMessagesArePlain: the messages of invalid and risky verdicts, which
// the widget shows to the person filling in the form, speak to that person
// without DNS jargon or words meant for whoever reads the leads.
func TestMessagesArePlain(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t)
	requests := []validate.Request{
		{Email: "jane@nullmx.test"}, {Email: "jane@nomail.test"}, {Email: "jane@nowhere.test"},
		{Email: "jane@mailinator.com"}, {Email: `"jane doe"@acme.test`}, {Email: "sales@acme.test"},
		{Phone: "+1 900 234 5678"}, {Phone: "09 12 34 56 78", Country: "FR"}, {Phone: "0180 1 2345", Country: "DE"},
		{Phone: "+44 20"}, {Phone: "+999 1234 5678"}, {Phone: "555 0100", Country: "US"},
	}
	jargon := []string{"MX", "RCODE", "NXDOMAIN", "local part", "ask for", "lead"}
	for _, r := range requests {
		res, err := e.Validate(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		var verdict validate.Verdict
		var msg string
		switch {
		case res.Email != nil:
			verdict, msg = res.Email.Verdict, res.Email.Message
		default:
			verdict, msg = res.Phone.Verdict, res.Phone.Message
		}
		if verdict != validate.Invalid && verdict != validate.Risky {
			t.Errorf("%+v: got %s, want a verdict the widget explains", r, verdict)
			continue
		}
		if msg == "" {
			t.Errorf("%+v: got no message", r)
		}
		for _, j := range jargon {
			if strings.Contains(msg, j) {
				t.Errorf("%+v: message %q has %q", r, msg, j)
			}
		}
	}
}
