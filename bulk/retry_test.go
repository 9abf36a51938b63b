package bulk

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// retryRows is the size of TestTransientDNSFailuresRetried's job. The
// issue's scale is 200,000 rows: go test ./bulk -run TransientDNS
// -retry-rows=200000.
var retryRows = flag.Int("retry-rows", 3000, "rows of the job in TestTransientDNSFailuresRetried")

// TestTransientDNSFailuresRetried: against a DNS server that answers every
// domain but fails or drops the first queries of some, a job through the
// shared cache (which keeps failures for seconds) comes back with no
// unknown row, in input order.
func TestTransientDNSFailuresRetried(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		const domains = 40
		var zone, file strings.Builder
		zone.WriteString(testenv.MailZone)
		zone.WriteString("$ORIGIN flaky.\n@ 300 IN SOA ns.flaky. h.flaky. 1 3600 600 86400 60\n")
		behaviours := map[string]dnstest.Behaviour{}
		for i := range domains {
			fmt.Fprintf(&zone, "d%d 300 IN MX 10 mx.d%d.flaky.\n", i, i)
			name := fmt.Sprintf("d%d.flaky", i)
			switch i % 5 {
			case 0:
				behaviours[name] = dnstest.FailFirst(dnstest.Servfail(), 1)
			case 1:
				behaviours[name] = dnstest.FailFirst(dnstest.Refused(), 2)
			case 2:
				// Lost once: the resolver's own resend gets the answer.
				behaviours[name] = dnstest.FailFirst(dnstest.Blackhole(), 1)
			case 3:
				// Lost twice: the query times out, and the job asks again.
				behaviours[name] = dnstest.FailFirst(dnstest.Blackhole(), 2)
			}
		}
		file.WriteString("email\n")
		for i := range *retryRows {
			fmt.Fprintf(&file, "p%d@d%d.flaky\n", i, (i*7)%domains)
		}
		e := newStoreEnv(t, kind, dnstest.Config{Zone: zone.String(), Behaviours: behaviours}, func(c *Config) {
			shared, err := cache.NewDomains(cache.Config{ErrorTTL: time.Hour}, c.Domains, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = shared.Close() })
			c.Domains = shared
			c.Workers = 32
			c.ChunkRows = 64
			c.DNSRetryBudget = 20 * time.Second
		})
		e.start()
		st := e.mustSubmit("", file.String(), Options{})
		done := e.waitFor("", st.ID, 5*time.Minute)
		if done.Status != StatusCompleted || done.Counts.Unknown != 0 || done.Counts.Valid != *retryRows {
			t.Fatalf("got %s with counts %+v, want completed with %d valid and no unknown", done.Status, done.Counts, *retryRows)
		}
		rows := parseNDJSON(t, e.download("", st.ID, FormatNDJSON, ""))
		if len(rows) != *retryRows {
			t.Fatalf("got %d rows, want %d", len(rows), *retryRows)
		}
		for i, r := range rows {
			want := fmt.Sprintf("p%d@d%d.flaky", i, (i*7)%domains)
			if r.Row != i+1 || r.Record["email"] != want || r.Result.Verdict != validate.Valid {
				t.Fatalf("position %d: got row %d %q %s, want row %d %q valid", i, r.Row, r.Record["email"], r.Result.Verdict, i+1, want)
			}
		}
		// The failures really happened: the first answers were withheld.
		if n := e.dns.Queries("d1.flaky", dns.TypeMX); n < 3 {
			t.Errorf("d1.flaky MX: got %d queries, want at least 3 (two REFUSED, then the answer)", n)
		}
	})
}

// countingChecker counts the lookups that reach a real checker.
type countingChecker struct {
	next  validate.DomainChecker
	calls atomic.Int32
}

func (c *countingChecker) CheckDomain(ctx context.Context, d string) (validate.DomainFacts, bool) {
	c.calls.Add(1)
	return c.next.CheckDomain(ctx, d)
}

// TestMemoKeepsAFailureForTheBudget: a domain that fails for good is asked
// with backoff until the budget is spent, its rows then get the failure,
// the memo serves it without asking while the budget lasts, and asks again
// after.
func TestMemoKeepsAFailureForTheBudget(t *testing.T) {
	t.Parallel()
	fx := testenv.NewFixture(t, dnstest.Config{Behaviours: map[string]dnstest.Behaviour{"broken.test": dnstest.Servfail()}}, 2*time.Second)
	counting := &countingChecker{next: fx.Checker}
	var clock atomic.Int64 // nanoseconds past start, moved by the test
	start := time.Now()
	now := func() time.Time { return start.Add(time.Duration(clock.Load())) }
	retry := dnsRetry{budget: time.Hour, backoff: time.Millisecond, maxBackoff: time.Millisecond, now: now}
	// The retry loop sleeps on real timers; the budget ends when the test
	// moves the clock, once it has seen three asks.
	go func() {
		for counting.calls.Load() < 3 {
			time.Sleep(time.Millisecond)
		}
		clock.Add(int64(2 * time.Hour))
	}()
	m := newDomainMemo(counting, 100, retry)
	ctx := context.Background()

	f, _ := m.CheckDomain(ctx, "broken.test")
	if f.Status != validate.DNSError {
		t.Fatalf("got %+v, want a dns error", f)
	}
	asked := counting.calls.Load()
	if asked < 3 {
		t.Errorf("asks before giving up: got %d, want at least 3", asked)
	}
	if _, cached := m.CheckDomain(ctx, "broken.test"); !cached || counting.calls.Load() != asked {
		t.Errorf("within the budget: cached=%v with %d new asks, want the remembered failure", cached, counting.calls.Load()-asked)
	}
	clock.Add(int64(time.Hour + time.Second))
	m.retry.budget = 0 // no further rounds: one ask is enough to prove it
	m.CheckDomain(ctx, "broken.test")
	if got := counting.calls.Load(); got != asked+1 {
		t.Errorf("after the budget: got %d new asks, want 1", got-asked)
	}

	// Good facts are asked once and kept.
	before := counting.calls.Load()
	for range 3 {
		if f, _ := m.CheckDomain(ctx, "acme.test"); f.Status != validate.DNSOK {
			t.Fatalf("acme.test: got %+v, want ok", f)
		}
	}
	if got := counting.calls.Load() - before; got != 1 {
		t.Errorf("acme.test: got %d asks, want 1", got)
	}
}

// waitFor polls until the job is final, for at most limit.
func (e *testEnv) waitFor(caller, id string, limit time.Duration) Status {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st, err := e.store.Get(context.Background(), caller, id)
		if err != nil {
			e.t.Fatalf("get %s: %v", id, err)
		}
		if st.Status.Final() {
			return st
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still %s after %v (%d/%d rows)", id, st.Status, limit, st.ProcessedRows, st.TotalRows)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRetriesPauseWhileDNSIsDown: once outageDomains domains in a row have
// failed for good, a new failure is asked once, not retried; a fresh good
// answer brings the retries back.
func TestRetriesPauseWhileDNSIsDown(t *testing.T) {
	t.Parallel()
	var zone strings.Builder
	zone.WriteString(testenv.MailZone)
	zone.WriteString("$ORIGIN down.\n@ 300 IN SOA ns.down. h.down. 1 3600 600 86400 60\n")
	const n = outageDomains + 4
	for i := range n + 1 {
		fmt.Fprintf(&zone, "d%d 300 IN MX 10 mx.d%d.down.\n", i, i)
	}
	fx := testenv.NewFixture(t, dnstest.Config{Zone: zone.String(), Behaviours: map[string]dnstest.Behaviour{"down": dnstest.Servfail()}}, 2*time.Second)
	m := newDomainMemo(fx.Checker, 100, dnsRetry{budget: 30 * time.Millisecond, backoff: time.Millisecond, maxBackoff: 5 * time.Millisecond, now: time.Now})
	ctx := context.Background()
	mxQueries := func(i int) int { return fx.DNS.Queries(fmt.Sprintf("d%d.down", i), dns.TypeMX) }

	for i := range n {
		if f, _ := m.CheckDomain(ctx, fmt.Sprintf("d%d.down", i)); f.Status != validate.DNSError {
			t.Fatalf("d%d.down: got %+v, want a dns error", i, f)
		}
	}
	for i := range n {
		switch got := mxQueries(i); {
		case i < outageDomains && got < 2:
			t.Errorf("d%d.down, before the outage is seen: got %d MX queries, want retries", i, got)
		case i >= outageDomains && got != 1:
			t.Errorf("d%d.down, during the outage: got %d MX queries, want 1", i, got)
		}
	}

	// DNS answers again: a fresh answer ends the pause.
	if f, cached := m.CheckDomain(ctx, "acme.test"); f.Status != validate.DNSOK || cached {
		t.Fatalf("acme.test: got %+v cached=%v, want fresh ok facts", f, cached)
	}
	m.CheckDomain(ctx, fmt.Sprintf("d%d.down", n))
	if got := mxQueries(n); got < 2 {
		t.Errorf("after a fresh answer: got %d MX queries, want retries again", got)
	}
}
