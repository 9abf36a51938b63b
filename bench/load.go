package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// loadResult is one attack at a constant offered rate.
type loadResult struct {
	Rate       float64 // requested, per second
	Duration   time.Duration
	Requests   uint64
	Throughput float64 // successful responses per second
	Success    float64 // share of 2xx/3xx responses
	P50        time.Duration
	P95        time.Duration
	P99        time.Duration
	Max        time.Duration
	Errors     []string
}

func (r loadResult) String() string {
	s := fmt.Sprintf("rate %.0f/s for %v: %d requests, throughput %.0f/s, success %.2f%%, p50 %v p95 %v p99 %v max %v",
		r.Rate, r.Duration.Round(time.Millisecond), r.Requests, r.Throughput, 100*r.Success,
		ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max))
	if len(r.Errors) > 0 {
		s += fmt.Sprintf(", errors %q", firstN(r.Errors, 3))
	}
	return s
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ms rounds a latency for display.
func ms(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

// loadClient is the HTTP client every attack on one target shares, so that
// connections stay warm from one burst to the next. Both targets of a
// comparison get identical settings.
func loadClient(timeout time.Duration, maxConns int) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: maxConns,
			MaxConnsPerHost:     maxConns,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		},
	}
}

// attackSpec says how to attack: a constant rate for a duration or for a
// fixed number of hits, whichever ends first (zero means no limit).
type attackSpec struct {
	Rate       float64
	Duration   time.Duration
	Hits       uint64
	MaxWorkers uint64
	KeepBodies bool // hand every result to check (costs allocations)
}

// attack runs one attack at a constant offered rate. Below MaxWorkers in
// flight it is open-model: requests leave on schedule whether or not earlier
// ones have returned, so slow answers show in the latencies instead of
// slowing the generator down. At MaxWorkers in flight the generator waits
// for a free worker, which is what a capacity burst wants. check, when not
// nil, sees every result and may turn it into an error.
func attack(ctx context.Context, hc *http.Client, tr vegeta.Targeter, spec attackSpec, check func(*vegeta.Result) string) loadResult {
	opts := []func(*vegeta.Attacker){
		vegeta.Client(hc),
		vegeta.Workers(min(32, spec.MaxWorkers)),
		vegeta.MaxWorkers(spec.MaxWorkers),
		vegeta.Redirects(vegeta.NoFollow),
	}
	if !spec.KeepBodies {
		opts = append(opts, vegeta.MaxBody(0))
	}
	atk := vegeta.NewAttacker(opts...)
	var pacer vegeta.Pacer = vegeta.ConstantPacer{Freq: max(1, int(spec.Rate)), Per: time.Second}
	if spec.Hits > 0 {
		pacer = limitedPacer{Pacer: pacer, hits: spec.Hits}
	}
	stopWatch := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stopWatch()

	var m vegeta.Metrics
	for res := range atk.Attack(tr, pacer, spec.Duration, "bench") {
		if check != nil && res.Error == "" {
			if msg := check(res); msg != "" {
				res.Error = msg
				res.Code = 0
			}
		}
		m.Add(res)
	}
	m.Close()
	lr := loadResult{
		Rate:       spec.Rate,
		Duration:   m.Duration,
		Requests:   m.Requests,
		Throughput: m.Throughput,
		Success:    m.Success,
		P50:        m.Latencies.P50,
		P95:        m.Latencies.P95,
		P99:        m.Latencies.P99,
		Max:        m.Latencies.Max,
		Errors:     m.Errors,
	}
	if ctx.Err() != nil {
		lr.Errors = append(lr.Errors, "canceled: "+ctx.Err().Error())
	}
	return lr
}

// limitedPacer stops an attack after a number of hits.
type limitedPacer struct {
	vegeta.Pacer
	hits uint64
}

func (p limitedPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= p.hits {
		return 0, true
	}
	return p.Pacer.Pace(elapsed, hits)
}

// roundRobin cycles through GET urls; it is safe for the attack's workers to
// call at once.
func roundRobin(urls []string) vegeta.Targeter {
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		i := n.Add(1) - 1
		t.Method, t.URL, t.Body, t.Header = http.MethodGet, urls[i%uint64(len(urls))], nil, nil
		return nil
	}
}

// eachOnce hands out every GET url once, then ends the attack.
func eachOnce(urls []string) vegeta.Targeter {
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		i := n.Add(1) - 1
		if i >= uint64(len(urls)) {
			return vegeta.ErrNoTargets
		}
		t.Method, t.URL, t.Body, t.Header = http.MethodGet, urls[i], nil, nil
		return nil
	}
}

// capacityConfig is how throughput is compared between two targets.
type capacityConfig struct {
	// Rounds of one burst per target; the order alternates every round
	// (A B, B A, ...) so that drift in the machine's load hits both alike.
	Rounds int
	// Burst is the length of one burst.
	Burst time.Duration
	// Offered is the requested rate of a burst, far above what any target
	// reaches on this machine, so that the generator is always behind and
	// keeps Workers requests in flight: the burst measures capacity.
	Offered float64
	// Workers is how many requests are in flight during a burst.
	Workers uint64
	// LatencyShare is the share of the slower target's capacity at which
	// the latency run offers load, open-model, to both targets.
	LatencyShare float64
	// LatencyRun is the length of the latency run.
	LatencyRun time.Duration
}

// capacityTarget is one side of a throughput comparison.
type capacityTarget struct {
	Name     string
	Targeter vegeta.Targeter
	Client   *http.Client
	Bursts   []loadResult
	Latency  loadResult
}

// medianThroughput is the median throughput of the target's bursts.
func (t *capacityTarget) medianThroughput() float64 {
	v := make([]float64, len(t.Bursts))
	for i, b := range t.Bursts {
		v[i] = b.Throughput
	}
	return medianFloat(v)
}

// compareCapacity measures the throughput of a and b in alternating bursts,
// then the latency percentiles of both at the same moderate open-model rate.
// A burst with any failed request is an error: a server that fails under
// load has a bug, not a speed.
func compareCapacity(ctx context.Context, c capacityConfig, a, b *capacityTarget) error {
	burst := func(t *capacityTarget) error {
		r := attack(ctx, t.Client, t.Targeter, attackSpec{Rate: c.Offered, Duration: c.Burst, MaxWorkers: c.Workers}, nil)
		t.Bursts = append(t.Bursts, r)
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.Success < 1 || r.Requests == 0 {
			return fmt.Errorf("%s: requests failed under load: %v", t.Name, r)
		}
		return nil
	}
	for round := range c.Rounds {
		order := []*capacityTarget{a, b}
		if round%2 == 1 {
			order = []*capacityTarget{b, a}
		}
		for _, t := range order {
			if err := burst(t); err != nil {
				return err
			}
		}
	}
	rate := c.LatencyShare * min(a.medianThroughput(), b.medianThroughput())
	for _, t := range []*capacityTarget{a, b} {
		t.Latency = attack(ctx, t.Client, t.Targeter, attackSpec{Rate: rate, Duration: c.LatencyRun, MaxWorkers: c.Workers * 4}, nil)
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.Latency.Success < 1 {
			return fmt.Errorf("%s: requests failed at %.0f/s: %v", t.Name, rate, t.Latency)
		}
	}
	return nil
}

// medianFloat is the median of v (the mean of the middle two for an even
// count); zero for none.
func medianFloat(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// median returns the median of ds (the mean of the middle two for an even
// count); zero for none.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// durations formats a list of durations for the raw-numbers column.
func durations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = ms(d).String()
	}
	return strings.Join(parts, " ")
}
