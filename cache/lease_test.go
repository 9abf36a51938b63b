package cache

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// checkerOn is an uncached checker asking s, each query waiting at most
// timeout.
func checkerOn(t *testing.T, s *dnstest.Server, timeout time.Duration) validate.DNSChecker {
	t.Helper()
	r, err := validate.NewDNSResolver([]string{s.Addr()}, timeout)
	if err != nil {
		t.Fatalf("NewDNSResolver: %v", err)
	}
	return validate.DNSChecker{Resolver: r}
}

// eventually waits for cond, failing t after 20s, a bound that only a
// broken cache reaches.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: still not %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// answer is what a CheckDomain returned.
type answer struct {
	facts  validate.DomainFacts
	cached bool
}

// checkInBackground starts a CheckDomain of domain on d and returns the
// channel its answer arrives on.
func checkInBackground(ctx context.Context, d *Domains, domain string) <-chan answer {
	ch := make(chan answer, 1)
	go func() {
		f, cached := d.CheckDomain(ctx, domain)
		ch <- answer{f, cached}
	}()
	return ch
}

// receive waits up to 10s for an answer; the leases in these tests last
// 30s, so an answer within 10s did not wait a lease out.
func receive(t *testing.T, who string, ch <-chan answer) answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer after 10s", who)
		return answer{}
	}
}

// TestDNSClusterResolvesOnce is the cluster promise: two instances on one
// Redis, each with its own in-process tier and resolver, asked for the same
// cold domains at once by many requests, send each question of each domain
// to DNS once between them, not once each.
func TestDNSClusterResolvesOnce(t *testing.T) {
	t.Parallel()
	_, cfg := sharedRedis(t)
	const domains, callersPerDomain = 8, 10
	var zone strings.Builder
	zone.WriteString("$ORIGIN cluster.\n@ SOA ns.cluster. hostmaster.cluster. 1 7200 900 1209600 30\n")
	for i := range domains {
		fmt.Fprintf(&zone, "d%d MX 10 mx.d%d.cluster.\nd%d A 192.0.2.%d\n", i, i, i, i+1)
		fmt.Fprintf(&zone, "d%d TXT \"v=spf1 -all\"\n_dmarc.d%d TXT \"v=DMARC1; p=reject\"\n", i, i)
	}
	s := dnstest.Start(t, dnstest.Config{Zone: zone.String(), Latency: 100 * time.Millisecond})
	a := newTestDomains(t, cfg, checkerOn(t, s, 5*time.Second))
	b := newTestDomains(t, cfg, checkerOn(t, s, 5*time.Second))

	type call struct {
		on     *Domains
		domain string
	}
	var calls []call
	for _, d := range []*Domains{a, b} {
		for i := range domains {
			for range callersPerDomain {
				calls = append(calls, call{d, fmt.Sprintf("d%d.cluster", i)})
			}
		}
	}
	type result struct {
		domain string
		facts  validate.DomainFacts
	}
	var next atomic.Int64
	wait := callAtOnce(len(calls), func() result {
		c := calls[next.Add(1)-1]
		f, _ := c.on.CheckDomain(context.Background(), c.domain)
		return result{c.domain, f}
	})
	results := wait()

	for i := range domains {
		for _, q := range mailQuestions(fmt.Sprintf("d%d.cluster", i)) {
			if got := s.Queries(q.name, q.qtype); got != 1 {
				t.Errorf("queries for %s %s = %d, want 1", q.name, dns.TypeToString[q.qtype], got)
			}
		}
	}
	sa, sb := a.Stats(), b.Stats()
	if got := sa.Loads + sb.Loads; got != domains {
		t.Errorf("loads on A + B = %d + %d, want %d in all", sa.Loads, sb.Loads, domains)
	}
	t.Logf("lease waits on A, B: %d, %d", sa.LeaseWaits, sb.LeaseWaits)
	for _, r := range results {
		if r.facts.Status != validate.DNSOK || len(r.facts.MX) != 1 || r.facts.MX[0].Host != "mx."+r.domain {
			t.Errorf("%s: got %+v, want ok facts with MX mx.%s", r.domain, r.facts, r.domain)
		}
	}
}

// TestDNSLeaseWaiter holds A's load in DNS until B waits on A's lease, then
// lets it finish: B takes A's value from Redis without asking DNS, and when
// A's answer is an error that stays in A's process, B asks DNS itself as
// soon as A lets go of the lease, not when the lease (30s) would expire.
func TestDNSLeaseWaiter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		domain        string
		wantStatus    validate.DNSStatus
		wantB         Stats
		wantBCached   bool
		wantMXQueries int
	}{
		{
			name: "value from the holder", domain: "cold.lc", wantStatus: validate.DNSOK,
			wantB:       Stats{LocalMisses: 1, RedisMisses: 1, LeaseWaits: 1},
			wantBCached: true, wantMXQueries: 1,
		},
		{
			name: "holder's answer kept in process", domain: "broken.lc", wantStatus: validate.DNSError,
			wantB:         Stats{LocalMisses: 1, RedisMisses: 1, LeaseWaits: 1, Loads: 1},
			wantMXQueries: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc, cfg := sharedRedis(t)
			cfg.LoadTimeout, cfg.ErrorTTL = 30*time.Second, 5*time.Second
			s := dnstest.Start(t, dnstest.Config{
				Zone:       cacheZone,
				Behaviours: map[string]dnstest.Behaviour{"broken.lc": dnstest.Servfail()},
			})
			a := newTestDomains(t, cfg, checkerOn(t, s, 30*time.Second))
			b := newTestDomains(t, cfg, checkerOn(t, s, 30*time.Second))
			ctx := context.Background()

			s.SetLatency(time.Hour)
			fromA := checkInBackground(ctx, a, tt.domain)
			eventually(t, "A asking DNS", func() bool { return s.Queries(tt.domain, dns.TypeMX) == 1 })
			fromB := checkInBackground(ctx, b, tt.domain)
			eventually(t, "B waiting on A's lease", func() bool { return b.Stats().LeaseWaits == 1 })
			s.SetLatency(0)

			ga := receive(t, "A", fromA)
			gb := receive(t, "B", fromB)
			if ga.facts.Status != tt.wantStatus || gb.facts.Status != tt.wantStatus {
				t.Errorf("status on A, B = %q, %q; want %q", ga.facts.Status, gb.facts.Status, tt.wantStatus)
			}
			if ga.cached || gb.cached != tt.wantBCached {
				t.Errorf("cached on A, B = %v, %v; want false, %v", ga.cached, gb.cached, tt.wantBCached)
			}
			if got := s.Queries(tt.domain, dns.TypeMX); got != tt.wantMXQueries {
				t.Errorf("MX queries = %d, want %d", got, tt.wantMXQueries)
			}
			if diff := cmp.Diff(Stats{LocalMisses: 1, RedisMisses: 1, Loads: 1}, a.Stats()); diff != "" {
				t.Errorf("A Stats mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantB, b.Stats()); diff != "" {
				t.Errorf("B Stats mismatch (-want +got):\n%s", diff)
			}
			// Both let go of what they held: no lease is left behind.
			if n, err := rc.Exists(ctx, cfg.KeyPrefix+"v1:lease:dns:"+tt.domain).Result(); err != nil || n != 0 {
				t.Errorf("lease key after both loads: EXISTS = %d, %v; want 0", n, err)
			}
		})
	}
}

// TestDNSDeadLeaseOwner: a lease whose holder died (set here by hand) holds
// a lookup no longer than the lease lasts, or than LoadTimeout for a lease
// without expiry; then the lookup resolves by itself. A caller's own budget
// ends its wait sooner.
func TestDNSDeadLeaseOwner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		lease       time.Duration // 0: no expiry
		loadTimeout time.Duration
		budget      time.Duration // 0: none
		minWait     time.Duration
		wantStatus  validate.DNSStatus
	}{
		{"lease expires", 500 * time.Millisecond, 0, 0, 500 * time.Millisecond, validate.DNSOK},
		{"lease without expiry", 0, 500 * time.Millisecond, 0, 500 * time.Millisecond, validate.DNSOK},
		{"caller's budget", 30 * time.Second, 0, 300 * time.Millisecond, 300 * time.Millisecond, validate.DNSError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rc, cfg := sharedRedis(t)
			cfg.LoadTimeout = tt.loadTimeout
			s, checker := startDNS(t)
			d := newTestDomains(t, cfg, checker)
			ctx := context.Background()
			if tt.budget > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.budget)
				defer cancel()
			}

			start := time.Now()
			if err := rc.Set(context.Background(), cfg.KeyPrefix+"v1:lease:dns:cold.lc", "dead-owner", tt.lease).Err(); err != nil {
				t.Fatalf("SET lease: %v", err)
			}
			f, cached := d.CheckDomain(ctx, "cold.lc")
			elapsed := time.Since(start)
			if f.Status != tt.wantStatus || cached {
				t.Errorf("CheckDomain = (%+v, cached %v), want status %q, not cached", f, cached, tt.wantStatus)
			}
			if elapsed < tt.minWait || elapsed > tt.minWait+5*time.Second {
				t.Errorf("CheckDomain took %v, want %v and not much longer", elapsed, tt.minWait)
			}
			if tt.wantStatus != validate.DNSOK {
				return // the load goes on detached until Close
			}
			if got := s.Queries("cold.lc", dns.TypeMX); got != 1 {
				t.Errorf("MX queries = %d, want 1", got)
			}
			want := Stats{LocalMisses: 1, RedisMisses: 1, LeaseWaits: 1, Loads: 1}
			if diff := cmp.Diff(want, d.Stats()); diff != "" {
				t.Errorf("Stats mismatch (-want +got):\n%s", diff)
			}
			// It stored what it resolved, for the other instances.
			if n, err := rc.Exists(context.Background(), cfg.KeyPrefix+"v1:dns:cold.lc").Result(); err != nil || n != 1 {
				t.Errorf("EXISTS value = %d, %v; want 1", n, err)
			}
		})
	}
}

// TestDNSRedisDiesWhileWaiting: B waits on A's lease when Redis dies; B
// stops waiting at its next look and resolves by itself at once, though A's
// lease would have lasted 30s.
func TestDNSRedisDiesWhileWaiting(t *testing.T) {
	t.Parallel()
	port := testenv.FreePort(t)
	killRedis := testenv.RedisServer(t, port)
	cfg := Config{RedisURL: testenv.RedisServerURL(port), RedisTimeout: testRedisTimeout, LoadTimeout: 30 * time.Second}
	// A's DNS holds its answers; B has a DNS of its own that answers.
	heldDNS, _ := startDNS(t)
	freeDNS, _ := startDNS(t)
	a := newTestDomains(t, cfg, checkerOn(t, heldDNS, 30*time.Second))
	b := newTestDomains(t, cfg, checkerOn(t, freeDNS, 5*time.Second))
	ctx := context.Background()

	heldDNS.SetLatency(time.Hour)
	fromA := checkInBackground(ctx, a, "cold.lc")
	eventually(t, "A asking DNS", func() bool { return heldDNS.Queries("cold.lc", dns.TypeMX) == 1 })
	fromB := checkInBackground(ctx, b, "cold.lc")
	eventually(t, "B waiting on A's lease", func() bool { return b.Stats().LeaseWaits == 1 })
	killRedis()

	gb := receive(t, "B", fromB)
	if gb.facts.Status != validate.DNSOK || gb.cached {
		t.Errorf("B got (%+v, cached %v), want ok facts, not cached", gb.facts, gb.cached)
	}
	if got := freeDNS.Queries("cold.lc", dns.TypeMX); got != 1 {
		t.Errorf("B's MX queries = %d, want 1", got)
	}
	if s := b.Stats(); s.RedisErrors == 0 || s.Loads != 1 {
		t.Errorf("B Stats = %+v, want redis errors and one load", s)
	}

	heldDNS.SetLatency(0)
	if ga := receive(t, "A", fromA); ga.facts.Status != validate.DNSOK {
		t.Errorf("A got %+v, want ok facts", ga.facts)
	}
}

// TestDNSRedisUnreachableAnswersPromptly: with nothing listening at the
// Redis address, two instances asked at once answer promptly, each loading
// once per domain as a single instance does, and wait on nothing.
func TestDNSRedisUnreachableAnswersPromptly(t *testing.T) {
	t.Parallel()
	cfg := Config{RedisURL: "redis://" + testenv.ClosedAddr(t) + "/0"}
	_, checker := startDNS(t)
	a := newTestDomains(t, cfg, checker)
	b := newTestDomains(t, cfg, checker)
	domains := []string{"cold.lc", "shared.lc"}

	var next atomic.Int64
	wait := callAtOnce(40, func() time.Duration {
		i := next.Add(1) - 1
		d := a
		if i%2 == 1 {
			d = b
		}
		start := time.Now()
		f, _ := d.CheckDomain(context.Background(), domains[i/2%2])
		if f.Status != validate.DNSOK {
			t.Errorf("call %d: status %q, want ok", i, f.Status)
		}
		return time.Since(start)
	})
	for i, el := range wait() {
		if el > 5*time.Second {
			t.Errorf("call %d took %v; an unreachable Redis must not hold lookups", i, el)
		}
	}
	for name, d := range map[string]*Domains{"A": a, "B": b} {
		if s := d.Stats(); s.Loads != 2 || s.LeaseWaits != 0 {
			t.Errorf("%s: loads %d, lease waits %d; want 2, 0", name, s.Loads, s.LeaseWaits)
		}
	}
}

// TestLeaseRelease: a holder deletes its own lease and leaves alone one that
// another instance took after its own expired.
func TestLeaseRelease(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	r, err := NewRedis(cfg)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx := context.Background()
	key, lease := cfg.KeyPrefix+"v1:dns:example.com", cfg.KeyPrefix+"v1:lease:dns:example.com"

	first, err := r.claim(ctx, key, lease, "mine", time.Minute)
	if err != nil || !first.won || first.held || first.found {
		t.Fatalf("first claim = %+v, %v; want won, nothing found", first, err)
	}
	second, err := r.claim(ctx, key, lease, "theirs", time.Minute)
	if err != nil || second.won || !second.held {
		t.Fatalf("second claim = %+v, %v; want held by another", second, err)
	}
	if err := r.release(ctx, lease, "mine"); err != nil {
		t.Fatalf("release: %v", err)
	}
	if v, err := r.watch(ctx, key, lease); err != nil || v.held {
		t.Errorf("after release: watch = %+v, %v; want the lease gone", v, err)
	}

	if err := rc.Set(ctx, lease, "theirs", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if err := r.release(ctx, lease, "mine"); err != nil {
		t.Fatalf("release of another's lease: %v", err)
	}
	if got, err := rc.Get(ctx, lease).Result(); err != nil || got != "theirs" {
		t.Errorf("another's lease after my release = %q, %v; want it untouched", got, err)
	}
}

// TestMemoTakesNoLease: a Memo neither waits on a lease nor leaves one (see
// the package doc).
func TestMemoTakesNoLease(t *testing.T) {
	t.Parallel()
	rc, cfg := sharedRedis(t)
	m := newTestMemo(t, cfg, "site")
	ctx := context.Background()
	lease := cfg.KeyPrefix + "v1:lease:site:example.com"
	if err := rc.Set(ctx, lease, "someone", time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	load, loads := countedLoad("facts", time.Hour)
	start := time.Now()
	if v, cached := m.Do(ctx, "example.com", load); string(v) != "facts" || cached {
		t.Errorf("Do = (%q, %v), want (facts, false)", v, cached)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Do took %v; a Memo must not wait on a lease", el)
	}
	if got := loads.Load(); got != 1 {
		t.Errorf("loads = %d, want 1", got)
	}
	if got := m.Stats().LeaseWaits; got != 0 {
		t.Errorf("lease waits = %d, want 0", got)
	}
	if got, err := rc.Get(ctx, lease).Result(); err != nil || got != "someone" {
		t.Errorf("lease after Do = %q, %v; want it untouched", got, err)
	}
}
