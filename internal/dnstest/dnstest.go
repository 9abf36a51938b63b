// Package dnstest runs a real DNS server on loopback, answering from zone
// file text, so tests and benchmarks exercise the real resolver code over
// real UDP and TCP instead of a mock.
//
// The server plays the part of a recursive resolver that already knows the
// answers: it sets RA and AA, follows CNAME chains inside the loaded data,
// and puts the zone's SOA in the authority section of negative answers so
// that negative TTLs can be tested. Failures (SERVFAIL, REFUSED, dropped
// queries, truncation) are driven by data too, through [Behaviour]s keyed by
// name, so a test reads as a table of names and what they do; [FailFirst]
// makes one transient (only the first queries of a name fail or are lost).
//
// Answering rules, in order:
//   - a [Behaviour] on the name or on one of its parents applies first;
//   - records of the asked type at the name are answered (NOERROR);
//   - a CNAME at the name is added to the answer and its target followed;
//   - a name that holds records, or has names below it, answers NOERROR
//     with no records (NODATA) and the zone's SOA in authority;
//   - a name inside a zone (at or below the owner of an SOA record) that
//     does not exist answers NXDOMAIN with that SOA in authority;
//   - any other name is outside every loaded zone: REFUSED.
//
// The core API does not import testing, so a benchmark program can use it;
// [Start] is the one helper for tests.
package dnstest

import (
	"errors"
	"fmt"
	"iter"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// udpBufferSize is the EDNS0 buffer the server advertises and the largest UDP
// answer it sends (the DNS Flag Day 2020 value).
const udpBufferSize = 1232

// maxChain bounds CNAME following, so a loop in test data cannot spin.
const maxChain = 8

// Behaviour makes a name (and every name below it) misbehave, so tests can
// reach the failure paths of a resolver. The zero Behaviour answers normally.
type Behaviour struct {
	// Rcode, when non-zero, is the response code sent with no records
	// (dns.RcodeServerFailure, dns.RcodeRefused, ...).
	Rcode int
	// Blackhole drops the query on UDP and TCP: the client sees a timeout.
	Blackhole bool
	// Truncate answers over UDP with no records and TC=1; TCP answers in
	// full. It proves a client retries over TCP.
	Truncate bool
	// Qtype, when non-zero, limits the behaviour to that query type; other
	// types are answered normally (e.g. only TXT fails).
	Qtype uint16
	// First, when non-zero, limits the behaviour to the first First queries
	// of each name and type it covers; later ones are answered normally.
	// With Blackhole it is a lost UDP answer, with Rcode a transient
	// failure, as a busy resolver gives them. Queries are counted per asked
	// name and type from the server's start (ResetCounts does not reset
	// them).
	First int
}

// FailFirst makes the first n queries of each name and type fail as b
// does, and answers the later ones normally.
func FailFirst(b Behaviour, n int) Behaviour {
	b.First = n
	return b
}

// Servfail answers SERVFAIL for every type.
func Servfail() Behaviour { return Behaviour{Rcode: dns.RcodeServerFailure} }

// Refused answers REFUSED for every type.
func Refused() Behaviour { return Behaviour{Rcode: dns.RcodeRefused} }

// Blackhole never answers.
func Blackhole() Behaviour { return Behaviour{Blackhole: true} }

// Truncate sets TC on UDP answers so that only TCP gets the records.
func Truncate() Behaviour { return Behaviour{Truncate: true} }

// isZero reports whether b changes nothing.
func (b Behaviour) isZero() bool {
	return b.Rcode == 0 && !b.Blackhole && !b.Truncate
}

// Config is what a Server starts with.
type Config struct {
	// Zone is zone file text in RFC 1035 master format, read with
	// dns.NewZoneParser. The initial origin is the root, so names may be
	// written without the trailing dot; $ORIGIN and $TTL are allowed and the
	// default TTL is 3600. Every SOA record makes its owner a zone apex.
	Zone string
	// Latency is added before every answer; see Server.SetLatency.
	Latency time.Duration
	// Behaviours maps a name (with or without the trailing dot, any case) to
	// how it and every name below it misbehave. The nearest enclosing name
	// whose behaviour matches the query type wins.
	Behaviours map[string]Behaviour
}

// queryKey counts queries per name and type.
type queryKey struct {
	name  string
	qtype uint16
}

// Server is a DNS server on 127.0.0.1, UDP and TCP on the same port. It is
// safe for concurrent use; Close it when done.
type Server struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server
	// done is closed by Close so that answers waiting on latency give up.
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	serveErrs chan error

	mu sync.RWMutex
	// records holds every record by canonical owner name.
	records map[string][]dns.RR
	// exists holds every owner name and all of its parents up to the
	// root, so that empty non-terminals answer NODATA, not NXDOMAIN.
	exists map[string]bool
	// soas holds the SOA record of each zone apex.
	soas       map[string]*dns.SOA
	behaviours map[string]Behaviour
	latency    time.Duration
	// latencyChanged is closed and replaced by SetLatency, waking answers
	// that wait so they measure against the new latency.
	latencyChanged chan struct{}
	counts         map[queryKey]int
	// seen counts queries per name and type for Behaviour.First.
	seen     map[queryKey]int
	total    int
	tcpTotal int
}

// New parses cfg.Zone and starts answering on 127.0.0.1 with UDP and TCP on
// the same, randomly chosen port.
func New(cfg Config) (*Server, error) {
	s := &Server{
		done:           make(chan struct{}),
		serveErrs:      make(chan error, 2),
		records:        make(map[string][]dns.RR),
		exists:         make(map[string]bool),
		soas:           make(map[string]*dns.SOA),
		behaviours:     make(map[string]Behaviour),
		latency:        cfg.Latency,
		latencyChanged: make(chan struct{}),
		counts:         make(map[queryKey]int),
		seen:           make(map[queryKey]int),
	}
	if err := s.AddZone(cfg.Zone); err != nil {
		return nil, err
	}
	for name, b := range cfg.Behaviours {
		s.SetBehaviour(name, b)
	}

	pc, ln, err := listenSamePort()
	if err != nil {
		return nil, err
	}
	s.addr = pc.LocalAddr().String()

	udpStarted := make(chan struct{})
	tcpStarted := make(chan struct{})
	s.udp = &dns.Server{
		PacketConn:        pc,
		Handler:           dns.HandlerFunc(s.serveDNS),
		NotifyStartedFunc: func() { close(udpStarted) },
	}
	s.tcp = &dns.Server{
		Listener:          ln,
		Handler:           dns.HandlerFunc(s.serveDNS),
		NotifyStartedFunc: func() { close(tcpStarted) },
	}
	go func() { s.serveErrs <- s.udp.ActivateAndServe() }()
	go func() { s.serveErrs <- s.tcp.ActivateAndServe() }()

	for _, started := range []chan struct{}{udpStarted, tcpStarted} {
		select {
		case <-started:
		case err := <-s.serveErrs:
			_ = pc.Close()
			_ = ln.Close()
			return nil, fmt.Errorf("dnstest: serve: %w", err)
		}
	}
	return s, nil
}

// listenSamePort opens UDP on a free loopback port and TCP on the same port,
// trying again when another process holds the TCP side of that port.
func listenSamePort() (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("dnstest: listen udp: %w", err)
		}
		// A real resolver takes bursts: a bulk job or the bench's DNS floor
		// sends over a thousand questions at once, and the default socket
		// buffer (about 200 KB) drops part of them, each costing the
		// client a timeout. Ask for 4 MiB (the kernel caps it at
		// net.core.rmem_max); failing to get it is no error.
		if uc, ok := pc.(*net.UDPConn); ok {
			_ = uc.SetReadBuffer(4 << 20)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		lastErr = err
		_ = pc.Close()
	}
	return nil, nil, fmt.Errorf("dnstest: listen tcp on the udp port: %w", lastErr)
}

// Addr is the server's "127.0.0.1:port", the same for UDP and TCP.
func (s *Server) Addr() string { return s.addr }

// Close stops both listeners, releases answers still waiting on latency and
// waits for the handlers to finish. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		errU := s.udp.Shutdown()
		errT := s.tcp.Shutdown()
		// Both serve loops have returned once Shutdown has; drain their
		// results so that a serve error is reported.
		var errs []error
		for range 2 {
			if err := <-s.serveErrs; err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errU, errT, errors.Join(errs...)); err != nil {
			s.closeErr = fmt.Errorf("dnstest: close: %w", err)
		}
	})
	return s.closeErr
}

// SetLatency changes the delay before every answer. Answers already waiting
// are re-timed against the new value, so a test can hold every answer with
// a long latency, observe the queries arrive, then release them with 0.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
	close(s.latencyChanged)
	s.latencyChanged = make(chan struct{})
}

// SetBehaviour makes name and every name below it misbehave; the zero
// Behaviour restores normal answers. Tests use it to change a name's
// behaviour between two lookups (a transient SERVFAIL, for instance).
func (s *Server) SetBehaviour(name string, b Behaviour) {
	key := canonical(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.isZero() {
		delete(s.behaviours, key)
		return
	}
	s.behaviours[key] = b
}

// Queries is how many queries for name and qtype arrived, over UDP and TCP,
// whatever the answer (dropped queries count too).
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.counts[queryKey{canonical(name), qtype}]
}

// TotalQueries is how many queries arrived, over UDP and TCP.
func (s *Server) TotalQueries() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.total
}

// TCPQueries is how many queries arrived over TCP, which proves a client
// fell back to TCP after a truncated answer.
func (s *Server) TCPQueries() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tcpTotal
}

// ResetCounts sets every query counter back to zero.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.counts)
	s.total = 0
	s.tcpTotal = 0
}

// AddZone parses zone file text (see Config.Zone) and adds its records to
// what the server answers. It may be called while the server runs. On a
// parse error nothing is added.
func (s *Server) AddZone(text string) error {
	zp := dns.NewZoneParser(strings.NewReader(text), ".", "")
	zp.SetDefaultTTL(3600)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("dnstest: parse zone: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		name := canonical(rr.Header().Name)
		rr.Header().Name = name
		if soa, ok := rr.(*dns.SOA); ok {
			s.soas[name] = soa
		}
		s.records[name] = append(s.records[name], rr)
		for n := range selfAndParents(name) {
			s.exists[n] = true
		}
	}
	return nil
}

// canonical lower-cases name and makes it fully qualified, the form every
// map of the server is keyed by.
func canonical(name string) string {
	return dns.CanonicalName(name)
}

// serveDNS answers one query; it runs on the miekg/dns server goroutines
// for both UDP and TCP.
func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	_, isTCP := w.RemoteAddr().(*net.TCPAddr)
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	qname := canonical(q.Name)

	s.mu.Lock()
	s.counts[queryKey{qname, q.Qtype}]++
	s.seen[queryKey{qname, q.Qtype}]++
	nth := s.seen[queryKey{qname, q.Qtype}]
	s.total++
	if isTCP {
		s.tcpTotal++
	}
	s.mu.Unlock()
	arrived := time.Now()

	resp, behaviour := s.answer(req, qname, q.Qtype, nth)
	if behaviour.Blackhole {
		return
	}
	if !s.wait(arrived) {
		return
	}

	if !isTCP && behaviour.Truncate {
		resp.Answer, resp.Ns, resp.Extra = nil, nil, nil
		resp.Truncated = true
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(udpBufferSize, false)
		size = int(min(opt.UDPSize(), udpBufferSize))
	}
	if !isTCP {
		// An answer larger than the client's buffer loses records and
		// gets TC=1, as from a real server (RFC 6891 §7).
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp)
}

// wait holds an answer until the configured latency has passed since the
// query arrived. It reports false when the server is closing.
func (s *Server) wait(arrived time.Time) bool {
	for {
		s.mu.RLock()
		latency, changed := s.latency, s.latencyChanged
		s.mu.RUnlock()
		left := time.Until(arrived.Add(latency))
		if left <= 0 {
			return true
		}
		timer := time.NewTimer(left)
		select {
		case <-timer.C:
		case <-changed:
			timer.Stop()
		case <-s.done:
			timer.Stop()
			return false
		}
	}
}

// answer builds the response for qname/qtype from the records and the
// behaviours, and returns the behaviour that applied. nth counts the
// queries for qname and qtype so far, this one included.
func (s *Server) answer(req *dns.Msg, qname string, qtype uint16, nth int) (*dns.Msg, Behaviour) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = true

	s.mu.RLock()
	defer s.mu.RUnlock()

	if b, ok := s.behaviourFor(qname, qtype); ok && (b.First == 0 || nth <= b.First) {
		if b.Rcode != 0 {
			resp.Rcode = b.Rcode
			return resp, b
		}
		if b.Blackhole {
			return resp, b
		}
		// Truncate: build the full answer; serveDNS empties it on UDP.
		s.resolve(resp, qname, qtype)
		return resp, b
	}
	s.resolve(resp, qname, qtype)
	return resp, Behaviour{}
}

// behaviourFor finds the behaviour of the nearest enclosing name that
// applies to qtype. The caller holds s.mu.
func (s *Server) behaviourFor(qname string, qtype uint16) (Behaviour, bool) {
	if len(s.behaviours) == 0 {
		return Behaviour{}, false
	}
	for n := range selfAndParents(qname) {
		if b, ok := s.behaviours[n]; ok && (b.Qtype == 0 || b.Qtype == qtype) {
			return b, true
		}
	}
	return Behaviour{}, false
}

// resolve fills resp from the records, following CNAMEs the way a recursive
// resolver returns them. The caller holds s.mu.
func (s *Server) resolve(resp *dns.Msg, qname string, qtype uint16) {
	name := qname
	for step := 0; step < maxChain; step++ {
		rrs := s.records[name]
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			switch {
			case rr.Header().Rrtype == qtype || qtype == dns.TypeANY:
				// Copy: packing writes into the record's header, and
				// answers are packed concurrently.
				resp.Answer = append(resp.Answer, dns.Copy(rr))
				found = true
			case rr.Header().Rrtype == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if found {
			resp.Authoritative = s.zoneOf(name) != nil
			return
		}
		if cname != nil {
			resp.Answer = append(resp.Answer, dns.Copy(cname))
			name = canonical(cname.Target)
			continue
		}
		soa := s.zoneOf(name)
		switch {
		case s.exists[name]:
			// NODATA (RFC 2308 §2.2).
		case soa != nil:
			resp.Rcode = dns.RcodeNameError
		case step == 0:
			resp.Rcode = dns.RcodeRefused
			return
		default:
			// A CNAME pointing outside the loaded data: return the chain
			// so far, as a resolver that could not go further would.
			return
		}
		if soa != nil {
			resp.Authoritative = true
			resp.Ns = append(resp.Ns, dns.Copy(soa))
		}
		return
	}
	// A CNAME loop or an over-long chain: a resolver gives up with SERVFAIL.
	resp.Answer = nil
	resp.Rcode = dns.RcodeServerFailure
}

// zoneOf returns the SOA of the nearest zone apex at or above name, or nil.
// The caller holds s.mu.
func (s *Server) zoneOf(name string) *dns.SOA {
	for n := range selfAndParents(name) {
		if soa, ok := s.soas[n]; ok {
			return soa
		}
	}
	return nil
}

// selfAndParents yields a canonical name, then each parent up to and
// including the root: "a.example." "example." ".".
func selfAndParents(name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		n := name
		for {
			if !yield(n) || n == "." {
				return
			}
			off, end := dns.NextLabel(n, 0)
			if end {
				n = "."
			} else {
				n = n[off:]
			}
		}
	}
}
