package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

func validateEmail(t *testing.T, c *client.ClientWithResponses, email string) *client.ValidateResponse {
	t.Helper()
	resp, err := c.ValidateQueryWithResponse(context.Background(), &client.ValidateQueryParams{Email: &email})
	if err != nil {
		t.Fatalf("validate %s: %v", email, err)
	}
	if resp.JSON200 == nil {
		t.Fatalf("validate %s: got %d %s", email, resp.StatusCode(), resp.Body)
	}
	return resp.JSON200
}

// mailQueryTypes are the questions one domain check asks.
var mailQueryTypes = []struct {
	name  func(domain string) string
	qtype uint16
}{
	{func(d string) string { return d }, dns.TypeMX},
	{func(d string) string { return d }, dns.TypeA},
	{func(d string) string { return d }, dns.TypeAAAA},
	{func(d string) string { return d }, dns.TypeTXT},
	{func(d string) string { return "_dmarc." + d }, dns.TypeTXT},
}

// TestSharedCacheAcrossProcesses: a domain resolved through instance A is a
// cache hit on instance B, with no DNS query.
func TestSharedCacheAcrossProcesses(t *testing.T) {
	t.Parallel()
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone})
	url, prefix := testenv.Redis(t)
	env := map[string]string{"LEADCHECK_DNS": dnsSrv.Addr(), "LEADCHECK_REDIS_URL": url, "LEADCHECK_CACHE_PREFIX": prefix}
	a := startProcess(t, env)
	b := startProcess(t, env)

	first := validateEmail(t, newClient(t, a.base), "jane@acme.test")
	if first.Cached || first.Verdict != client.VerdictValid {
		t.Fatalf("instance A, cold: got cached=%v verdict=%s", first.Cached, first.Verdict)
	}
	before := dnsSrv.TotalQueries()
	second := validateEmail(t, newClient(t, b.base), "joe@acme.test")
	if !second.Cached {
		t.Error("instance B: got cached=false, want a hit from the shared Redis")
	}
	if after := dnsSrv.TotalQueries(); after != before {
		t.Errorf("instance B sent %d DNS queries, want 0", after-before)
	}
	if second.Verdict != first.Verdict || second.Score != first.Score {
		t.Errorf("instance B: got %s/%d, want the same verdict as A (%s/%d)", second.Verdict, second.Score, first.Verdict, first.Score)
	}
}

// TestColdDomainCoalescing: 100 concurrent requests for addresses at one
// cold domain cause exactly one query per record type at the DNS server.
func TestColdDomainCoalescing(t *testing.T) {
	t.Parallel()
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone, Latency: 50 * time.Millisecond})
	url, prefix := testenv.Redis(t)
	p := startProcess(t, map[string]string{"LEADCHECK_DNS": dnsSrv.Addr(), "LEADCHECK_REDIS_URL": url, "LEADCHECK_CACHE_PREFIX": prefix})
	c := newClient(t, p.base)

	var wg sync.WaitGroup
	verdicts := make([]client.Verdict, 100)
	for i := range verdicts {
		wg.Go(func() {
			email := fmt.Sprintf("person%d@other.test", i)
			resp, err := c.ValidateQueryWithResponse(context.Background(), &client.ValidateQueryParams{Email: &email})
			if err != nil || resp.JSON200 == nil {
				t.Errorf("request %d: %v %v", i, err, resp)
				return
			}
			verdicts[i] = resp.JSON200.Verdict
		})
	}
	wg.Wait()
	for i, v := range verdicts {
		if v != client.VerdictValid {
			t.Errorf("request %d: got verdict %q, want valid", i, v)
		}
	}
	for _, q := range mailQueryTypes {
		name := q.name("other.test")
		if got := dnsSrv.Queries(name, q.qtype); got != 1 {
			t.Errorf("%s %s: got %d queries, want 1", name, dns.TypeToString[q.qtype], got)
		}
	}
}

// TestRedisOutage kills a private Redis mid-run: every validation still
// succeeds, /readyz says degraded, and after Redis returns the service uses
// it again within 30 s.
func TestRedisOutage(t *testing.T) {
	t.Parallel()
	dnsSrv := dnstest.Start(t, dnstest.Config{Zone: zone})
	for i := range 70 {
		if err := dnsSrv.AddZone(fmt.Sprintf("d%d.test. 300 IN MX 10 mx.d%d.test.", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	port := testenv.FreePort(t)
	stopRedis := testenv.RedisServer(t, port)
	redisURL := testenv.RedisServerURL(port)
	p := startProcess(t, map[string]string{"LEADCHECK_DNS": dnsSrv.Addr(), "LEADCHECK_REDIS_URL": redisURL})
	c := newClient(t, p.base)
	ctx := context.Background()

	validateEmail(t, c, "jane@d0.test")
	stopRedis()
	for i := 1; i < 20; i++ {
		got := validateEmail(t, c, fmt.Sprintf("jane@d%d.test", i))
		if got.Verdict != client.VerdictValid {
			t.Errorf("d%d with Redis down: got %s, want valid", i, got.Verdict)
		}
	}
	ready, err := c.ReadyzWithResponse(ctx)
	if err != nil || ready.JSON200 == nil || ready.JSON200.Status != client.ReadinessStatusDegraded || ready.JSON200.Checks["redis"] != "degraded" {
		t.Errorf("readyz with Redis down: got %+v %v, want degraded", ready.JSON200, err)
	}

	testenv.RedisServer(t, port)
	rdb := testenv.RedisClient(t, redisURL)
	deadline := time.Now().Add(30 * time.Second)
	for i := 20; ; i++ {
		if i >= 70 {
			t.Fatal("ran out of fresh domains before Redis was used again")
		}
		validateEmail(t, c, fmt.Sprintf("jane@d%d.test", i))
		n, _ := rdb.DBSize(ctx).Result()
		if n > 0 {
			break // a fresh domain was written to the new Redis
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis was not used again within 30s of its return")
		}
		time.Sleep(time.Second)
	}
	ready, err = c.ReadyzWithResponse(ctx)
	if err != nil || ready.JSON200 == nil || ready.JSON200.Checks["redis"] != "ok" {
		t.Errorf("readyz after Redis returned: got %+v %v, want ok", ready.JSON200, err)
	}
}
