package validate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

const resolverTestZone = `
$ORIGIN test.
$TTL 300
@        SOA ns.test. hostmaster.test. 1 3600 600 86400 60
mail     MX  10 mx.mail.test.
mail     A   192.0.2.1
`

// Test timing. The test machines are small and shared, so no test measures
// speed. Lookups that must succeed get a timeout long enough for a starved
// scheduler; lookups that must fail get a short one; a failing lookup that
// takes longer than the hang bound counts as hung.
const (
	resolverTestTimeout = 10 * time.Second
	// resolverFailoverTimeout is spent on a blackholed first server before
	// the second is asked, and the second must answer within it too.
	resolverFailoverTimeout = 3 * time.Second
	resolverFailTimeout     = 300 * time.Millisecond
	resolverHangBound       = 10 * time.Second
)

// newResolverForTest builds a DNSResolver or fails the test.
func newResolverForTest(t *testing.T, timeout time.Duration, servers ...string) *DNSResolver {
	t.Helper()
	r, err := NewDNSResolver(servers, timeout)
	if err != nil {
		t.Fatalf("NewDNSResolver(%v): %v", servers, err)
	}
	return r
}

// closedUDPAddr returns a loopback address where nothing listens, so a
// query there fails fast with "connection refused".
func closedUDPAddr(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := pc.LocalAddr().String()
	if err := pc.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return addr
}

// waitForQueries polls the server until it has received n queries, failing
// the test after a generous 5s.
func waitForQueries(t *testing.T, s *dnstest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(resolverHangBound)
	for s.TotalQueries() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d queries at the server after %v, want %d", s.TotalQueries(), resolverHangBound, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestNewDNSResolver(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		servers []string
		timeout time.Duration
		wantErr bool
	}{
		{"ipv4", []string{"127.0.0.1:53"}, time.Second, false},
		{"ipv6 and a name", []string{"[::1]:53", "unbound:5353"}, time.Second, false},
		{"no servers", nil, time.Second, true},
		{"missing port", []string{"127.0.0.1"}, time.Second, true},
		{"missing host", []string{":53"}, time.Second, true},
		{"port zero", []string{"127.0.0.1:0"}, time.Second, true},
		{"port too big", []string{"127.0.0.1:65536"}, time.Second, true},
		{"port not a number", []string{"127.0.0.1:dns"}, time.Second, true},
		{"one bad among good", []string{"127.0.0.1:53", "bad"}, time.Second, true},
		{"zero timeout", []string{"127.0.0.1:53"}, 0, true},
		{"negative timeout", []string{"127.0.0.1:53"}, -time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewDNSResolver(tt.servers, tt.timeout)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("NewDNSResolver(%q, %v): got error %v, want error: %v", tt.servers, tt.timeout, err, tt.wantErr)
			}
			if err == nil && r == nil {
				t.Fatalf("NewDNSResolver: got nil resolver and nil error")
			}
		})
	}
}

func TestSystemServers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    []string
		wantErr bool
	}{
		{
			name: "v4 and v6",
			path: write("two", "# comment\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:2\n"),
			want: []string{"192.0.2.53:53", "[2001:db8::53]:53"},
		},
		{name: "no nameserver", path: write("none", "search example.com\n"), wantErr: true},
		{name: "missing file", path: filepath.Join(dir, "absent"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := SystemServers(tt.path)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("SystemServers: got error %v, want error: %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SystemServers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDNSResolverAnswers(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		s := dnstest.Start(t, dnstest.Config{
			Zone: resolverTestZone,
			Behaviours: map[string]dnstest.Behaviour{
				"servfail.test": dnstest.Servfail(),
				"refused.test":  dnstest.Refused(),
			},
		})
		r := newResolverForTest(t, resolverTestTimeout, s.Addr())

		tests := []struct {
			name      string
			qname     string
			qtype     uint16
			wantRcode int
			wantN     int
		}{
			{"records", "mail.test", dns.TypeMX, dns.RcodeSuccess, 1},
			{"trailing dot and case", "MAIL.test.", dns.TypeA, dns.RcodeSuccess, 1},
			{"nodata", "mail.test", dns.TypeAAAA, dns.RcodeSuccess, 0},
			{"nxdomain is an answer", "nope.test", dns.TypeMX, dns.RcodeNameError, 0},
			{"servfail comes back as a message", "servfail.test", dns.TypeMX, dns.RcodeServerFailure, 0},
			{"refused comes back as a message", "refused.test", dns.TypeMX, dns.RcodeRefused, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				in, err := ask(r, t.Context(), tt.qname, tt.qtype)
				if err != nil {
					t.Fatalf("Query: got error %v, want none", err)
				}
				if in.Rcode != tt.wantRcode {
					t.Errorf("rcode: got %s, want %s", dns.RcodeToString[in.Rcode], dns.RcodeToString[tt.wantRcode])
				}
				if len(in.Answer) != tt.wantN {
					t.Errorf("answers: got %d, want %d", len(in.Answer), tt.wantN)
				}
				// The server echoes RD and answers with OPT only when asked
				// with EDNS0, so the reply shows how the question was sent.
				if !in.RecursionDesired {
					t.Errorf("RD: got false, want true")
				}
				if in.IsEdns0() == nil {
					t.Errorf("EDNS0: got no OPT in the answer, want one")
				}
			})
		}
	})
}

func TestDNSResolverInvalidName(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		s := dnstest.Start(t, dnstest.Config{Zone: resolverTestZone})
		r := newResolverForTest(t, resolverTestTimeout, s.Addr())

		for _, name := range []string{strings.Repeat("a", 64) + ".test", strings.Repeat("abcdefgh.", 32) + "test"} {
			_, err := ask(r, t.Context(), name, dns.TypeMX)
			if !errors.Is(err, errInvalidName) {
				t.Errorf("Query(%.20q...): got error %v, want errInvalidName", name, err)
			}
		}
		if got := s.TotalQueries(); got != 0 {
			t.Errorf("queries at the server: got %d, want 0", got)
		}
	})
}

func TestDNSResolverEDNSBuffer(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		// About 800 bytes of answer: more than the 512 of plain DNS, less than
		// the 1232 we advertise, so it must come over UDP in one piece.
		var zone strings.Builder
		zone.WriteString(resolverTestZone)
		for i := range 20 {
			fmt.Fprintf(&zone, "medium TXT \"record %02d padded to be a little long\"\n", i)
		}
		// About 4 KB: it cannot fit, so it must come over TCP.
		for i := range 100 {
			fmt.Fprintf(&zone, "large TXT \"record %03d padded to be a little long\"\n", i)
		}
		s := dnstest.Start(t, dnstest.Config{Zone: zone.String()})
		r := newResolverForTest(t, resolverTestTimeout, s.Addr())

		in, err := ask(r, t.Context(), "medium.test", dns.TypeTXT)
		if err != nil {
			t.Fatalf("Query medium: %v", err)
		}
		if len(in.Answer) != 20 || s.TCPQueries() != 0 {
			t.Errorf("medium: got %d answers and %d TCP queries, want 20 over UDP only", len(in.Answer), s.TCPQueries())
		}

		in, err = ask(r, t.Context(), "large.test", dns.TypeTXT)
		if err != nil {
			t.Fatalf("Query large: %v", err)
		}
		if len(in.Answer) != 100 || in.Truncated {
			t.Errorf("large: got %d answers (TC=%v), want 100 not truncated", len(in.Answer), in.Truncated)
		}
		if got, want := s.TCPQueries(), 1; got != want {
			t.Errorf("TCP queries: got %d, want %d", got, want)
		}
	})
}

func TestDNSResolverTruncatedRetriesOverTCP(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		s := dnstest.Start(t, dnstest.Config{
			Zone:       resolverTestZone,
			Behaviours: map[string]dnstest.Behaviour{"mail.test": dnstest.Truncate()},
		})
		other := dnstest.Start(t, dnstest.Config{Zone: resolverTestZone})
		r := newResolverForTest(t, resolverTestTimeout, s.Addr(), other.Addr())

		in, err := ask(r, t.Context(), "mail.test", dns.TypeMX)
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		if len(in.Answer) != 1 {
			t.Errorf("answers: got %d, want 1", len(in.Answer))
		}
		if got, want := s.Queries("mail.test", dns.TypeMX), 2; got != want {
			t.Errorf("queries at the truncating server: got %d, want %d (UDP then TCP)", got, want)
		}
		if got, want := s.TCPQueries(), 1; got != want {
			t.Errorf("TCP queries: got %d, want %d", got, want)
		}
		if got := other.TotalQueries(); got != 0 {
			t.Errorf("queries at the second server: got %d, want 0 (same server over TCP)", got)
		}
	})
}

func TestDNSResolverBlackholeTimesOut(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		s := dnstest.Start(t, dnstest.Config{
			Zone:       resolverTestZone,
			Behaviours: map[string]dnstest.Behaviour{".": dnstest.Blackhole()},
		})
		r := newResolverForTest(t, resolverFailTimeout, s.Addr())

		start := time.Now()
		in, err := ask(r, t.Context(), "mail.test", dns.TypeMX)
		if elapsed := time.Since(start); elapsed > resolverHangBound {
			t.Errorf("took %v with a %v timeout, want well under %v", elapsed, resolverFailTimeout, resolverHangBound)
		}
		if err == nil {
			t.Fatalf("Query: got answer %v, want a timeout error", in)
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Query: got error %v, want one wrapping os.ErrDeadlineExceeded", err)
		}
	})
}

func TestDNSResolverNextServer(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		tests := []struct {
			name  string
			first func(t *testing.T) (addr string, queries func() int)
			// sends is how many queries the first server gets: a UDP query
			// with no answer is sent twice (exchangeMsgs).
			sends int
		}{
			{
				name:  "blackholed",
				sends: 2,
				first: func(t *testing.T) (string, func() int) {
					s := dnstest.Start(t, dnstest.Config{
						Zone:       resolverTestZone,
						Behaviours: map[string]dnstest.Behaviour{".": dnstest.Blackhole()},
					})
					return s.Addr(), s.TotalQueries
				},
			},
			{
				name:  "servfail",
				sends: 1,
				first: func(t *testing.T) (string, func() int) {
					s := dnstest.Start(t, dnstest.Config{
						Zone:       resolverTestZone,
						Behaviours: map[string]dnstest.Behaviour{".": dnstest.Servfail()},
					})
					return s.Addr(), s.TotalQueries
				},
			},
			{
				name:  "refused",
				sends: 1,
				first: func(t *testing.T) (string, func() int) {
					s := dnstest.Start(t, dnstest.Config{
						Zone:       resolverTestZone,
						Behaviours: map[string]dnstest.Behaviour{".": dnstest.Refused()},
					})
					return s.Addr(), s.TotalQueries
				},
			},
			{
				name:  "nothing listening",
				sends: 1,
				first: func(t *testing.T) (string, func() int) {
					return closedUDPAddr(t), func() int { return 1 }
				},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				firstAddr, firstQueries := tt.first(t)
				second := dnstest.Start(t, dnstest.Config{Zone: resolverTestZone})
				r := newResolverForTest(t, resolverFailoverTimeout, firstAddr, second.Addr())

				in, err := ask(r, t.Context(), "mail.test", dns.TypeMX)
				if err != nil {
					t.Fatalf("Query: %v", err)
				}
				if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 1 {
					t.Errorf("got %s with %d answers, want NOERROR with 1", dns.RcodeToString[in.Rcode], len(in.Answer))
				}
				if got := firstQueries(); got != tt.sends {
					t.Errorf("queries at the first server: got %d, want %d", got, tt.sends)
				}

				// The server that answered stays in front: the failing one is
				// not asked again.
				if _, err := ask(r, t.Context(), "mail.test", dns.TypeA); err != nil {
					t.Fatalf("second Query: %v", err)
				}
				if got := firstQueries(); got != tt.sends {
					t.Errorf("queries at the first server after a second lookup: got %d, want %d", got, tt.sends)
				}
				if got, want := second.TotalQueries(), 2; got != want {
					t.Errorf("queries at the second server: got %d, want %d", got, want)
				}
			})
		}
	})
}

// TestDNSResolverResendsLostUDPAnswer: with a single server, a query whose
// first answer is lost is sent again within the same attempt and answered,
// and a server that answers at once is asked once.
func TestDNSResolverResendsLostUDPAnswer(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		s := dnstest.Start(t, dnstest.Config{
			Zone:       resolverTestZone,
			Behaviours: map[string]dnstest.Behaviour{"mail.test": dnstest.FailFirst(dnstest.Blackhole(), 1)},
		})
		r := newResolverForTest(t, resolverFailoverTimeout, s.Addr())

		in, err := ask(r, t.Context(), "mail.test", dns.TypeMX)
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		if in.Rcode != dns.RcodeSuccess || len(in.Answer) != 1 {
			t.Errorf("got %s with %d answers, want NOERROR with 1", dns.RcodeToString[in.Rcode], len(in.Answer))
		}
		if got, want := s.Queries("mail.test", dns.TypeMX), 2; got != want {
			t.Errorf("MX queries: got %d, want %d (the lost one and the resend)", got, want)
		}
		if _, err := ask(r, t.Context(), "mail.test", dns.TypeA); err != nil {
			t.Fatalf("second Query: %v", err)
		}
		if got, want := s.Queries("mail.test", dns.TypeA), 2; got != want {
			t.Errorf("A queries: got %d, want %d", got, want)
		}
		s.ResetCounts()
		if _, err := ask(r, t.Context(), "mail.test", dns.TypeA); err != nil {
			t.Fatalf("third Query: %v", err)
		}
		if got, want := s.Queries("mail.test", dns.TypeA), 1; got != want {
			t.Errorf("A queries once answered: got %d, want %d", got, want)
		}
	})
}

func TestDNSResolverAllServersFail(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		servfail := dnstest.Start(t, dnstest.Config{
			Zone:       resolverTestZone,
			Behaviours: map[string]dnstest.Behaviour{".": dnstest.Servfail()},
		})
		blackhole := dnstest.Start(t, dnstest.Config{
			Zone:       resolverTestZone,
			Behaviours: map[string]dnstest.Behaviour{".": dnstest.Blackhole()},
		})

		t.Run("an rcode beats a timeout", func(t *testing.T) {
			t.Parallel()
			r := newResolverForTest(t, resolverFailoverTimeout, servfail.Addr(), blackhole.Addr())
			in, err := ask(r, t.Context(), "mail.test", dns.TypeMX)
			if err != nil {
				t.Fatalf("Query: got error %v, want the SERVFAIL message", err)
			}
			if in.Rcode != dns.RcodeServerFailure {
				t.Errorf("rcode: got %s, want SERVFAIL", dns.RcodeToString[in.Rcode])
			}
		})
		t.Run("no answer at all is an error", func(t *testing.T) {
			t.Parallel()
			r := newResolverForTest(t, resolverFailTimeout, closedUDPAddr(t), blackhole.Addr())
			in, err := ask(r, t.Context(), "mail.test", dns.TypeMX)
			if err == nil {
				t.Fatalf("Query: got %v, want an error", in)
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Query: got error %v, want the last cause (a timeout)", err)
			}
		})
	})
}

func TestDNSResolverContext(t *testing.T) {
	t.Parallel()
	forEachAsker(t, func(t *testing.T, ask asker) {
		blackhole := dnstest.Start(t, dnstest.Config{
			Zone:       resolverTestZone,
			Behaviours: map[string]dnstest.Behaviour{".": dnstest.Blackhole()},
		})

		t.Run("cancel interrupts a waiting query", func(t *testing.T) {
			t.Parallel()
			second := dnstest.Start(t, dnstest.Config{Zone: resolverTestZone})
			// A long timeout: only the cancel can end the query early.
			r := newResolverForTest(t, time.Minute, blackhole.Addr(), second.Addr())
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			before := blackhole.TotalQueries()
			go func() {
				_, err := ask(r, ctx, "cancel.test", dns.TypeMX)
				errc <- err
			}()
			waitForQueries(t, blackhole, before+1)
			cancel()
			select {
			case err := <-errc:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Query: got error %v, want context.Canceled", err)
				}
			case <-time.After(resolverHangBound):
				t.Fatalf("Query did not return within %v of the cancel", resolverHangBound)
			}
			if got := second.TotalQueries(); got != 0 {
				t.Errorf("queries at the second server: got %d, want 0 after a cancel", got)
			}
		})

		t.Run("cancelled before the call", func(t *testing.T) {
			t.Parallel()
			second := dnstest.Start(t, dnstest.Config{Zone: resolverTestZone})
			r := newResolverForTest(t, time.Minute, second.Addr())
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			_, err := ask(r, ctx, "mail.test", dns.TypeMX)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Query: got error %v, want context.Canceled", err)
			}
			if got := second.TotalQueries(); got != 0 {
				t.Errorf("queries at the server: got %d, want 0", got)
			}
		})

		t.Run("context deadline bounds the timeout", func(t *testing.T) {
			t.Parallel()
			second := dnstest.Start(t, dnstest.Config{Zone: resolverTestZone})
			r := newResolverForTest(t, time.Minute, blackhole.Addr(), second.Addr())
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err := ask(r, ctx, "deadline.test", dns.TypeMX)
			if elapsed := time.Since(start); elapsed > resolverHangBound {
				t.Errorf("took %v with a 200ms context deadline, want well under %v", elapsed, resolverHangBound)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Query: got error %v, want context.DeadlineExceeded", err)
			}
			if got := second.TotalQueries(); got != 0 {
				t.Errorf("queries at the second server: got %d, want 0 once the caller's time is up", got)
			}
		})
	})
}

// TestDNSResolverLeavesNoGoroutines is not parallel: goleak compares the
// goroutines before and after, and parallel tests would add their own.
func TestDNSResolverLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	s, err := dnstest.New(dnstest.Config{
		Zone: resolverTestZone,
		Behaviours: map[string]dnstest.Behaviour{
			"hole.test":  dnstest.Blackhole(),
			"trunc.test": dnstest.Truncate(),
		},
	})
	if err != nil {
		t.Fatalf("dnstest.New: %v", err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	r := newResolverForTest(t, resolverFailTimeout, s.Addr())

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.Query(ctx, "hole.test", dns.TypeMX)
	}()
	waitForQueries(t, s, 1)
	cancel()
	<-done
	_, _ = r.Query(t.Context(), "hole.test", dns.TypeA)
	_, _ = r.Query(t.Context(), "trunc.test", dns.TypeA)
	_, _ = r.Query(t.Context(), "mail.test", dns.TypeMX)
}

// TestQueryIDsAreUnpredictable: IDs are spread over the whole 16 bits, not
// a counter or a constant (RFC 5452).
func TestQueryIDsAreUnpredictable(t *testing.T) {
	t.Parallel()
	seen := map[uint16]bool{}
	var prev uint16
	steps := 0
	for i := range 4096 {
		id := queryID()
		seen[id] = true
		if i > 0 && id == prev+1 {
			steps++
		}
		prev = id
	}
	// 4096 draws from 65536 values: about 3970 distinct ones expected.
	if len(seen) < 3800 {
		t.Errorf("%d distinct IDs in 4096 queries; want them random", len(seen))
	}
	if steps > 10 {
		t.Errorf("%d IDs followed the one before by one; want no counter", steps)
	}
}

// asker is one way to ask a DNSResolver a question: Query, or a batch of
// one. The resolver tests run both, so a batch keeps Query's contract.
type asker func(r *DNSResolver, ctx context.Context, name string, qtype uint16) (*dns.Msg, error)

func forEachAsker(t *testing.T, test func(t *testing.T, ask asker)) {
	for _, a := range []struct {
		name string
		ask  asker
	}{
		{"Query", (*DNSResolver).Query},
		{"QueryBatch", func(r *DNSResolver, ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
			var out [1]Answer
			r.QueryBatch(ctx, []Question{{name, qtype}}, out[:])
			return out[0].Msg, out[0].Err
		}},
	} {
		t.Run(a.name, func(t *testing.T) {
			t.Parallel()
			test(t, a.ask)
		})
	}
}

const batchTestZone = `
$ORIGIN test.
$TTL 300
@        SOA ns.test. hostmaster.test. 1 3600 600 86400 60
ok       MX  10 mx.ok.test.
big      MX  10 mx.big.test.
lost     MX  10 mx.lost.test.
sick     MX  10 mx.sick.test.
`

// TestQueryBatchMixed: one batch whose questions meet every case at the
// first server (answered, truncated, lost once, SERVFAIL, no such name)
// gives each the answer Query gives, and sends each to the servers as
// often as Query does.
func TestQueryBatchMixed(t *testing.T) {
	t.Parallel()
	behaviours := map[string]dnstest.Behaviour{
		"big.test":  dnstest.Truncate(),
		"lost.test": dnstest.FailFirst(dnstest.Blackhole(), 1),
		"sick.test": dnstest.Servfail(),
	}
	qs := []Question{{"ok.test", dns.TypeMX}, {"big.test", dns.TypeMX}, {"lost.test", dns.TypeMX}, {"sick.test", dns.TypeMX}, {"none.test", dns.TypeMX}}
	type seen struct {
		rcode, answers, first, second, tcp int
	}
	run := func(batch bool) []seen {
		first := dnstest.Start(t, dnstest.Config{Zone: batchTestZone, Behaviours: behaviours})
		second := dnstest.Start(t, dnstest.Config{Zone: batchTestZone})
		r := newResolverForTest(t, resolverFailoverTimeout, first.Addr(), second.Addr())
		out := make([]Answer, len(qs))
		if batch {
			r.QueryBatch(t.Context(), qs, out)
		} else {
			// At once, as a lookup asks them without batches.
			var wg sync.WaitGroup
			for i, q := range qs {
				wg.Go(func() { out[i].Msg, out[i].Err = r.Query(t.Context(), q.Name, q.Qtype) })
			}
			wg.Wait()
		}
		res := make([]seen, len(qs))
		for i, a := range out {
			if a.Err != nil {
				t.Fatalf("%s (batch %v): %v", qs[i].Name, batch, a.Err)
			}
			res[i] = seen{rcode: a.Msg.Rcode, answers: len(a.Msg.Answer),
				first: first.Queries(qs[i].Name, dns.TypeMX), second: second.Queries(qs[i].Name, dns.TypeMX)}
		}
		res[0].tcp = first.TCPQueries()
		return res
	}
	want, got := run(false), run(true)
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(seen{})); diff != "" {
		t.Errorf("batch against one Query per question (-Query +QueryBatch):\n%s", diff)
	}
	// The cases are what the test means them to be.
	if want[0].tcp != 1 || want[1].first != 2 || want[2].first != 2 || want[3].second != 1 || want[4].rcode != dns.RcodeNameError {
		t.Errorf("the fixture does not make the cases it names: %+v", want)
	}
}
