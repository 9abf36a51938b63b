// Package metrics holds leadcheck's Prometheus metrics for every stage a
// request or a bulk row goes through: HTTP, validation verdicts, DNS
// queries, bulk rows and jobs, webhook attempts and refusals. The cache
// package keeps its own counters (leadcheck_cache_*, leadcheck_memo_*).
//
// Labels take their values from small fixed sets (route patterns, verdicts,
// reasons, DNS types and outcomes, error codes, key names): never an
// address, a phone number, a domain or an API key, so the number of series
// stays bounded whatever the traffic. A nil *Recorder records nothing, so
// one-shot commands and tests need none.
package metrics

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leadcheck/leadcheck/validate"
)

// Recorder records the metrics of one process. It is safe for concurrent
// use; its methods do nothing on a nil Recorder.
type Recorder struct {
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	validations     *prometheus.CounterVec
	dnsQueries      *prometheus.CounterVec
	dnsDuration     *prometheus.HistogramVec
	bulkRows        *prometheus.CounterVec
	webhookAttempts *prometheus.CounterVec
	refusals        *prometheus.CounterVec
	reg             prometheus.Registerer
}

// dnsBuckets spread from a loopback answer (tens of microseconds) to the
// default per-query timeout (2 s).
var dnsBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5}

// httpBuckets run from a cached validation (well under a millisecond) to a
// slow upload.
var httpBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New registers the metrics with reg and returns their Recorder.
func New(reg prometheus.Registerer) (*Recorder, error) {
	r := &Recorder{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadcheck_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status class (2xx, 4xx, ...).",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leadcheck_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status class.",
			Buckets: httpBuckets,
		}, []string{"route", "method", "status"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadcheck_validations_total",
			Help: "Verdicts given, API and bulk rows alike, by field (lead, email, phone, domain), verdict and reason.",
		}, []string{"field", "verdict", "reason"}),
		dnsQueries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadcheck_dns_queries_total",
			Help: "DNS questions asked of the resolvers (after the caches), by type (MX, A, AAAA, TXT) and outcome (noerror, nxdomain, servfail, refused, timeout, ...).",
		}, []string{"type", "outcome"}),
		dnsDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leadcheck_dns_query_duration_seconds",
			Help:    "Time to an answer (or to giving up) of one DNS question, every server tried included, by type and outcome.",
			Buckets: dnsBuckets,
		}, []string{"type", "outcome"}),
		bulkRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadcheck_bulk_rows_total",
			Help: "Bulk rows validated, by the verdict in the row's output.",
		}, []string{"verdict"}),
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadcheck_webhook_attempts_total",
			Help: "Bulk webhook delivery attempts, by outcome (delivered, http_4xx, http_5xx, redirect, blocked, error).",
		}, []string{"outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leadcheck_refusals_total",
			Help: "Requests answered with an error other than a 500, by API key name (none: no key was accepted) and reason (the JSON error code).",
		}, []string{"key", "reason"}),
	}
	for _, c := range []prometheus.Collector{r.httpRequests, r.httpDuration, r.validations, r.dnsQueries,
		r.dnsDuration, r.bulkRows, r.webhookAttempts, r.refusals} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return r, nil
}

// HTTPRequest records one answered request. route is the pattern the
// request matched ("/v1/bulk/:id"), never the path itself; the caller
// passes "unmatched" when no route matched.
func (r *Recorder) HTTPRequest(route, method string, status int, d time.Duration) {
	if r == nil {
		return
	}
	m, class := httpMethod(method), statusClass(status)
	r.httpRequests.WithLabelValues(route, m, class).Inc()
	r.httpDuration.WithLabelValues(route, m, class).Observe(d.Seconds())
}

// Refusal records an error answer: key is the API key's name ("" when no
// key was accepted), code the JSON error code.
func (r *Recorder) Refusal(key, code string) {
	if r == nil {
		return
	}
	if key == "" {
		key = "none"
	}
	r.refusals.WithLabelValues(key, token(code)).Inc()
}

// Validation records the verdict of a lead and of each of its fields.
// The lead's reason is that of the field that set its verdict (the one
// with the lead's verdict and the lowest score; email, then phone, then
// domain on a tie), as the bulk CSV's leadcheck_reason reports it.
func (r *Recorder) Validation(res *validate.Result) {
	if r == nil || res == nil {
		return
	}
	reason, best := validate.ReasonOK, 101
	field := func(name string, v validate.Verdict, why validate.Reason, score int) {
		r.validations.WithLabelValues(name, token(string(v)), token(string(why))).Inc()
		if v == res.Verdict && score < best {
			reason, best = why, score
		}
	}
	if e := res.Email; e != nil {
		field("email", e.Verdict, e.Reason, e.Score)
	}
	if p := res.Phone; p != nil {
		field("phone", p.Verdict, p.Reason, p.Score)
	}
	if d := res.Domain; d != nil {
		field("domain", d.Verdict, d.Reason, d.Score)
	}
	r.validations.WithLabelValues("lead", token(string(res.Verdict)), token(string(reason))).Inc()
}

// BulkRow records one bulk row by the verdict its output carries, and its
// validation; res is nil for a row refused as input (not a lead at all:
// a control character, say), which is counted in rows only.
func (r *Recorder) BulkRow(verdict string, res *validate.Result) {
	if r == nil {
		return
	}
	r.bulkRows.WithLabelValues(token(verdict)).Inc()
	r.Validation(res)
}

// WebhookAttempt records one delivery attempt: status is the receiver's
// HTTP status (0 without an answer) and failure names a refusal to send
// ("blocked", "redirect") or "error" when no answer came.
func (r *Recorder) WebhookAttempt(status int, failure string) {
	if r == nil {
		return
	}
	outcome := failure
	switch {
	case failure != "":
	case status >= 200 && status < 300:
		outcome = "delivered"
	case status >= 300 && status < 400:
		outcome = "redirect"
	case status > 0:
		outcome = "http_" + statusClass(status)
	default:
		outcome = "error"
	}
	r.webhookAttempts.WithLabelValues(token(outcome)).Inc()
}

// JobsByState exposes leadcheck_bulk_jobs{state}: count is called at each
// scrape and returns how many jobs are in each state.
func (r *Recorder) JobsByState(states []string, count func() map[string]int) error {
	if r == nil {
		return nil
	}
	c := &jobsCollector{
		desc:   prometheus.NewDesc("leadcheck_bulk_jobs", "Bulk jobs kept on this instance, by state (queued, running, completed, failed, canceled).", []string{"state"}, nil),
		states: states,
		count:  count,
	}
	if err := r.reg.Register(c); err != nil {
		return fmt.Errorf("register bulk job metrics: %w", err)
	}
	return nil
}

// jobsCollector reads job counts at scrape time, so no counter has to be
// kept in step with every state change.
type jobsCollector struct {
	desc   *prometheus.Desc
	states []string
	count  func() map[string]int
}

func (c *jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *jobsCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.count()
	for _, s := range c.states {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), s)
	}
}

// statusClass is "2xx", "4xx", ...; anything out of range is "other".
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}

// httpMethod keeps the standard methods and folds the rest, which a
// client can invent at will, into "other".
func httpMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}

// token keeps a label value that looks like one of leadcheck's codes
// (lower case, digits, '_', at most 40 bytes) and turns anything else into
// "other": a guard against a future code path handing a label user input.
func token(s string) string {
	if s == "" {
		return "none"
	}
	if len(s) > 40 {
		return "other"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "other"
		}
	}
	return s
}
