package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// TestNilRecorder: every method of a nil Recorder does nothing, so
// commands without metrics need no checks.
func TestNilRecorder(t *testing.T) {
	var r *Recorder
	r.HTTPRequest("/", "GET", 200, 0)
	r.Refusal("", "x")
	r.Validation(&validate.Result{})
	r.BulkRow("valid", nil)
	r.WebhookAttempt(200, "")
	if err := r.JobsByState(nil, nil); err != nil {
		t.Fatal(err)
	}
	var next validate.Resolver = fakeResolverNotUsed{}
	if r.Resolver(next) != next {
		t.Error("a nil Recorder must hand back the resolver unchanged")
	}
}

type fakeResolverNotUsed struct{}

func (fakeResolverNotUsed) Query(context.Context, string, uint16) (*dns.Msg, error) {
	return nil, errors.New("not used")
}

// TestLabelsBounded: values that could come from a client are folded into
// a fixed set.
func TestLabelsBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	r, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		r.HTTPRequest("unmatched", fmt.Sprintf("M%d", i), 200+i, 0)
		r.Refusal("", fmt.Sprintf("Code-%d@acme.com", i))
		r.WebhookAttempt(i, "")
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, f := range families {
		count[f.GetName()] = len(f.GetMetric())
	}
	for name, max := range map[string]int{
		"leadcheck_http_requests_total":    6, // one method (other) by six status classes (2xx-5xx, other...)
		"leadcheck_refusals_total":         1,
		"leadcheck_webhook_attempts_total": 7, // error, delivered, redirect and http_ 1xx, 4xx, 5xx, other
	} {
		if n := count[name]; n == 0 || n > max {
			t.Errorf("%s: %d series, want 1 to %d", name, n, max)
		}
	}
}

func TestOutcome(t *testing.T) {
	msg := func(rcode int) *dns.Msg { m := new(dns.Msg); m.Rcode = rcode; return m }
	for _, tc := range []struct {
		msg  *dns.Msg
		err  error
		want string
	}{
		{msg(dns.RcodeSuccess), nil, "noerror"},
		{msg(dns.RcodeNameError), nil, "nxdomain"},
		{msg(dns.RcodeServerFailure), nil, "servfail"},
		{msg(dns.RcodeRefused), nil, "refused"},
		{msg(dns.RcodeBadCookie), nil, "other_rcode"},
		{nil, fmt.Errorf("read: %w", os.ErrDeadlineExceeded), "timeout"},
		{nil, context.DeadlineExceeded, "timeout"},
		{nil, context.Canceled, "canceled"},
		{nil, errors.New("dial: connection refused"), "network_error"},
	} {
		if got := outcome(tc.msg, tc.err); got != tc.want {
			t.Errorf("outcome(%v, %v): got %q, want %q", tc.msg, tc.err, got, tc.want)
		}
	}
}

// TestResolverCountsBatches: over a resolver that takes batches the
// wrapper takes them too, and counts every question of a batch.
func TestResolverCountsBatches(t *testing.T) {
	t.Parallel()
	srv := dnstest.Start(t, dnstest.Config{Zone: `
$ORIGIN test.
$TTL 300
@     SOA ns.test. hostmaster.test. 1 3600 600 86400 60
acme  MX  10 mx.acme.test.
acme  TXT "v=spf1 -all"
`})
	next, err := validate.NewDNSResolver([]string{srv.Addr()}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	br, ok := r.Resolver(next).(validate.BatchResolver)
	if !ok {
		t.Fatal("the wrapper of a BatchResolver does not take batches")
	}
	if _, ok := r.Resolver(fakeResolverNotUsed{}).(validate.BatchResolver); ok {
		t.Error("the wrapper of a plain Resolver claims to take batches")
	}
	out := make([]validate.Answer, 3)
	br.QueryBatch(t.Context(), []validate.Question{{Name: "acme.test", Qtype: dns.TypeMX}, {Name: "acme.test", Qtype: dns.TypeTXT}, {Name: "_dmarc.acme.test", Qtype: dns.TypeTXT}}, out)
	for _, c := range []struct {
		qtype, outcome string
		want           float64
	}{{"MX", "noerror", 1}, {"TXT", "noerror", 1}, {"TXT", "nxdomain", 1}} {
		if got := testutil.ToFloat64(r.dnsQueries.WithLabelValues(c.qtype, c.outcome)); got != c.want {
			t.Errorf("dns queries %s %s: got %v, want %v", c.qtype, c.outcome, got, c.want)
		}
	}
	if got := srv.TotalQueries(); got != 3 {
		t.Errorf("the server got %d questions, want 3", got)
	}
}
