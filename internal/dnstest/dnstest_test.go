package dnstest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// hangBound is how long a test waits before calling something hung; the
// test machines are small and shared, so it is far above any real latency
// and no test measures speed.
const hangBound = 10 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const testZone = `
$ORIGIN test.
$TTL 300
@              IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
mail           IN MX  10 mx1.mail.test.
mail           IN MX  20 mx2.mail.test.
mail           IN A   192.0.2.1
mx1.mail       IN A   192.0.2.10
deep.a.b       IN A   192.0.2.20
alias          IN CNAME mail
alias2         IN CNAME alias
outside        IN CNAME elsewhere.invalid.
loop1          IN CNAME loop2
loop2          IN CNAME loop1
txt            IN TXT "v=spf1 -all"
`

// exchange asks addr one question over network ("udp" or "tcp") with EDNS0
// and returns the answer.
func exchange(t *testing.T, network, addr, name string, qtype uint16, timeout time.Duration) (*dns.Msg, error) {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: timeout}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(1232, false)
	in, _, err := c.Exchange(m, addr)
	return in, err
}

// mustExchange is exchange that fails the test on a transport error.
func mustExchange(t *testing.T, network, addr, name string, qtype uint16) *dns.Msg {
	t.Helper()
	in, err := exchange(t, network, addr, name, qtype, hangBound)
	if err != nil {
		t.Fatalf("exchange %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return in
}

// rrStrings renders records for comparison.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	return out
}

func TestAnswers(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Zone: testZone})
	soa := []string{"test. 300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60"}

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		wantAA    bool
		wantAns   []string
		wantNs    []string
	}{
		{
			name: "records of the asked type", qname: "mail.test", qtype: dns.TypeMX,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAns: []string{"mail.test. 300 IN MX 10 mx1.mail.test.", "mail.test. 300 IN MX 20 mx2.mail.test."},
		},
		{
			name: "case-insensitive names", qname: "MAIL.Test", qtype: dns.TypeA,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAns: []string{"mail.test. 300 IN A 192.0.2.1"},
		},
		{
			name: "NODATA carries the SOA", qname: "mail.test", qtype: dns.TypeAAAA,
			wantRcode: dns.RcodeSuccess, wantAA: true, wantNs: soa,
		},
		{
			name: "empty non-terminal is NODATA", qname: "a.b.test", qtype: dns.TypeA,
			wantRcode: dns.RcodeSuccess, wantAA: true, wantNs: soa,
		},
		{
			name: "NXDOMAIN carries the SOA", qname: "nope.test", qtype: dns.TypeMX,
			wantRcode: dns.RcodeNameError, wantAA: true, wantNs: soa,
		},
		{
			name: "zone apex answers its SOA", qname: "test", qtype: dns.TypeSOA,
			wantRcode: dns.RcodeSuccess, wantAA: true, wantAns: soa,
		},
		{
			name: "outside every zone is refused", qname: "example.com", qtype: dns.TypeA,
			wantRcode: dns.RcodeRefused,
		},
		{
			name: "CNAME chain is followed", qname: "alias2.test", qtype: dns.TypeMX,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAns: []string{
				"alias2.test. 300 IN CNAME alias.test.",
				"alias.test. 300 IN CNAME mail.test.",
				"mail.test. 300 IN MX 10 mx1.mail.test.",
				"mail.test. 300 IN MX 20 mx2.mail.test.",
			},
		},
		{
			name: "CNAME itself when asked", qname: "alias.test", qtype: dns.TypeCNAME,
			wantRcode: dns.RcodeSuccess, wantAA: true,
			wantAns: []string{"alias.test. 300 IN CNAME mail.test."},
		},
		{
			name: "CNAME out of the data stops there", qname: "outside.test", qtype: dns.TypeA,
			wantRcode: dns.RcodeSuccess,
			wantAns:   []string{"outside.test. 300 IN CNAME elsewhere.invalid."},
		},
		{
			name: "CNAME loop is a server failure", qname: "loop1.test", qtype: dns.TypeA,
			wantRcode: dns.RcodeServerFailure,
		},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				t.Parallel()
				in := mustExchange(t, network, s.Addr(), tt.qname, tt.qtype)
				if in.Rcode != tt.wantRcode {
					t.Errorf("rcode: got %s, want %s", dns.RcodeToString[in.Rcode], dns.RcodeToString[tt.wantRcode])
				}
				if in.Authoritative != tt.wantAA {
					t.Errorf("AA: got %v, want %v", in.Authoritative, tt.wantAA)
				}
				if !in.RecursionAvailable {
					t.Errorf("RA: got false, want true")
				}
				if diff := cmp.Diff(tt.wantAns, rrStrings(in.Answer)); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				if tt.wantRcode != dns.RcodeServerFailure {
					if diff := cmp.Diff(tt.wantNs, rrStrings(in.Ns)); diff != "" {
						t.Errorf("authority (-want +got):\n%s", diff)
					}
				}
				if in.IsEdns0() == nil {
					t.Errorf("EDNS0: got no OPT record, want one")
				}
			})
		}
	}
}

func TestBehaviours(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{
		Zone: testZone,
		Behaviours: map[string]Behaviour{
			"broken.test":   Servfail(),
			"closed.test.":  Refused(),
			"MAIL.test":     {Rcode: dns.RcodeServerFailure, Qtype: dns.TypeTXT},
			"txt.test":      {Rcode: dns.RcodeServerFailure, Qtype: dns.TypeAAAA},
			"big.test":      Truncate(),
			"elsewhere.org": Servfail(),
		},
	})

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		wantN     int
	}{
		{name: "servfail", qname: "broken.test", qtype: dns.TypeMX, wantRcode: dns.RcodeServerFailure},
		{name: "servfail below the name", qname: "x.y.broken.test", qtype: dns.TypeA, wantRcode: dns.RcodeServerFailure},
		{name: "refused", qname: "closed.test", qtype: dns.TypeMX, wantRcode: dns.RcodeRefused},
		{name: "only TXT fails", qname: "mail.test", qtype: dns.TypeTXT, wantRcode: dns.RcodeServerFailure},
		{name: "other types answer", qname: "mail.test", qtype: dns.TypeMX, wantRcode: dns.RcodeSuccess, wantN: 2},
		{name: "qtype-limited behaviour does not hit TXT", qname: "txt.test", qtype: dns.TypeTXT, wantRcode: dns.RcodeSuccess, wantN: 1},
		{name: "behaviour outside every zone", qname: "elsewhere.org", qtype: dns.TypeA, wantRcode: dns.RcodeServerFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := mustExchange(t, "udp", s.Addr(), tt.qname, tt.qtype)
			if in.Rcode != tt.wantRcode {
				t.Errorf("rcode: got %s, want %s", dns.RcodeToString[in.Rcode], dns.RcodeToString[tt.wantRcode])
			}
			if len(in.Answer) != tt.wantN {
				t.Errorf("answers: got %d, want %d", len(in.Answer), tt.wantN)
			}
		})
	}
}

func TestTruncateBehaviour(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{
		Zone:       testZone + "big IN A 192.0.2.99\n",
		Behaviours: map[string]Behaviour{"big.test": Truncate()},
	})

	udp := mustExchange(t, "udp", s.Addr(), "big.test", dns.TypeA)
	if !udp.Truncated || len(udp.Answer) != 0 {
		t.Errorf("udp: got TC=%v with %d answers, want TC=true with 0", udp.Truncated, len(udp.Answer))
	}
	tcp := mustExchange(t, "tcp", s.Addr(), "big.test", dns.TypeA)
	if tcp.Truncated || len(tcp.Answer) != 1 {
		t.Errorf("tcp: got TC=%v with %d answers, want TC=false with 1", tcp.Truncated, len(tcp.Answer))
	}
	if got, want := s.Queries("big.test", dns.TypeA), 2; got != want {
		t.Errorf("Queries: got %d, want %d", got, want)
	}
	if got, want := s.TCPQueries(), 1; got != want {
		t.Errorf("TCPQueries: got %d, want %d", got, want)
	}
}

func TestLargeAnswerIsTruncatedOnUDP(t *testing.T) {
	t.Parallel()
	var zone strings.Builder
	zone.WriteString("$ORIGIN test.\n@ SOA ns.test. h.test. 1 1 1 1 1\n")
	for i := range 200 {
		fmt.Fprintf(&zone, "many TXT \"record number %03d with some padding to make it long\"\n", i)
	}
	s := Start(t, Config{Zone: zone.String()})

	udp := mustExchange(t, "udp", s.Addr(), "many.test", dns.TypeTXT)
	if !udp.Truncated {
		t.Errorf("udp: got TC=false with %d answers, want TC=true", len(udp.Answer))
	}
	tcp := mustExchange(t, "tcp", s.Addr(), "many.test", dns.TypeTXT)
	if got, want := len(tcp.Answer), 200; got != want {
		t.Errorf("tcp answers: got %d, want %d", got, want)
	}
}

func TestBlackhole(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Zone: testZone, Behaviours: map[string]Behaviour{"mail.test": Blackhole()}})

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			in, err := exchange(t, network, s.Addr(), "mail.test", dns.TypeMX, 200*time.Millisecond)
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() {
				t.Fatalf("got answer %v and error %v, want a timeout", in, err)
			}
			if elapsed := time.Since(start); elapsed > hangBound {
				t.Errorf("took %v, want well under %v", elapsed, hangBound)
			}
		})
	}
}

func TestCountsAndReset(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Zone: testZone, Behaviours: map[string]Behaviour{"broken.test": Servfail()}})

	mustExchange(t, "udp", s.Addr(), "mail.test", dns.TypeMX)
	mustExchange(t, "tcp", s.Addr(), "Mail.Test.", dns.TypeMX)
	mustExchange(t, "udp", s.Addr(), "mail.test", dns.TypeA)
	mustExchange(t, "udp", s.Addr(), "broken.test", dns.TypeTXT)
	mustExchange(t, "udp", s.Addr(), "nowhere.example", dns.TypeA)

	tests := []struct {
		name  string
		qname string
		qtype uint16
		want  int
	}{
		{"MX over both transports", "mail.test.", dns.TypeMX, 2},
		{"A", "MAIL.test", dns.TypeA, 1},
		{"failed queries count", "broken.test", dns.TypeTXT, 1},
		{"refused queries count", "nowhere.example", dns.TypeA, 1},
		{"never asked", "mail.test", dns.TypeAAAA, 0},
	}
	for _, tt := range tests {
		if got := s.Queries(tt.qname, tt.qtype); got != tt.want {
			t.Errorf("%s: Queries(%q, %s): got %d, want %d", tt.name, tt.qname, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}
	if got, want := s.TotalQueries(), 5; got != want {
		t.Errorf("TotalQueries: got %d, want %d", got, want)
	}
	if got, want := s.TCPQueries(), 1; got != want {
		t.Errorf("TCPQueries: got %d, want %d", got, want)
	}

	s.ResetCounts()
	if got := s.TotalQueries(); got != 0 {
		t.Errorf("TotalQueries after reset: got %d, want 0", got)
	}
	if got := s.Queries("mail.test", dns.TypeMX); got != 0 {
		t.Errorf("Queries after reset: got %d, want 0", got)
	}
}

func TestAddZoneAndSetBehaviour(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Zone: testZone})

	if in := mustExchange(t, "udp", s.Addr(), "new.test", dns.TypeA); in.Rcode != dns.RcodeNameError {
		t.Fatalf("before AddZone: got %s, want NXDOMAIN", dns.RcodeToString[in.Rcode])
	}
	if err := s.AddZone("new.test. 60 IN A 192.0.2.50\nother.example. SOA ns.other.example. h.other.example. 1 1 1 1 30\n"); err != nil {
		t.Fatalf("AddZone: %v", err)
	}
	if in := mustExchange(t, "udp", s.Addr(), "new.test", dns.TypeA); len(in.Answer) != 1 {
		t.Errorf("after AddZone: got %d answers, want 1", len(in.Answer))
	}
	if in := mustExchange(t, "udp", s.Addr(), "x.other.example", dns.TypeA); in.Rcode != dns.RcodeNameError {
		t.Errorf("new zone: got %s, want NXDOMAIN", dns.RcodeToString[in.Rcode])
	}

	s.SetBehaviour("new.test", Servfail())
	if in := mustExchange(t, "udp", s.Addr(), "new.test", dns.TypeA); in.Rcode != dns.RcodeServerFailure {
		t.Errorf("after SetBehaviour: got %s, want SERVFAIL", dns.RcodeToString[in.Rcode])
	}
	s.SetBehaviour("new.test", Behaviour{})
	if in := mustExchange(t, "udp", s.Addr(), "new.test", dns.TypeA); in.Rcode != dns.RcodeSuccess {
		t.Errorf("after clearing the behaviour: got %s, want NOERROR", dns.RcodeToString[in.Rcode])
	}
}

func TestBadZone(t *testing.T) {
	t.Parallel()
	if s, err := New(Config{Zone: "mail.test. IN MX not-a-number\n"}); err == nil {
		_ = s.Close()
		t.Fatalf("New with a bad zone: got no error, want one")
	}
	s := Start(t, Config{Zone: testZone})
	if err := s.AddZone("x.test. IN BOGUS 1\n"); err == nil {
		t.Errorf("AddZone with a bad record: got no error, want one")
	}
}

func TestLatencyHoldAndRelease(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Zone: testZone, Latency: time.Hour})

	type result struct {
		in  *dns.Msg
		err error
	}
	done := make(chan result, 1)
	go func() {
		c := &dns.Client{Net: "udp", Timeout: time.Minute}
		m := new(dns.Msg)
		m.SetQuestion("mail.test.", dns.TypeMX)
		in, _, err := c.Exchange(m, s.Addr())
		done <- result{in, err}
	}()

	deadline := time.Now().Add(hangBound)
	for s.TotalQueries() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("query did not arrive within %v", hangBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case r := <-done:
		t.Fatalf("got an answer while held (%v, %v), want none", r.in, r.err)
	default:
	}

	s.SetLatency(0)
	select {
	case r := <-done:
		if r.err != nil || len(r.in.Answer) != 2 {
			t.Errorf("after release: got %v, %v, want 2 answers", r.in, r.err)
		}
	case <-time.After(hangBound):
		t.Fatalf("no answer within %v of releasing", hangBound)
	}
}

func TestCloseReleasesHeldAnswers(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Zone: testZone, Latency: time.Hour})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	go func() {
		c := &dns.Client{Net: "tcp", Timeout: time.Minute}
		m := new(dns.Msg)
		m.SetQuestion("mail.test.", dns.TypeMX)
		_, _, _ = c.Exchange(m, s.Addr())
	}()
	deadline := time.Now().Add(hangBound)
	for s.TotalQueries() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(hangBound):
		t.Fatalf("Close did not return within %v", hangBound)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSelfAndParents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want []string
	}{
		{"a.example.test.", []string{"a.example.test.", "example.test.", "test.", "."}},
		{"test.", []string{"test.", "."}},
		{".", []string{"."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for n := range selfAndParents(tt.name) {
				got = append(got, n)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("selfAndParents(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestFailFirst(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{
		Zone: testZone,
		Behaviours: map[string]Behaviour{
			"mail.test": FailFirst(Servfail(), 2),
			"txt.test":  FailFirst(Blackhole(), 1),
		},
	})

	// SERVFAIL twice per name and type, then the records.
	for i, want := range []int{dns.RcodeServerFailure, dns.RcodeServerFailure, dns.RcodeSuccess, dns.RcodeSuccess} {
		if in := mustExchange(t, "udp", s.Addr(), "mail.test", dns.TypeMX); in.Rcode != want {
			t.Errorf("MX query %d: got %s, want %s", i+1, dns.RcodeToString[in.Rcode], dns.RcodeToString[want])
		}
	}
	// Counted per type: the first A query fails too.
	if in := mustExchange(t, "udp", s.Addr(), "mail.test", dns.TypeA); in.Rcode != dns.RcodeServerFailure {
		t.Errorf("first A query: got %s, want SERVFAIL", dns.RcodeToString[in.Rcode])
	}
	// A lost first answer, then the answer; ResetCounts does not bring
	// the failure back.
	in, err := exchange(t, "udp", s.Addr(), "txt.test", dns.TypeTXT, 200*time.Millisecond)
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("first TXT query: got answer %v and error %v, want a timeout", in, err)
	}
	s.ResetCounts()
	if in := mustExchange(t, "udp", s.Addr(), "txt.test", dns.TypeTXT); in.Rcode != dns.RcodeSuccess || len(in.Answer) != 1 {
		t.Errorf("second TXT query: got %s with %d answers, want NOERROR with 1", dns.RcodeToString[in.Rcode], len(in.Answer))
	}
}
