package validate

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Resolver asks one DNS question. It is the seam the checks go through; the
// cache and tests wrap or replace it.
//
// Query returns the answer message whenever a server answered, whatever its
// Rcode (NXDOMAIN is an answer, and so is a SERVFAIL nobody could better),
// and an error only when no server answered at all.
type Resolver interface {
	Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error)
}

// ednsBufferSize is the UDP payload size we advertise with EDNS0 (RFC 6891).
// 1232 bytes fits the IPv6 minimum MTU without fragmentation, the value DNS
// Flag Day 2020 settled on; larger answers come back truncated and are asked
// again over TCP.
const ednsBufferSize = 1232

// errInvalidName is returned for a name that cannot be put in a DNS question
// (a label over 63 octets, a name over 255); no server is asked.
var errInvalidName = errors.New("invalid domain name")

// DNSResolver asks recursive DNS servers over UDP, falling back to TCP for
// truncated answers, and moves to the next server when one fails. It is safe
// for concurrent use.
//
// Server order: a query starts at the server that last gave a usable answer
// (NOERROR or NXDOMAIN) and tries the others in order after it. So the
// first configured server is used until it fails; after that the one that
// worked stays in front, and a dead server costs one timeout once, not on
// every query. There is no round-robin: the cache in front of the resolver
// already keeps the query rate low.
type DNSResolver struct {
	servers []string
	timeout time.Duration
	dialer  net.Dialer
	// preferred is the index in servers of the server that last answered.
	preferred atomic.Uint32
	// udp keeps UDP sockets for reuse (see udpconns.go).
	udp udpPools
}

var _ Resolver = (*DNSResolver)(nil)

// NewDNSResolver returns a resolver that asks servers ("host:port", tried
// in order) and gives each attempt at most timeout, less when the caller's
// context expires sooner. It fails on an empty list, a malformed address or
// a timeout that is not positive, so a bad configuration stops start-up.
func NewDNSResolver(servers []string, timeout time.Duration) (*DNSResolver, error) {
	if len(servers) == 0 {
		return nil, errors.New("dns resolver: no servers")
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("dns resolver: timeout %v is not positive", timeout)
	}
	for _, s := range servers {
		if err := checkServerAddr(s); err != nil {
			return nil, fmt.Errorf("dns resolver: %w", err)
		}
	}
	return &DNSResolver{
		servers: append([]string(nil), servers...),
		timeout: timeout,
	}, nil
}

// checkServerAddr accepts "host:port" with a non-empty host and a port in
// 1..65535. The host may be a name (a compose service, say); the dialer
// resolves it with the system resolver.
func checkServerAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("server %q: %w", addr, err)
	}
	if host == "" {
		return fmt.Errorf("server %q: missing host", addr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("server %q: port must be 1-65535", addr)
	}
	return nil
}

// SystemServers reads the nameserver lines of a resolv.conf file (normally
// /etc/resolv.conf) and returns them as "host:port". A file without any
// nameserver is an error rather than a silent guess of 127.0.0.1:53, so the
// operator learns at start-up that DNS is not configured.
func SystemServers(path string) ([]string, error) {
	cfg, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("read resolv.conf: %w", err)
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("read resolv.conf %s: no nameserver lines", path)
	}
	servers := make([]string, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		servers = append(servers, net.JoinHostPort(s, cfg.Port))
	}
	return servers, nil
}

// Query asks name/qtype with recursion desired and EDNS0. A UDP query with
// no answer by half its time is sent once more to the same server (see
// exchangeMsgs). It tries the servers in turn (see DNSResolver) when one
// times out, cannot be reached, or answers anything but NOERROR or
// NXDOMAIN; a truncated UDP answer is asked again of the same server over
// TCP. When every server failed, it returns the last SERVFAIL/REFUSED-style
// answer if there was one (so the caller can report the rcode), else an
// error wrapping the last cause.
// A cancelled or expired ctx ends the query at once with ctx's error.
func (r *DNSResolver) Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	q, err := question(ctx, name, qtype)
	if err != nil {
		return nil, err
	}
	return r.ask(ctx, q, 0, nil, nil)
}

// question is the message Query sends for name and qtype, or the error of
// a name that cannot be asked or a ctx already ended.
func question(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	fqdn := dns.Fqdn(name)
	if _, ok := dns.IsDomainName(fqdn); !ok {
		return nil, fmt.Errorf("dns query %q: %w", name, errInvalidName)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dns query %s %s: %w", fqdn, dns.TypeToString[qtype], err)
	}
	q := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Id: queryID(), RecursionDesired: true},
		Question: []dns.Question{{Name: fqdn, Qtype: qtype, Qclass: dns.ClassINET}},
	}
	q.SetEdns0(ednsBufferSize, false)
	return q, nil
}

// ask is Query's walk over the servers from the preferred one, leaving
// out the first skip of them (already asked, with lastMsg and lastErr the
// outcome).
func (r *DNSResolver) ask(ctx context.Context, q *dns.Msg, skip int, lastMsg *dns.Msg, lastErr error) (*dns.Msg, error) {
	fqdn, qtype := q.Question[0].Name, q.Question[0].Qtype
	n := len(r.servers)
	start := int(r.preferred.Load()) % n
	for i := skip; i < n; i++ {
		idx := (start + i) % n
		server := r.servers[idx]
		in, err := r.exchange(ctx, q, server)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, fmt.Errorf("dns query %s %s: %w", fqdn, dns.TypeToString[qtype], ctxErr)
			}
			lastErr = fmt.Errorf("%s: %w", server, err)
			continue
		}
		if in.Rcode == dns.RcodeSuccess || in.Rcode == dns.RcodeNameError {
			r.preferred.Store(uint32(idx))
			return in, nil
		}
		// SERVFAIL, REFUSED and the rest: another server may do better.
		lastMsg = in
		lastErr = fmt.Errorf("%s: %s", server, dns.RcodeToString[in.Rcode])
	}
	if lastMsg != nil {
		return lastMsg, nil
	}
	return nil, fmt.Errorf("dns query %s %s: %w", fqdn, dns.TypeToString[qtype], lastErr)
}

// exchange asks one server over UDP, then over TCP if the answer was
// truncated (RFC 1035 §4.2.1, RFC 7766: the full answer is only to be had
// over TCP).
func (r *DNSResolver) exchange(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	in, err := r.exchangeOver(ctx, "udp", q, server)
	if err != nil {
		return nil, err
	}
	if !in.Truncated {
		return in, nil
	}
	in, err = r.exchangeOver(ctx, "tcp", q, server)
	if err != nil {
		return nil, fmt.Errorf("tcp after truncation: %w", err)
	}
	return in, nil
}

// exchangeOver sends q to server over network and reads the answer, within
// r.timeout and ctx's deadline. miekg/dns' own ExchangeContext only reads
// the context's deadline, so a cancel without a deadline would go unnoticed
// until the timeout; here a cancel moves the connection's deadline into the
// past, which ends the read at once.
func (r *DNSResolver) exchangeOver(ctx context.Context, network string, q *dns.Msg, server string) (*dns.Msg, error) {
	got, err := r.exchangeMsgs(ctx, network, []*dns.Msg{q}, server)
	if got[0] != nil {
		return got[0], nil
	}
	return nil, err
}

// sameQuestion reports whether an answer is for the question asked.
func sameQuestion(in, q *dns.Msg) bool {
	if len(in.Question) != 1 {
		return false
	}
	a, b := in.Question[0], q.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && dns.CanonicalName(a.Name) == dns.CanonicalName(b.Name)
}

// open returns a connection to server over network and done, to call once
// the exchange is over: done(true) lets a UDP socket serve another query,
// done(false) closes it. TCP connections are dialled per query (they are
// only for truncated answers).
func (r *DNSResolver) open(ctx context.Context, network, server string) (*dns.Conn, func(reuse bool), error) {
	if network == "udp" {
		pc, err := r.udp.get(ctx, &r.dialer, server)
		if err != nil {
			return nil, nil, err
		}
		return pc.Conn, func(reuse bool) { r.udp.put(server, pc, reuse) }, nil
	}
	conn, err := r.dialer.DialContext(ctx, network, server)
	if err != nil {
		return nil, nil, err
	}
	co := &dns.Conn{Conn: conn, UDPSize: ednsBufferSize}
	return co, func(bool) { _ = co.Close() }, nil
}

// ids draws query IDs. They must be unpredictable (RFC 5452: a guessed ID
// lets an off-path attacker forge an answer); ChaCha8 is a
// cryptographically strong generator, seeded once from crypto/rand, and
// costs nanoseconds where miekg/dns' own dns.Id reads crypto/rand for
// every query (a system call each, 6 % of a cold bulk job's CPU).
var ids = struct {
	sync.Mutex
	*mathrand.ChaCha8
}{ChaCha8: newChaCha8()}

func newChaCha8() *mathrand.ChaCha8 {
	var seed [32]byte
	_, _ = cryptorand.Read(seed[:]) // never fails (crypto/rand panics instead)
	return mathrand.NewChaCha8(seed)
}

// queryID returns a random DNS message ID.
func queryID() uint16 {
	ids.Lock()
	defer ids.Unlock()
	return uint16(ids.Uint64())
}
