// Package smtptest runs a real SMTP server (emersion/go-smtp) on loopback
// for tests and benchmarks of mailbox verification: mailboxes, full
// mailboxes, catch-all domains, greylisting on first contact, a slow banner,
// a 554 banner, STARTTLS with a self-signed certificate, a block after MAIL
// FROM, a connection dropped after RCPT TO, and a latency added to every
// reply. It counts sessions, RCPT TO per session and DATA commands, so a
// test can hold the prober to its promises.
//
// Every behaviour that applies before the recipient is known (banner, TLS)
// belongs to a server; to give several behaviours one port, as the prober
// dials every MX on the same port, start servers on different loopback
// addresses (127.0.0.1, 127.0.0.2, ...) with [StartGroup].
//
// The core API does not import testing, so a benchmark program can use it.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Config describes one server. Addresses and domains are compared in lower
// case.
type Config struct {
	// Addr is the "ip:port" to listen on; default 127.0.0.1:0.
	Addr string
	// Mailboxes are the addresses that exist.
	Mailboxes []string
	// Full are addresses whose mailbox is full (452 4.2.2).
	Full []string
	// CatchAll domains accept every local part.
	CatchAll []string
	// Greylist domains refuse a recipient with 451 4.7.1 until
	// GreylistDelay has passed since it was first asked for.
	Greylist      []string
	GreylistDelay time.Duration
	// DropAfterRcpt domains: the connection is closed right after a RCPT
	// TO for them.
	DropAfterRcpt []string
	// TLS offers STARTTLS with a self-signed certificate.
	TLS bool
	// BannerDelay holds back the banner.
	BannerDelay time.Duration
	// Banner554 answers every connection with a 554 banner and closes.
	Banner554 bool
	// BlockMail answers MAIL FROM with 554 5.7.1.
	BlockMail bool
	// Latency is added before every reply.
	Latency time.Duration
	// NoEHLO plays an old server that knows only HELO: EHLO is answered
	// as an unknown command.
	NoEHLO bool
}

// Server is a running fixture server.
type Server struct {
	cfg  Config
	ln   net.Listener
	srv  *smtp.Server
	addr string

	mu        sync.Mutex
	sessions  int
	rcpts     []int // RCPT TO commands per session, in order of connection
	data      int
	tlsDone   int
	helos     []string
	froms     []string
	firstSeen map[string]time.Time
	wg        sync.WaitGroup
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	s := &Server{cfg: cfg, ln: ln, addr: ln.Addr().String(), firstSeen: map[string]time.Time{}}
	if cfg.Banner554 {
		s.wg.Go(s.refuseAll)
		return s, nil
	}
	srv := smtp.NewServer(s)
	srv.Domain = "mx.fixture.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxRecipients = 200
	if cfg.TLS {
		cert, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	s.srv = srv
	s.wg.Go(func() { _ = srv.Serve(&countingListener{Listener: ln, s: s}) })
	return s, nil
}

// StartGroup starts one server per config on the same port, each on its
// own loopback address (cfgs[i].Addr's host, or 127.0.0.(i+1)). It retries
// with another port when one of the addresses has it taken.
func StartGroup(cfgs []Config) ([]*Server, error) {
	var lastErr error
	for range 20 {
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := probe.Addr().(*net.TCPAddr).Port
		probe.Close()
		var out []*Server
		for i, c := range cfgs {
			host := fmt.Sprintf("127.0.0.%d", i+1)
			if c.Addr != "" {
				host, _, _ = net.SplitHostPort(c.Addr)
			}
			c.Addr = net.JoinHostPort(host, fmt.Sprint(port))
			s, err := Start(c)
			if err != nil {
				lastErr = err
				break
			}
			out = append(out, s)
		}
		if len(out) == len(cfgs) {
			return out, nil
		}
		for _, s := range out {
			s.Close()
		}
	}
	return nil, fmt.Errorf("smtptest: no common port: %w", lastErr)
}

// Addr is the "ip:port" the server listens on.
func (s *Server) Addr() string { return s.addr }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// IP is the address the server listens on.
func (s *Server) IP() string { h, _, _ := net.SplitHostPort(s.addr); return h }

// Close stops the server.
func (s *Server) Close() error {
	var err error
	if s.srv != nil {
		err = s.srv.Close()
	} else {
		err = s.ln.Close()
	}
	s.wg.Wait()
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

// Sessions is the number of connections accepted.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// RcptPerSession is the RCPT TO commands of each session so far.
func (s *Server) RcptPerSession() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.rcpts...)
}

// DataCommands is the number of DATA commands received (a prober must send
// none).
func (s *Server) DataCommands() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// TLSSessions is the number of sessions that ran STARTTLS.
func (s *Server) TLSSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tlsDone
}

// Helos and Froms are the EHLO names and MAIL FROM addresses seen.
func (s *Server) Helos() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.helos...)
}

// Froms is every MAIL FROM address seen, in order.
func (s *Server) Froms() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.froms...)
}

// ResetCounts forgets the counters (not the greylist).
func (s *Server) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions, s.rcpts, s.data, s.tlsDone, s.helos, s.froms = 0, nil, 0, 0, nil, nil
}

// refuseAll answers each connection with a 554 banner.
func (s *Server) refuseAll() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.sessions++
		s.rcpts = append(s.rcpts, 0)
		s.mu.Unlock()
		_, _ = io.WriteString(c, "554 5.7.1 mx.fixture.test no probes from your address\r\n")
		_ = c.Close()
	}
}

// countingListener counts connections and wraps them for latency and the
// banner delay.
type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.mu.Lock()
	l.s.sessions++
	l.s.rcpts = append(l.s.rcpts, 0)
	idx := len(l.s.rcpts) - 1
	l.s.mu.Unlock()
	return &slowConn{Conn: c, latency: l.s.cfg.Latency, first: l.s.cfg.BannerDelay, idx: idx, noEHLO: l.s.cfg.NoEHLO}, nil
}

// slowConn delays every write (one reply each) by latency, the first by
// first too.
type slowConn struct {
	net.Conn
	latency, first time.Duration
	wrote          bool
	idx            int
	noEHLO         bool
}

// Read hides EHLO from the server when noEHLO: it turns the command into
// an unknown one, which go-smtp answers with a 500.
func (c *slowConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.noEHLO && n >= 4 && strings.EqualFold(string(b[:4]), "EHLO") {
		copy(b, "XHLO")
	}
	return n, err
}

func (c *slowConn) Write(b []byte) (int, error) {
	d := c.latency
	if !c.wrote {
		d += c.first
		c.wrote = true
	}
	if d > 0 {
		time.Sleep(d)
	}
	return c.Conn.Write(b)
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	idx := -1
	if sc, ok := c.Conn().(*slowConn); ok {
		idx = sc.idx
	} else if tc, ok := c.Conn().(*tls.Conn); ok {
		if sc, ok := tc.NetConn().(*slowConn); ok {
			idx = sc.idx
		}
		s.mu.Lock()
		s.tlsDone++
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.helos = append(s.helos, c.Hostname())
	s.mu.Unlock()
	return &session{s: s, c: c, idx: idx}, nil
}

type session struct {
	s   *Server
	c   *smtp.Conn
	idx int
}

func (se *session) Reset()        {}
func (se *session) Logout() error { return nil }

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	se.s.mu.Lock()
	se.s.froms = append(se.s.froms, from)
	se.s.mu.Unlock()
	if se.s.cfg.BlockMail {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "your address is on our block list"}
	}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	to = strings.ToLower(to)
	_, domain, _ := strings.Cut(to, "@")
	s := se.s
	s.mu.Lock()
	if se.idx >= 0 && se.idx < len(s.rcpts) {
		s.rcpts[se.idx]++
	}
	greylisted := false
	if has(s.cfg.Greylist, domain) {
		first, seen := s.firstSeen[to]
		if !seen {
			s.firstSeen[to] = time.Now()
			greylisted = true
		} else if time.Since(first) < s.cfg.GreylistDelay {
			greylisted = true
		}
	}
	s.mu.Unlock()
	if has(s.cfg.DropAfterRcpt, domain) {
		_ = se.c.Conn().Close()
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "gone"}
	}
	if greylisted {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1},
			Message: fmt.Sprintf("greylisted, try again in %d seconds", int(s.cfg.GreylistDelay.Seconds()))}
	}
	switch {
	case has(s.cfg.Full, to):
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
	case has(s.cfg.Mailboxes, to), has(s.cfg.CatchAll, domain):
		return nil
	default:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}
}

func (se *session) Data(r io.Reader) error {
	se.s.mu.Lock()
	se.s.data++
	se.s.mu.Unlock()
	_, _ = io.Copy(io.Discard, r)
	return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: "the fixture takes no mail"}
}

func has(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// selfSigned makes a throwaway certificate for STARTTLS.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.fixture.test"},
		DNSNames:     []string{"mx.fixture.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
