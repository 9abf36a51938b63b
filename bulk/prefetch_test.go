package bulk

import (
	"fmt"
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

func TestPlainDomain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"acme.com", "acme.com", true},
		{"Mail.ACME.co.uk", "mail.acme.co.uk", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"a-b.c", "a-b.c", true},
		{"localhost", "", false},   // no dot
		{"acme.com.", "", false},   // trailing dot: the engine's parse decides
		{".acme.com", "", false},   // leading dot
		{"acme..com", "", false},   // empty label
		{"-acme.com", "", false},   // leading hyphen
		{" acme.com", "", false},   // space
		{"bücher.de", "", false},   // Unicode: the engine converts it
		{"[192.0.2.1]", "", false}, // address literal
		{"acme.com>", "", false},   // junk
		{"a.", "", false},          // too short
		{strings.Repeat("a", 250) + ".com", "", false},
	} {
		got, ok := plainDomain(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("plainDomain(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestLookupsAheadOfWorkers: with one row worker, a job still has many
// domain lookups in flight (its reader starts them), and its results are
// byte for byte those of the same job with nothing looked up ahead, whose
// lookups go one at a time.
func TestLookupsAheadOfWorkers(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("email,phone\n")
	for i := range 60 {
		// Some rows share a domain, some repeat an earlier one, some are
		// not domains a prefetch reads (Unicode, upper case, junk).
		switch {
		case i%10 == 3:
			fmt.Fprintf(&b, "u%d@D%d.ACME.test,\n", i, i-1)
		case i%10 == 7:
			fmt.Fprintf(&b, "u%d@bücher%d.test,\n", i, i)
		case i%10 == 9:
			fmt.Fprintf(&b, "not-an-address-%d,\n", i)
		default:
			fmt.Fprintf(&b, "u%d@d%d.acme.test,\n", i, i/2)
		}
	}
	b.WriteString("x@broken.test,\n") // SERVFAIL: retried, then unknown
	run := func(ahead int) (string, int) {
		var oc *overlapChecker
		e := newTestEnv(t, dnstest.Config{}, func(c *Config) {
			c.Workers = 1
			c.LookupsAhead = ahead
			oc = &overlapChecker{next: c.Domains}
			c.Domains = oc
		})
		e.run(e.svc)
		st := e.mustSubmit("", b.String(), Options{})
		if got := e.wait("", st.ID); got.Status != StatusCompleted || got.ProcessedRows != 61 {
			t.Fatalf("ahead %d: got %+v", ahead, got)
		}
		out := e.download("", st.ID, "ndjson", "")
		oc.mu.Lock()
		defer oc.mu.Unlock()
		return out, oc.maxSoFar
	}
	withAhead, inFlight := run(16)
	without, alone := run(-1)
	if alone != 1 {
		t.Errorf("nothing ahead, one worker: %d lookups at once, want 1", alone)
	}
	if inFlight < 4 {
		t.Errorf("16 ahead, one worker: at most %d lookups at once", inFlight)
	}
	if withAhead != without {
		t.Errorf("results differ with lookups ahead:\n%s\nwithout:\n%s", withAhead, without)
	}
}
