package mailbox

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/smtptest"
)

// fixture is a group of loopback SMTP servers on one port, one behaviour
// per address, and a DNS zone naming them.
type fixture struct {
	main, slow, banner554, block *smtptest.Server
	port                         int
	dns                          *dnstest.Server
}

const fixtureZone = `$ORIGIN test.
@ 300 IN SOA ns.test. h.test. 1 3600 600 86400 60
mx.acme 300 IN A 127.0.0.1
acme 300 IN MX 10 mx.acme.test.
catchall 300 IN MX 10 mx.acme.test.
grey 300 IN MX 10 mx.acme.test.
drop 300 IN MX 10 mx.acme.test.
implicit 300 IN A 127.0.0.1
backup 300 IN MX 10 dead.backup.test.
backup 300 IN MX 20 mx.acme.test.
dead.backup 300 IN A 127.0.0.2
slow 300 IN MX 10 mx.slow.test.
mx.slow 300 IN A 127.0.0.3
blocked 300 IN MX 10 mx.blocked.test.
mx.blocked 300 IN A 127.0.0.4
mailblock 300 IN MX 10 mx.mailblock.test.
mx.mailblock 300 IN A 127.0.0.5
`

func newFixture(t *testing.T) *fixture {
	t.Helper()
	main := smtptest.Config{
		Mailboxes:     []string{"jane@acme.test", "joe@acme.test", "jane@implicit.test", "jane@backup.test", "jane@grey.test", "jane@drop.test"},
		Full:          []string{"full@acme.test"},
		CatchAll:      []string{"catchall.test"},
		Greylist:      []string{"grey.test"},
		GreylistDelay: time.Second,
		DropAfterRcpt: []string{"drop.test"},
		TLS:           true,
	}
	// 127.0.0.2 is left without a server: connections there are refused.
	servers := smtptest.StartGroupTB(t, []smtptest.Config{
		main,
		{Addr: "127.0.0.3:0", BannerDelay: 5 * time.Second},
		{Addr: "127.0.0.4:0", Banner554: true},
		{Addr: "127.0.0.5:0", BlockMail: true},
	})
	f := &fixture{main: servers[0], slow: servers[1], banner554: servers[2], block: servers[3], port: servers[0].Port()}
	f.dns = dnstest.Start(t, dnstest.Config{Zone: fixtureZone})
	return f
}

func (f *fixture) prober(t *testing.T, cfg Config) *Prober {
	t.Helper()
	cfg.Port = f.port
	cfg.DNSServers = []string{f.dns.Addr()}
	cfg.HELO = "probe.leadcheck.test"
	cfg.From = "verify@leadcheck.test"
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.HostPause == 0 {
		cfg.HostPause = -1
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeAnswers(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true})
	ctx := context.Background()
	rep := p.Probe(ctx, "acme.test", []string{"mx.acme.test"}, []string{"jane", "nobody", "full", "joe"}, nil)
	want := []Status{Accepted, NotFound, Full, Accepted}
	for i, a := range rep.Answers {
		if a.Status != want[i] {
			t.Errorf("answer %d = %+v, want %s", i, a, want[i])
		}
	}
	if rep.Answers[1].Code != 550 || rep.Answers[1].Enhanced != "5.1.1" {
		t.Errorf("not found answer = %+v, want 550 5.1.1", rep.Answers[1])
	}
	if rep.CatchAll == nil || *rep.CatchAll {
		t.Errorf("catch-all of acme.test = %v, want false", rep.CatchAll)
	}
	if rep.Sessions != 1 || f.main.Sessions() != 1 {
		t.Errorf("sessions = %d (server saw %d), want 1", rep.Sessions, f.main.Sessions())
	}
	if got := f.main.RcptPerSession(); len(got) != 1 || got[0] != 5 {
		t.Errorf("RCPT per session = %v, want [5] (the catch-all probe and four addresses)", got)
	}
	if f.main.TLSSessions() != 1 {
		t.Errorf("TLS sessions = %d, want 1: STARTTLS was offered", f.main.TLSSessions())
	}
	if f.main.DataCommands() != 0 {
		t.Errorf("DATA sent %d times", f.main.DataCommands())
	}
	if h := f.main.Helos(); len(h) == 0 || h[0] != "probe.leadcheck.test" {
		t.Errorf("EHLO names = %v", h)
	}
	if fr := f.main.Froms(); len(fr) == 0 || fr[0] != "verify@leadcheck.test" {
		t.Errorf("MAIL FROM = %v", fr)
	}
}

func TestProbeBatchesShareOneSession(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true, BatchSize: 10})
	locals := make([]string, 35)
	for i := range locals {
		locals[i] = fmt.Sprintf("u%d", i)
	}
	locals[7] = "jane"
	rep := p.Probe(context.Background(), "acme.test", []string{"mx.acme.test"}, locals, nil)
	if rep.Sessions != 1 {
		t.Errorf("sessions = %d, want 1", rep.Sessions)
	}
	if got := f.main.RcptPerSession(); len(got) != 1 || got[0] != 36 {
		t.Errorf("RCPT per session = %v, want [36]", got)
	}
	for i, a := range rep.Answers {
		want := NotFound
		if i == 7 {
			want = Accepted
		}
		if a.Status != want {
			t.Errorf("answer %d = %s, want %s", i, a.Status, want)
		}
	}
}

func TestProbeCatchAll(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true})
	rep := p.Probe(context.Background(), "catchall.test", []string{"mx.acme.test"}, []string{"anyone"}, nil)
	if rep.CatchAll == nil || !*rep.CatchAll {
		t.Fatalf("catch-all = %v, want true", rep.CatchAll)
	}
	// Known already: not asked again.
	f.main.ResetCounts()
	known := true
	rep = p.Probe(context.Background(), "catchall.test", []string{"mx.acme.test"}, []string{"anyone"}, &known)
	if got := f.main.RcptPerSession(); len(got) != 1 || got[0] != 1 {
		t.Errorf("RCPT per session with the catch-all known = %v, want [1]", got)
	}
}

func TestProbeImplicitMXAndBackupMX(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true})
	rep := p.Probe(context.Background(), "implicit.test", nil, []string{"jane"}, nil)
	if rep.Answers[0].Status != Accepted || rep.Host != "implicit.test" {
		t.Errorf("implicit MX: %+v at %q, want accepted at implicit.test", rep.Answers[0], rep.Host)
	}
	// The first MX refuses connections; the second answers.
	rep = p.Probe(context.Background(), "backup.test", []string{"dead.backup.test", "mx.acme.test"}, []string{"jane"}, nil)
	if rep.Answers[0].Status != Accepted || rep.Host != "mx.acme.test" {
		t.Errorf("backup MX: %+v at %q, want accepted at mx.acme.test", rep.Answers[0], rep.Host)
	}
}

func TestProbeUnavailable(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, domain, mx string
		status           Status
		detail           string
	}{
		{"refused connection", "backup.test", "dead.backup.test", Unavailable, "could not connect"},
		{"slow banner", "slow.test", "mx.slow.test", Unavailable, "did not answer in time"},
		{"554 banner", "blocked.test", "mx.blocked.test", Unavailable, "refused the session at the banner (554)"},
		{"554 after MAIL FROM", "mailblock.test", "mx.mailblock.test", Unavailable, "refused MAIL FROM (554 5.7.1)"},
		{"greylisted", "grey.test", "mx.acme.test", Temporary, "temporary refusal"},
		{"dropped after RCPT TO", "drop.test", "mx.acme.test", Unavailable, "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := f.prober(t, Config{AllowPrivate: true, Timeout: 500 * time.Millisecond})
			rep := p.Probe(context.Background(), tt.domain, []string{tt.mx}, []string{"jane"}, ptr(false))
			a := rep.Answers[0]
			if a.Status != tt.status || !strings.Contains(a.Detail, tt.detail) {
				t.Errorf("answer = %+v, want %s with %q", a, tt.status, tt.detail)
			}
		})
	}
}

func TestProbeGreylistedThenAccepted(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true})
	rep := p.Probe(context.Background(), "grey.test", []string{"mx.acme.test"}, []string{"jane"}, nil)
	a := rep.Answers[0]
	if a.Status != Temporary || a.RetryAfter != time.Second {
		t.Fatalf("first contact = %+v, want temporary with a 1s retry", a)
	}
	time.Sleep(a.RetryAfter + 100*time.Millisecond)
	rep = p.Probe(context.Background(), "grey.test", []string{"mx.acme.test"}, []string{"jane"}, rep.CatchAll)
	if rep.Answers[0].Status != Accepted {
		t.Fatalf("after the delay = %+v, want accepted", rep.Answers[0])
	}
	if rep.CatchAll == nil || *rep.CatchAll {
		t.Errorf("catch-all after the delay = %v, want false: the probe address is the same on each try", rep.CatchAll)
	}
}

func TestProbeRefusesPrivateAddresses(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{})
	rep := p.Probe(context.Background(), "acme.test", []string{"mx.acme.test"}, []string{"jane"}, nil)
	a := rep.Answers[0]
	if a.Status != Unavailable || !strings.Contains(a.Detail, "private") {
		t.Errorf("answer = %+v, want unavailable because the address is private", a)
	}
	if f.main.Sessions() != 0 {
		t.Errorf("the server saw %d sessions, want 0", f.main.Sessions())
	}
}

func TestProbeEndsWithItsContext(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true, Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep := p.Probe(ctx, "slow.test", []string{"mx.slow.test"}, []string{"jane"}, nil)
	if a := rep.Answers[0]; a.Status != Unavailable || !strings.Contains(a.Detail, "time budget") {
		t.Errorf("answer = %+v, want unavailable: the time budget ended", a)
	}
}

func TestProbeBacksOffAfter421(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true})
	rep := p.Probe(context.Background(), "drop.test", []string{"mx.acme.test"}, []string{"jane"}, ptr(false))
	if rep.Answers[0].Status != Unavailable {
		t.Fatalf("drop: %+v", rep.Answers[0])
	}
	// The dropped session's RCPT answered 421 before the close, or the
	// connection just ended; either way a 421 must make the host rest.
	f.main.ResetCounts()
	p.backOff("mx.acme.test")
	rep = p.Probe(context.Background(), "acme.test", []string{"mx.acme.test"}, []string{"jane"}, ptr(false))
	if a := rep.Answers[0]; a.Status != Unavailable || !strings.Contains(a.Detail, "left alone") {
		t.Errorf("during backoff = %+v, want unavailable without a session", a)
	}
	if f.main.Sessions() != 0 {
		t.Errorf("the server saw %d sessions during the backoff", f.main.Sessions())
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code     int
		enhanced string
		text     string
		want     Status
	}{
		{250, "2.1.5", "ok", Accepted},
		{251, "", "will forward", Accepted},
		{550, "5.1.1", "no such user", NotFound},
		{551, "5.1.0", "", NotFound},
		{553, "5.1.10", "", NotFound},
		{550, "", "User unknown", NotFound},
		{550, "5.7.1", "blocked by policy", Unavailable},
		{550, "", "blocked: you are on a spam list, user unknown", Unavailable},
		{552, "5.2.2", "mailbox full", Full},
		{452, "4.2.2", "over quota", Full},
		{452, "4.5.3", "too many recipients", Temporary},
		{451, "4.7.1", "greylisted", Temporary},
		{421, "", "closing", Temporary},
		{554, "5.7.1", "rejected", Unavailable},
	}
	for _, tt := range tests {
		got := classify(Reply{Code: tt.code, Enhanced: tt.enhanced, Lines: []string{tt.text}})
		if got != tt.want {
			t.Errorf("classify(%d %s %q) = %s, want %s", tt.code, tt.enhanced, tt.text, got, tt.want)
		}
	}
}

// TestProbeCapsSessionsInAll: with every session slot taken, a probe to
// another host waits and then gives up without connecting.
func TestProbeCapsSessionsInAll(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true, MaxSessions: 1, Timeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Probe(ctx, "slow.test", []string{"mx.slow.test"}, []string{"jane"}, nil)
	}()
	t.Cleanup(func() { cancel(); <-done })
	for f.slow.Sessions() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	short, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer stop()
	rep := p.Probe(short, "acme.test", []string{"mx.acme.test"}, []string{"jane"}, nil)
	if a := rep.Answers[0]; a.Status != Unavailable || !strings.Contains(a.Detail, "free SMTP session") {
		t.Errorf("answer = %+v, want unavailable while every session slot is taken", a)
	}
	if f.main.Sessions() != 0 {
		t.Errorf("the other host saw %d sessions", f.main.Sessions())
	}
}

// TestProbeFallsBackToHELO: a server that does not know EHLO is greeted
// with HELO, and the probe goes on in plain text.
func TestProbeFallsBackToHELO(t *testing.T) {
	srv := smtptest.StartTB(t, smtptest.Config{Mailboxes: []string{"jane@old.test"}, NoEHLO: true, TLS: true})
	p, err := New(Config{Port: srv.Port(), AllowPrivate: true, HostPause: -1, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep := p.Probe(context.Background(), "old.test", []string{srv.IP()}, []string{"jane", "nobody"}, nil)
	if rep.Answers[0].Status != Accepted || rep.Answers[1].Status != NotFound {
		t.Errorf("answers = %+v", rep.Answers)
	}
	if srv.TLSSessions() != 0 {
		t.Errorf("STARTTLS was used without EHLO")
	}
}
