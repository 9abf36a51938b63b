package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	socks5 "github.com/armon/go-socks5"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/smtptest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

// smtpZone points the fixture domains' MX records at the loopback SMTP
// servers: 127.0.0.1 holds the mailboxes, 127.0.0.2 refuses connections,
// 127.0.0.3 has a slow banner, 127.0.0.4 a 554 banner, 127.0.0.5 blocks
// MAIL FROM.
const smtpZone = `
$ORIGIN test.
@              300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
mx.acme        300 IN A  127.0.0.1
acme           300 IN MX 10 mx.acme.test.
catchall       300 IN MX 10 mx.acme.test.
grey           300 IN MX 10 mx.acme.test.
drop           300 IN MX 10 mx.acme.test.
implicit       300 IN A  127.0.0.1
refused        300 IN MX 10 mx.refused.test.
mx.refused     300 IN A  127.0.0.2
slow           300 IN MX 10 mx.slow.test.
mx.slow        300 IN A  127.0.0.3
blocked        300 IN MX 10 mx.blocked.test.
mx.blocked     300 IN A  127.0.0.4
mailblock      300 IN MX 10 mx.mailblock.test.
mx.mailblock   300 IN A  127.0.0.5
$ORIGIN com.
@              300 IN SOA ns.com. hostmaster.com. 1 3600 600 86400 60
mailinator     300 IN MX 10 mx.acme.test.
`

type smtpFixture struct {
	main *smtptest.Server
	port int
	dns  *dnstest.Server
}

func startSMTPFixture(t *testing.T) *smtpFixture {
	t.Helper()
	servers := smtptest.StartGroupTB(t, []smtptest.Config{
		{
			Mailboxes:     []string{"jane@acme.test", "jane@implicit.test", "jane@grey.test", "jane@drop.test", "jane@mailinator.com"},
			Full:          []string{"full@acme.test"},
			CatchAll:      []string{"catchall.test"},
			Greylist:      []string{"grey.test"},
			GreylistDelay: time.Hour,
			DropAfterRcpt: []string{"drop.test"},
			TLS:           true,
		},
		{Addr: "127.0.0.3:0", BannerDelay: 10 * time.Second},
		{Addr: "127.0.0.4:0", Banner554: true},
		{Addr: "127.0.0.5:0", BlockMail: true},
	})
	return &smtpFixture{main: servers[0], port: servers[0].Port(), dns: dnstest.Start(t, dnstest.Config{Zone: smtpZone})}
}

func (f *smtpFixture) env(extra map[string]string) map[string]string {
	env := map[string]string{
		"LEADCHECK_DNS":                    f.dns.Addr(),
		"LEADCHECK_SMTP":                   "on",
		"LEADCHECK_SMTP_PORT":              fmt.Sprint(f.port),
		"LEADCHECK_SMTP_HELO":              "verify.leadcheck.test",
		"LEADCHECK_SMTP_FROM":              "verify@leadcheck.test",
		"LEADCHECK_SMTP_TIMEOUT":           "1s",
		"LEADCHECK_SMTP_HOST_PAUSE":        "0",
		"LEADCHECK_ALLOW_PRIVATE_NETWORKS": "true",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func smtpQuery(t *testing.T, c *client.ClientWithResponses, email string) *client.ValidateQueryResponse {
	t.Helper()
	yes := true
	resp, err := c.ValidateQueryWithResponse(t.Context(), &client.ValidateQueryParams{Email: &email, Smtp: &yes})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestSMTPVerdictsThroughServer drives every SMTP verdict through the real
// HTTP server and the generated client.
func TestSMTPVerdictsThroughServer(t *testing.T) {
	f := startSMTPFixture(t)
	srv := serveInProcess(t, f.env(nil))
	c := newClient(t, srv.base)
	tests := []struct {
		email      string
		verdict    client.Verdict
		reason     client.Reason
		checked    bool
		deliverabl bool
		catchAll   bool
		code       int
	}{
		{"jane@acme.test", client.VerdictValid, client.ReasonOk, true, true, false, 250},
		{"jane@implicit.test", client.VerdictValid, client.ReasonOk, true, true, false, 250},
		{"nobody@acme.test", client.VerdictInvalid, client.ReasonMailboxNotFound, true, false, false, 550},
		{"full@acme.test", client.VerdictRisky, client.ReasonMailboxFull, true, false, false, 452},
		{"anyone@catchall.test", client.VerdictRisky, client.ReasonCatchAll, true, false, true, 250},
		{"jane@grey.test", client.VerdictUnknown, client.ReasonSmtpUnavailable, true, false, false, 451},
		{"jane@drop.test", client.VerdictUnknown, client.ReasonSmtpUnavailable, true, false, false, 0},
		{"jane@refused.test", client.VerdictUnknown, client.ReasonSmtpUnavailable, true, false, false, 0},
		{"jane@slow.test", client.VerdictUnknown, client.ReasonSmtpUnavailable, true, false, false, 0},
		{"jane@blocked.test", client.VerdictUnknown, client.ReasonSmtpUnavailable, true, false, false, 0},
		{"jane@mailblock.test", client.VerdictUnknown, client.ReasonSmtpUnavailable, true, false, false, 0},
		{"jane@missing.test", client.VerdictInvalid, client.ReasonNoSuchDomain, false, false, false, 0},
		// A list fact stays: the mailbox exists, the address is still a
		// throwaway one.
		{"jane@mailinator.com", client.VerdictRisky, client.ReasonDisposable, true, true, false, 250},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			resp := smtpQuery(t, c, tt.email)
			if resp.JSON200 == nil || resp.JSON200.Email == nil {
				t.Fatalf("got %d %s", resp.StatusCode(), resp.Body)
			}
			e := resp.JSON200.Email
			if e.Verdict != tt.verdict || e.Reason != tt.reason {
				t.Errorf("verdict = %s/%s, want %s/%s (%s)", e.Verdict, e.Reason, tt.verdict, tt.reason, resp.Body)
			}
			if e.Smtp == nil {
				t.Fatalf("no email.smtp in %s", resp.Body)
			}
			s := e.Smtp
			if s.Checked != tt.checked || s.Deliverable != tt.deliverabl || s.CatchAll != tt.catchAll {
				t.Errorf("smtp = %+v, want checked %v deliverable %v catch_all %v", s, tt.checked, tt.deliverabl, tt.catchAll)
			}
			code := 0
			if s.Code != nil {
				code = *s.Code
			}
			if code != tt.code {
				t.Errorf("smtp.code = %d, want %d", code, tt.code)
			}
			if tt.code == 250 && (s.Host == nil || *s.Host == "") {
				t.Errorf("smtp.host is empty")
			}
		})
	}
	if f.main.DataCommands() != 0 {
		t.Errorf("DATA was sent %d times", f.main.DataCommands())
	}
	if f.main.TLSSessions() == 0 {
		t.Errorf("no session used STARTTLS")
	}

	// POST with options.smtp, answered from the cache: no new session.
	before := f.main.Sessions()
	yes := true
	email := "nobody@acme.test"
	resp, err := c.ValidateLeadWithResponse(t.Context(), client.ValidateLeadJSONRequestBody{Email: &email, Options: &client.ValidateOptions{Smtp: &yes}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.JSON200 == nil || resp.JSON200.Email.Reason != client.ReasonMailboxNotFound {
		t.Fatalf("POST: got %d %s", resp.StatusCode(), resp.Body)
	}
	if got := f.main.Sessions(); got != before {
		t.Errorf("a cached answer opened %d sessions", got-before)
	}
	if logs := srv.logs.text(); strings.Contains(logs, "@acme.test") || strings.Contains(logs, "jane@") {
		t.Errorf("logs contain an email address:\n%s", logs)
	}
}

// TestSMTPSyncAnswersWithinValidateTimeout: a mail exchanger that holds
// its banner longer than LEADCHECK_VALIDATE_TIMEOUT gets unknown, not a
// stall.
func TestSMTPSyncAnswersWithinValidateTimeout(t *testing.T) {
	f := startSMTPFixture(t)
	srv := serveInProcess(t, f.env(map[string]string{"LEADCHECK_VALIDATE_TIMEOUT": "500ms", "LEADCHECK_SMTP_TIMEOUT": "30s"}))
	c := newClient(t, srv.base)
	resp := smtpQuery(t, c, "jane@slow.test")
	if resp.JSON200 == nil || resp.JSON200.Email.Reason != client.ReasonSmtpUnavailable {
		t.Fatalf("got %d %s, want unknown/smtp_unavailable", resp.StatusCode(), resp.Body)
	}
}

// TestSMTPRefusesPrivateMX: without LEADCHECK_ALLOW_PRIVATE_NETWORKS the
// loopback mail exchanger is not asked.
func TestSMTPRefusesPrivateMX(t *testing.T) {
	f := startSMTPFixture(t)
	srv := serveInProcess(t, f.env(map[string]string{"LEADCHECK_ALLOW_PRIVATE_NETWORKS": "false"}))
	c := newClient(t, srv.base)
	resp := smtpQuery(t, c, "jane@acme.test")
	if resp.JSON200 == nil || resp.JSON200.Email.Reason != client.ReasonSmtpUnavailable {
		t.Fatalf("got %d %s, want unknown/smtp_unavailable", resp.StatusCode(), resp.Body)
	}
	if msg := resp.JSON200.Email.Message; msg == nil || !strings.Contains(*msg, "private") {
		t.Errorf("message = %v, want it to say the address is private", msg)
	}
	if n := f.main.Sessions(); n != 0 {
		t.Errorf("the loopback server saw %d sessions", n)
	}
}

// TestSMTPDisabledIsA400: asking while the operator has not enabled it.
func TestSMTPDisabledIsA400(t *testing.T) {
	f := startSMTPFixture(t)
	srv := serveInProcess(t, map[string]string{"LEADCHECK_DNS": f.dns.Addr()})
	c := newClient(t, srv.base)
	resp := smtpQuery(t, c, "jane@acme.test")
	if resp.JSON400 == nil || resp.JSON400.Error.Code != "smtp_disabled" || !strings.Contains(resp.JSON400.Error.Message, "LEADCHECK_SMTP=on") {
		t.Errorf("GET: got %d %s, want 400 smtp_disabled", resp.StatusCode(), resp.Body)
	}
	yes := true
	email := "jane@acme.test"
	post, err := c.ValidateLeadWithResponse(t.Context(), client.ValidateLeadJSONRequestBody{Email: &email, Options: &client.ValidateOptions{Smtp: &yes}})
	if err != nil {
		t.Fatal(err)
	}
	if post.JSON400 == nil || post.JSON400.Error.Code != "smtp_disabled" {
		t.Errorf("POST: got %d %s, want 400 smtp_disabled", post.StatusCode(), post.Body)
	}
	// Without the option the same server answers as ever.
	plain, err := c.ValidateQueryWithResponse(t.Context(), &client.ValidateQueryParams{Email: &email})
	if err != nil || plain.JSON200 == nil || plain.JSON200.Email.Smtp != nil {
		t.Errorf("plain: got %v %v", plain, err)
	}
	if f.main.Sessions() != 0 {
		t.Errorf("a disabled server opened %d SMTP sessions", f.main.Sessions())
	}
}

func TestSMTPSettings(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		{"LEADCHECK_SMTP": "maybe"},
		{"LEADCHECK_SMTP_PORT": "0"},
		{"LEADCHECK_SMTP_PROXY": "http://proxy:3128"},
		{"LEADCHECK_SMTP_ERROR_TTL": "1h"},
		{"LEADCHECK_SMTP_HOST_CONCURRENCY": "-1"},
	} {
		all := map[string]string{"LEADCHECK_ADDR": "127.0.0.1:0", "LEADCHECK_DATA_DIR": t.TempDir()}
		for k, v := range env {
			all[k] = v
		}
		err := run(t.Context(), []string{"leadcheck", "serve"}, envMap(all), &strings.Builder{})
		if err == nil {
			t.Errorf("%v: serve started", env)
			continue
		}
		for k := range env {
			if !strings.Contains(err.Error(), k) {
				t.Errorf("%v: error %q does not name the setting", env, err)
			}
		}
	}
}

// TestSMTPBulkThroughServer: the bulk form field smtp=true, through the
// real server; the addresses of a domain share one session.
func TestSMTPBulkThroughServer(t *testing.T) {
	f := startSMTPFixture(t)
	srv := serveInProcess(t, f.env(nil))
	c := newClient(t, srv.base)
	var csv strings.Builder
	csv.WriteString("email\n")
	for range 5 {
		csv.WriteString("jane@acme.test\nnobody@acme.test\nfull@acme.test\nanyone@catchall.test\n")
	}
	ct, body := multipartFile(t, csv.String(), map[string]string{"smtp": "true"})
	created, err := c.CreateBulkJobWithBodyWithResponse(t.Context(), ct, body)
	if err != nil || created.JSON202 == nil {
		t.Fatalf("create: %v %s", err, created.Body)
	}
	deadline := time.Now().Add(20 * time.Second)
	var job client.BulkJob
	for {
		job = getJob(t, c, created.JSON202.Id)
		if job.Status == client.BulkStatusCompleted || job.Status == client.BulkStatusFailed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s", job.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if job.Status != client.BulkStatusCompleted {
		t.Fatalf("job %s: %v", job.Status, job.Error)
	}
	want := client.VerdictCounts{Valid: 5, Invalid: 5, Risky: 10}
	if job.Counts != want {
		t.Errorf("counts = %+v, want %+v", job.Counts, want)
	}
	// acme.test and catchall.test: one session each.
	if n := f.main.Sessions(); n != 2 {
		t.Errorf("sessions = %d, want 2 (one per domain) for 20 rows", n)
	}

	// Refused when the server has SMTP off.
	off := serveInProcess(t, map[string]string{"LEADCHECK_DNS": f.dns.Addr()})
	ct, body = multipartFile(t, "email\njane@acme.test\n", map[string]string{"smtp": "true"})
	refused, err := newClient(t, off.base).CreateBulkJobWithBodyWithResponse(t.Context(), ct, body)
	if err != nil || refused.JSON400 == nil || refused.JSON400.Error.Code != "smtp_disabled" {
		t.Errorf("smtp=true on a server without SMTP: got %v %s, want 400 smtp_disabled", err, refused.Body)
	}
}

// TestSMTPThroughSOCKS5Proxy: LEADCHECK_SMTP_PROXY sends the sessions
// through a real SOCKS5 server on loopback; a proxy that is down makes the
// check unknown, never invalid.
func TestSMTPThroughSOCKS5Proxy(t *testing.T) {
	f := startSMTPFixture(t)
	var dials atomic.Int32
	socks, err := socks5.New(&socks5.Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { _ = socks.Serve(ln) }()

	srv := serveInProcess(t, f.env(map[string]string{"LEADCHECK_SMTP_PROXY": "socks5://" + ln.Addr().String()}))
	resp := smtpQuery(t, newClient(t, srv.base), "jane@acme.test")
	if resp.JSON200 == nil || resp.JSON200.Email.Verdict != client.VerdictValid || !resp.JSON200.Email.Smtp.Deliverable {
		t.Fatalf("through the proxy: got %d %s", resp.StatusCode(), resp.Body)
	}
	if dials.Load() != 1 {
		t.Errorf("the proxy dialed %d times, want 1", dials.Load())
	}

	down := serveInProcess(t, f.env(map[string]string{"LEADCHECK_SMTP_PROXY": "socks5://" + testenv.ClosedAddr(t)}))
	resp = smtpQuery(t, newClient(t, down.base), "joe@acme.test")
	if resp.JSON200 == nil || resp.JSON200.Email.Reason != client.ReasonSmtpUnavailable {
		t.Fatalf("proxy down: got %d %s, want unknown/smtp_unavailable", resp.StatusCode(), resp.Body)
	}
}
