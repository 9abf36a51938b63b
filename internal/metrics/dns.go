package metrics

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/validate"
)

// Resolver wraps next so that every question it asks is counted and timed
// in leadcheck_dns_queries_total and leadcheck_dns_query_duration_seconds.
// The name asked is never a label. A nil Recorder returns next unchanged.
func (r *Recorder) Resolver(next validate.Resolver) validate.Resolver {
	if r == nil {
		return next
	}
	if br, ok := next.(validate.BatchResolver); ok {
		return &countingBatch{countingResolver{next: next, r: r}, br}
	}
	return &countingResolver{next: next, r: r}
}

type countingResolver struct {
	next validate.Resolver
	r    *Recorder
}

func (c *countingResolver) Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	start := time.Now()
	msg, err := c.next.Query(ctx, name, qtype)
	d := time.Since(start)
	t, o := queryType(qtype), outcome(msg, err)
	c.r.dnsQueries.WithLabelValues(t, o).Inc()
	c.r.dnsDuration.WithLabelValues(t, o).Observe(d.Seconds())
	return msg, err
}

// countingBatch is countingResolver over a BatchResolver: a batch passes
// on as one, and each question counts with the batch's time.
type countingBatch struct {
	countingResolver
	batch validate.BatchResolver
}

func (c *countingBatch) QueryBatch(ctx context.Context, qs []validate.Question, out []validate.Answer) {
	start := time.Now()
	c.batch.QueryBatch(ctx, qs, out)
	d := time.Since(start).Seconds()
	for i, q := range qs {
		t, o := queryType(q.Qtype), outcome(out[i].Msg, out[i].Err)
		c.r.dnsQueries.WithLabelValues(t, o).Inc()
		c.r.dnsDuration.WithLabelValues(t, o).Observe(d)
	}
}

// queryType names the types leadcheck asks; any other is "other".
func queryType(qtype uint16) string {
	switch qtype {
	case dns.TypeMX, dns.TypeA, dns.TypeAAAA, dns.TypeTXT:
		return dns.TypeToString[qtype]
	}
	return "other"
}

// outcome is the answer's rcode in lower case (noerror, nxdomain,
// servfail, refused, ...) or, when no server answered, why: timeout,
// canceled, invalid_name or network_error.
func outcome(msg *dns.Msg, err error) string {
	if err == nil && msg != nil {
		switch msg.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeServerFailure, dns.RcodeRefused,
			dns.RcodeFormatError, dns.RcodeNotImplemented:
			return strings.ToLower(dns.RcodeToString[msg.Rcode])
		}
		return "other_rcode"
	}
	var ne net.Error
	switch {
	case err == nil:
		return "no_answer"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "invalid domain name"):
		return "invalid_name"
	}
	return "network_error"
}
