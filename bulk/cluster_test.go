package bulk

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/smtptest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

// Tests of what only the PostgreSQL store has; what both stores do is in
// the shared suite (eachStore).

// riverJobs counts the River jobs of kind for job id.
func (e *testEnv) riverJobs(kind, id string) int {
	e.t.Helper()
	var n int
	if err := e.cl.pool.QueryRow(context.Background(),
		"SELECT count(*) FROM river_job WHERE kind = $1 AND args->>'job_id' = $2", kind, id).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestClusterSubmitIsOneTransaction: a file the store refuses after its
// chunks were written (the key's storage budget) leaves nothing behind, and
// an accepted one has its record, every chunk and one River job per chunk
// the moment Submit returns.
func TestClusterSubmitIsOneTransaction(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t, storePostgres, dnstest.Config{}, func(c *Config) { c.DiskPerKey = 4 << 10 })
	var big strings.Builder
	big.WriteString("email,note\n")
	for i := range 400 {
		fmt.Fprintf(&big, "p%d@acme.test,%s\n", i, strings.Repeat(fmt.Sprint(i*7919), 8))
	}
	if _, err := e.submit("k", big.String(), Options{}); !isKind(err, KindInsufficientStorage) {
		t.Fatalf("past the key's budget: got %v, want a storage refusal", err)
	}
	if left := e.jobsLeft(); len(left) != 0 {
		t.Errorf("a refused job left rows: %v", left)
	}
	var n int
	if err := e.cl.pool.QueryRow(context.Background(), "SELECT count(*) FROM river_job WHERE kind = $1", chunkArgs{}.Kind()).Scan(&n); err != nil || n != 0 {
		t.Errorf("a refused job left %d River jobs (%v)", n, err)
	}
	if entries := dirEntries(t, e.cfg.Dir+"/tmp"); len(entries) != 0 {
		t.Errorf("uploads left on disk: %v", entries)
	}

	st := e.mustSubmit("k", "email\na@acme.test\nb@acme.test\nc@acme.test\nd@acme.test\ne@acme.test\n", Options{})
	if got := e.dataLeft(st.ID); len(got) != 2 {
		t.Errorf("chunks of a 5-row job in chunks of 4: got %v, want 2", got)
	}
	if n := e.riverJobs(chunkArgs{}.Kind(), st.ID); n != 2 {
		t.Errorf("River jobs: got %d, want one per chunk (2)", n)
	}
}

// TestClusterSweepsOnSchedule: retention runs as River's periodic job, with
// no call from the test, on whichever instance leads.
func TestClusterSweepsOnSchedule(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	e := newStoreEnv(t, storePostgres, dnstest.Config{}, func(c *Config) {
		c.Retention = time.Hour
		c.SweepEvery = 200 * time.Millisecond
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	e.start()
	st := e.mustSubmit("", "email\njane@acme.test\n", Options{})
	if done := e.wait("", st.ID); done.Status != StatusCompleted {
		t.Fatalf("got %s", done.Status)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := e.store.Get(context.Background(), "", st.ID)
		if isKind(err, KindNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an expired job is still there after 20s (%v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if left := e.jobsLeft(); len(left) != 0 {
		t.Errorf("rows left: %v", left)
	}
}

// TestClusterInstancesShareJobs: a job submitted through one instance is
// worked by two and read through the other; each row is there once, in
// order.
func TestClusterInstancesShareJobs(t *testing.T) {
	t.Parallel()
	zone, file := testenv.ManyDomains(300)
	e := newStoreEnv(t, storePostgres, dnstest.Config{Zone: zone, Latency: 5 * time.Millisecond}, nil)
	other := e.openCluster(e.cl.cfg.DatabaseURL)
	e.start()
	e.run(other)
	st := e.mustSubmit("k", file, Options{})
	var done Status
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		if done, err = other.Get(context.Background(), "k", st.ID); err != nil {
			t.Fatal(err)
		}
		if done.Status.Final() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %s after 60s", done.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if done.Status != StatusCompleted || done.ProcessedRows != 300 {
		t.Fatalf("got %+v", done)
	}
	var workers []string
	rows, err := e.cl.pool.Query(context.Background(),
		"SELECT DISTINCT attempted_by[array_length(attempted_by, 1)] FROM river_job WHERE kind = $1 AND args->>'job_id' = $2", chunkArgs{}.Kind(), st.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var w string
		if err := rows.Scan(&w); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	if len(workers) != 2 {
		t.Errorf("chunks were worked by %v, want both instances", workers)
	}
	d, err := other.Results(context.Background(), "k", st.ID, DownloadOptions{Format: FormatNDJSON})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if _, err := d.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	d.Close()
	got := parseNDJSON(t, b.String())
	if len(got) != 300 {
		t.Fatalf("got %d rows, want 300", len(got))
	}
	for i, r := range got {
		if r.Row != i+1 {
			t.Fatalf("row %d is number %d: not in input order", i+1, r.Row)
		}
	}
}

// TestSharedSecret: the first instance to ask creates the secret, every
// later one reads the same.
func TestSharedSecret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := testenv.Postgres(t)
	var got []string
	for i := range 3 {
		pool, err := ConnectDatabase(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		secret, created, err := SharedSecret(ctx, pool, "webhook")
		pool.Close()
		if err != nil {
			t.Fatal(err)
		}
		if created != (i == 0) {
			t.Errorf("instance %d: created %v", i, created)
		}
		if err := CheckWebhookSecret(secret); err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
		got = append(got, secret)
	}
	if got[0] != got[1] || got[1] != got[2] {
		t.Error("instances got different secrets")
	}
}

// TestClusterSMTP: the PostgreSQL store verifies mailboxes over SMTP with
// the verdicts of the local store; a chunk's addresses of one domain share
// sessions, and a greylisted address is asked again after the server's
// delay (the chunk is snoozed meanwhile), not written unknown.
func TestClusterSMTP(t *testing.T) {
	t.Parallel()
	var mailboxes []string
	for d := range smtpJobDomains {
		mailboxes = append(mailboxes, fmt.Sprintf("u0@d%d.smtp", d))
	}
	mailboxes = append(mailboxes, "jane@grey.smtp")
	e, srv := newSMTPStoreEnv(t, storePostgres, smtptest.Config{
		Mailboxes: mailboxes, CatchAll: []string{"catchall.smtp"},
		Greylist: []string{"grey.smtp"}, GreylistDelay: time.Second,
	}, time.Minute)
	e.start()
	var csv strings.Builder
	csv.WriteString("email\n")
	var want []string
	for d := range smtpJobDomains {
		fmt.Fprintf(&csv, "u0@d%d.smtp\nu1@d%d.smtp\n", d, d)
		want = append(want, "valid/ok", "invalid/mailbox_not_found")
	}
	csv.WriteString("jane@grey.smtp\nanyone@catchall.smtp\n")
	want = append(want, "valid/ok", "risky/catch_all")
	st := e.mustSubmit("k", csv.String(), Options{SMTP: true})
	done := e.wait("k", st.ID)
	if done.Status != StatusCompleted {
		t.Fatalf("job %s: %v", done.Status, done.Error)
	}
	rows := parseNDJSON(t, e.download("k", st.ID, "ndjson", ""))
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i, r := range rows {
		got := string(r.Result.Email.Verdict) + "/" + string(r.Result.Email.Reason)
		if r.Row != i+1 || got != want[i] {
			t.Errorf("row %d (%s): number %d, %s, want %s", i+1, r.Record["email"], r.Row, got, want[i])
		}
	}
	if srv.DataCommands() != 0 {
		t.Errorf("DATA sent %d times", srv.DataCommands())
	}
	// Chunks of 4 rows: a domain's two addresses share a chunk, and so a
	// session; the greylisted domain has one session more.
	if got, most := srv.Sessions(), smtpJobDomains+2+1; got > most {
		t.Errorf("sessions = %d, want at most %d", got, most)
	}
}
