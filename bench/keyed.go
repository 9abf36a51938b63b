package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/sync/errgroup"
)

const targetB1k = 0.55

// b1kKey is the publishable key of B1k, and b1kOrigin its site.
const (
	b1kKey    = "pk_bench_0000000000000000000000"
	b1kOrigin = "https://www.bench.example"
)

// b1kKeysFile has one publishable key whose rate and quota are far above
// what any run can ask, so B1k measures the checks, never a refusal.
const b1kKeysFile = `keys:
  - name: bench-form
    key: ` + b1kKey + `
    kind: publishable
    origins: [` + b1kOrigin + `]
    rate: 1000000/s
    burst: 1000000
    daily_quota: 1000000000000
`

// B1k: B1 with a publishable key: every request carries the key and its
// Origin, so it pays the digest lookup, the origin check, the rate limit
// (per key and client IP) and the quota count.
func (b *bench) keyedThroughput(ctx context.Context) outcome {
	s := b.opts.Sizes
	c := s.Capacity
	oc := outcome{ID: "B1k", Measure: "B1 with a publishable key, origin check and a rate limit that never refuses ÷ framework floor", Target: fmt.Sprintf("≥ %.2f", targetB1k)}
	b.dns.SetLatency(0)
	keysPath := filepath.Join(b.work, "b1k-keys.yaml")
	if err := os.WriteFile(keysPath, []byte(b1kKeysFile), 0o600); err != nil {
		return oc.fail(err)
	}
	fp, faddr, _, err := b.startFloor(ctx)
	if err != nil {
		return oc.fail(err)
	}
	defer fp.stop(stopGrace)
	b.starts++
	dataDir := filepath.Join(b.work, fmt.Sprintf("data-%02d-b1k", b.starts))
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return oc.fail(err)
	}
	vp, vaddr, _, err := b.startAndWait(ctx, "b1k", b.server, []string{"serve"}, func(addr string) []string {
		return append(b.serverEnv(addr, dataDir), "LEADCHECK_KEYS_FILE="+keysPath)
	})
	if err != nil {
		return oc.fail(err)
	}
	defer vp.stop(stopGrace)

	domains := min(s.CachedDomains, s.Domains)
	urls := make([]string, 0, 10*domains)
	for i := range 10 * domains {
		email := fmt.Sprintf("%s.%s%d@%s", firstNames[i%len(firstNames)], lastNames[(i/7)%len(lastNames)], i, leadDomain(i%domains))
		urls = append(urls, "http://"+vaddr+"/v1/validate?email="+url.QueryEscape(email))
	}
	hdr := http.Header{"X-Api-Key": {b1kKey}, "Origin": {b1kOrigin}}
	if err := warmCacheWith(ctx, urls[:domains], hdr); err != nil {
		return oc.fail(err)
	}
	floor := &capacityTarget{Name: "floor", Targeter: roundRobin([]string{"http://" + faddr + "/floor"}), Client: loadClient(validateTimeout, 4*int(c.Workers))}
	val := &capacityTarget{Name: "validate-keyed", Targeter: roundRobinWith(urls, hdr), Client: loadClient(validateTimeout, 4*int(c.Workers))}
	defer floor.Client.CloseIdleConnections()
	defer val.Client.CloseIdleConnections()
	for _, t := range []*capacityTarget{floor, val} {
		w := attack(ctx, t.Client, t.Targeter, attackSpec{Rate: c.Offered, Duration: s.Warmup, MaxWorkers: c.Workers}, nil)
		if w.Success < 1 {
			return oc.fail(fmt.Errorf("%s warm-up: %v", t.Name, w))
		}
	}
	if err := compareCapacity(ctx, c, floor, val); err != nil {
		return oc.fail(err)
	}
	valPeak, verr := finish(vp)
	floorPeak, ferr := finish(fp)
	if verr != nil || ferr != nil {
		return oc.fail(errors.Join(verr, ferr))
	}
	ratios := make([]float64, len(val.Bursts))
	rounds := make([]string, len(val.Bursts))
	for i := range val.Bursts {
		ratios[i] = val.Bursts[i].Throughput / floor.Bursts[i].Throughput
		rounds[i] = fmt.Sprintf("%.2f", ratios[i])
	}
	ratio := medianFloat(ratios)
	vl, fl := val.Latency, floor.Latency
	oc.Raw = fmt.Sprintf("keyed validate %.0f/s, floor %.0f/s (medians; round ratios %s); at %.0f/s open-model: validate p50 %v p99 %v, floor p50 %v p99 %v; errors 0 (no 429); peak RSS validate %s, floor %s",
		val.medianThroughput(), floor.medianThroughput(), strings.Join(rounds, " "), vl.Rate, ms(vl.P50), ms(vl.P99), ms(fl.P50), ms(fl.P99), mb(valPeak), mb(floorPeak))
	oc.Value = fmt.Sprintf("%.2f", ratio)
	oc.Met = yesNo(ratio >= targetB1k)
	oc.Details = append(oc.Details,
		"As B1, but the server has a keys file with one publishable key (rate 1000000/s, burst 1000000, a quota of 10¹²: high enough never to refuse), "+
			"and every request sends X-API-Key and an Origin among the key's origins: each pays the digest lookup, the origin check, "+
			"the in-process rate limit per key and client IP, the daily quota count and the RateLimit headers. Any non-200 (a 429 included) fails the run.")
	for i := range val.Bursts {
		oc.Details = append(oc.Details, fmt.Sprintf("round %d: floor %.0f/s, keyed validate %.0f/s, ratio %.2f", i+1, floor.Bursts[i].Throughput, val.Bursts[i].Throughput, ratios[i]))
	}
	return oc
}

// roundRobinWith is roundRobin with headers on every request.
func roundRobinWith(urls []string, hdr http.Header) vegeta.Targeter {
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		i := n.Add(1) - 1
		t.Method, t.URL, t.Body, t.Header = http.MethodGet, urls[i%uint64(len(urls))], nil, hdr.Clone()
		return nil
	}
}

// warmCacheWith is warmCache for requests that carry hdr.
func warmCacheWith(ctx context.Context, urls []string, hdr http.Header) error {
	hc := loadClient(validateTimeout, 16)
	defer hc.CloseIdleConnections() // before the wrapping: it reaches the inner transport
	inner := hc.Transport
	hc = &http.Client{Timeout: hc.Timeout, Transport: headerTransport{next: inner, hdr: hdr}}
	for pass, wantCached := range []bool{false, true} {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for _, u := range urls {
			g.Go(func() error {
				body, err := get(gctx, hc, u)
				if err != nil {
					return err
				}
				if msg := checkValidate(body, wantCached); msg != "" && pass == 1 {
					return fmt.Errorf("warm cache: %s: %s", u, msg)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// headerTransport adds hdr to every request.
type headerTransport struct {
	next http.RoundTripper
	hdr  http.Header
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.hdr {
		r.Header[k] = v
	}
	return h.next.RoundTrip(r)
}
