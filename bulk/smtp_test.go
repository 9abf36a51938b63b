package bulk

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/smtptest"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/mailbox"
	"github.com/leadcheck/leadcheck/validate"
)

// smtpJobDomains is how many domains the bulk SMTP job spreads over.
const smtpJobDomains = 30

// smtpBulkZone is MailZone with smtpJobDomains domains, each with its own
// MX name on 127.0.0.1, plus a greylisting and a catch-all domain.
func smtpBulkZone() string {
	var z strings.Builder
	z.WriteString(testenv.MailZone)
	z.WriteString("$ORIGIN smtp.\n@ 300 IN SOA ns.smtp. h.smtp. 1 3600 600 86400 60\n")
	for i := range smtpJobDomains {
		fmt.Fprintf(&z, "d%d 300 IN MX 10 mx.d%d.smtp.\nmx.d%d 300 IN A 127.0.0.1\n", i, i, i)
	}
	z.WriteString("grey 300 IN MX 10 mx.grey.smtp.\nmx.grey 300 IN A 127.0.0.1\n")
	z.WriteString("catchall 300 IN MX 10 mx.catchall.smtp.\nmx.catchall 300 IN A 127.0.0.1\n")
	return z.String()
}

// newSMTPEnv is a bulk service whose jobs may ask for SMTP, against one
// loopback SMTP server.
func newSMTPEnv(t *testing.T, fixture smtptest.Config, budget time.Duration) (*testEnv, *smtptest.Server) {
	t.Helper()
	return newSMTPStoreEnv(t, storeLocal, fixture, budget)
}

// newSMTPStoreEnv is newSMTPEnv over the store kind.
func newSMTPStoreEnv(t *testing.T, kind string, fixture smtptest.Config, budget time.Duration) (*testEnv, *smtptest.Server) {
	t.Helper()
	srv := smtptest.StartTB(t, fixture)
	var checker *mailbox.Checker
	e := newStoreEnv(t, kind, dnstest.Config{Zone: smtpBulkZone()}, func(c *Config) {
		c.SMTPGreylistBudget = budget
	})
	p, err := mailbox.New(mailbox.Config{
		Port: srv.Port(), AllowPrivate: true, HostPause: -1, BatchSize: 15,
		Timeout: 2 * time.Second, DNSServers: []string{e.dns.Addr()},
	})
	if err != nil {
		t.Fatal(err)
	}
	memo, err := cache.NewMemo(cache.Config{MaxTTL: time.Hour}, "smtp", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = memo.Close() })
	checker = mailbox.NewChecker(p, memo, time.Hour, time.Minute)
	e.cfg.Mailbox = checker
	e.reopen()
	return e, srv
}

// TestBulkSMTPSharesSessionsPerDomain: a job over many domains opens one
// session per domain, carrying every address of the domain (and the
// catch-all probe) in batches, retries the greylisted address after the
// server's delay before writing it, and keeps the rows in input order.
func TestBulkSMTPSharesSessionsPerDomain(t *testing.T) {
	var mailboxes []string
	for d := range smtpJobDomains {
		for u := range 20 {
			mailboxes = append(mailboxes, fmt.Sprintf("u%d@d%d.smtp", u, d))
		}
	}
	mailboxes = append(mailboxes, "jane@grey.smtp")
	e, srv := newSMTPEnv(t, smtptest.Config{
		Mailboxes: mailboxes, CatchAll: []string{"catchall.smtp"},
		Greylist: []string{"grey.smtp"}, GreylistDelay: time.Second,
	}, time.Minute)
	e.run(e.svc)

	// 40 addresses at each domain, interleaved: row order is not domain
	// order. u0..u19 exist, u20..u39 do not.
	var csv strings.Builder
	csv.WriteString("email\n")
	var want []string
	for u := range 40 {
		for d := range smtpJobDomains {
			fmt.Fprintf(&csv, "u%d@d%d.smtp\n", u, d)
			if u < 20 {
				want = append(want, "valid/ok")
			} else {
				want = append(want, "invalid/mailbox_not_found")
			}
		}
		if u%10 == 0 {
			csv.WriteString("jane@grey.smtp\nanyone@catchall.smtp\n")
			want = append(want, "valid/ok", "risky/catch_all")
		}
	}
	st := e.mustSubmit("k", csv.String(), Options{SMTP: true})
	sawPending := false
	for {
		got, err := e.svc.Get(t.Context(), "k", st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.SMTPPendingRows != nil && *got.SMTPPendingRows > 0 {
			sawPending = true
		}
		if got.Status.Final() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !sawPending {
		t.Errorf("status never showed rows waiting on SMTP, though the greylisted address waits a second")
	}
	final := e.wait("k", st.ID)
	if final.Status != StatusCompleted {
		t.Fatalf("job %s: %v", final.Status, final.Error)
	}
	rows := parseNDJSON(t, e.download("k", st.ID, "ndjson", ""))
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		if r.Row != i+1 {
			t.Fatalf("row %d has number %d: rows out of input order", i+1, r.Row)
		}
		got := string(r.Result.Email.Verdict) + "/" + string(r.Result.Email.Reason)
		if got != want[i] {
			t.Errorf("row %d (%s) = %s, want %s", i+1, r.Record["email"], got, want[i])
		}
		if r.Result.Email.SMTP == nil || !r.Result.Email.SMTP.Checked {
			t.Errorf("row %d: smtp = %+v, want checked", i+1, r.Result.Email.SMTP)
		}
	}
	// One session per domain, except the greylisted one, asked again once.
	domains := smtpJobDomains + 2
	if got, want := srv.Sessions(), domains+1; got != want {
		t.Errorf("sessions = %d, want %d for %d domains", got, want, domains)
	}
	per := srv.RcptPerSession()
	full := 0
	for _, n := range per {
		if n == 41 {
			full++
		}
	}
	if full != smtpJobDomains {
		t.Errorf("RCPT per session = %v; want %d sessions of 41 (the catch-all probe and 40 addresses)", per, smtpJobDomains)
	}
	if srv.DataCommands() != 0 {
		t.Errorf("DATA sent %d times", srv.DataCommands())
	}
}

// TestBulkSMTPGreylistBudgetSpent: an address still greylisted when the
// budget ends is written unknown, never invalid.
func TestBulkSMTPGreylistBudgetSpent(t *testing.T) {
	e, _ := newSMTPEnv(t, smtptest.Config{
		Mailboxes: []string{"jane@grey.smtp"}, Greylist: []string{"grey.smtp"}, GreylistDelay: time.Hour,
	}, 100*time.Millisecond)
	e.run(e.svc)
	st := e.mustSubmit("k", "email\njane@grey.smtp\n", Options{SMTP: true})
	final := e.wait("k", st.ID)
	rows := parseNDJSON(t, e.download("k", final.ID, "ndjson", ""))
	if len(rows) != 1 || rows[0].Result.Email.Verdict != validate.Unknown || rows[0].Result.Email.Reason != validate.ReasonSMTPUnavailable {
		t.Fatalf("rows = %+v, want one unknown/smtp_unavailable", rows)
	}
}

func TestBulkSMTPRefusedWhenDisabled(t *testing.T) {
	e := newTestEnv(t, dnstest.Config{}, nil)
	_, err := e.submit("k", "email\njane@acme.test\n", Options{SMTP: true})
	var be *Error
	if !errors.As(err, &be) || be.Code != "smtp_disabled" || be.Field != "smtp" {
		t.Fatalf("submit = %v, want smtp_disabled naming the smtp field", err)
	}
}

// TestBulkSMTPShutdownWhileWaitingOnGreylisting: a job waiting for a
// greylisting server's delay stops at once on shutdown, stays running for
// the next start, and completes after it when the server relents.
func TestBulkSMTPShutdownWhileWaitingOnGreylisting(t *testing.T) {
	e, srv := newSMTPEnv(t, smtptest.Config{
		Mailboxes: []string{"jane@grey.smtp"}, Greylist: []string{"grey.smtp"}, GreylistDelay: 2 * time.Second,
	}, time.Hour)
	stop := e.run(e.svc)
	st := e.mustSubmit("k", "email\njane@grey.smtp\n", Options{SMTP: true})
	for srv.Sessions() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	stop() // fails the test if Run takes longer than 10s to return
	got, err := e.svc.Get(t.Context(), "k", st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusRunning {
		t.Fatalf("after shutdown the job is %s, want running (to resume)", got.Status)
	}
	svc := e.open()
	e.svc, e.store = svc, svc
	e.run(svc)
	final := e.wait("k", st.ID)
	rows := parseNDJSON(t, e.download("k", final.ID, "ndjson", ""))
	if len(rows) != 1 || rows[0].Result.Email.Verdict != validate.Valid {
		t.Fatalf("after the restart: %+v, want one valid row", rows)
	}
}
