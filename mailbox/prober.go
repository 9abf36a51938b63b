// Package mailbox asks a domain's mail exchangers whether they would accept
// a recipient, the way a sender would, and stops before any mail is sent:
// banner, EHLO (or HELO), STARTTLS when offered, MAIL FROM, RCPT TO for each
// address, RSET between batches, QUIT; never DATA. One session carries many
// recipients, so the addresses of one domain cost one connection. A random
// local part is asked first, once per domain, to tell catch-all domains
// (which accept everything) apart.
//
// It is polite by construction: a cap on concurrent sessions per MX host, a
// pause between sessions at a host, and a backoff on 421 and other
// temporary refusals. It is safe by construction: the addresses of MX hosts
// are checked against the outbound-safety rules before dialing, directly or
// through a SOCKS5 proxy (LEADCHECK_SMTP_PROXY).
package mailbox

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/proxy"

	"github.com/leadcheck/leadcheck/internal/safehttp"
)

// Defaults of Config.
const (
	DefaultPort            = 25
	DefaultTimeout         = 10 * time.Second
	DefaultHostConcurrency = 2
	DefaultMaxSessions     = 64
	DefaultHostPause       = 200 * time.Millisecond
	DefaultBatchSize       = 50
	DefaultBackoff         = time.Minute
	maxBackoff             = 15 * time.Minute
	// maxMXTried bounds the exchangers tried for one domain; a domain with
	// twenty MX records that all refuse is not worth twenty connections.
	maxMXTried = 3
	// maxHosts bounds the per-host table; idle entries go first.
	maxHosts = 10_000
)

// Config shapes a Prober. Zero values get the defaults.
type Config struct {
	// Port of the mail exchangers. Default 25; tests use a loopback port.
	Port int
	// HELO is the name sent with EHLO; it should match the reverse DNS of
	// the sending IP. Default "localhost".
	HELO string
	// From is the MAIL FROM address; empty sends the null reverse path <>.
	From string
	// Timeout bounds the connection and each command. Default 10s.
	Timeout time.Duration
	// Proxy is socks5://[user:pass@]host:port to reach port 25 through.
	Proxy string
	// AllowPrivate lets sessions reach loopback and private addresses (tests
	// only; LEADCHECK_ALLOW_PRIVATE_NETWORKS).
	AllowPrivate bool
	// HostConcurrency caps the sessions open at once per MX host. Default 2.
	HostConcurrency int
	// MaxSessions caps the sessions open at once in all, so a flood of
	// requests for distinct domains cannot hold unbounded connections.
	// Default 64.
	MaxSessions int
	// HostPause is the least time between the starts of two sessions at one
	// MX host. Default 200ms.
	HostPause time.Duration
	// BatchSize is how many RCPT TO one transaction carries before RSET
	// (RFC 5321 promises at least 100). Default 50.
	BatchSize int
	// Backoff is how long a host that answered 421 or refused a session
	// with another temporary code is left alone; it doubles on each repeat,
	// up to 15m. Default 1m.
	Backoff time.Duration
	// DNSServers resolve MX host names ("host:port"); empty: the system's.
	DNSServers []string
	// Logger gets one line per failed session, without addresses.
	Logger *slog.Logger
}

// Status is what a mail exchanger said about one recipient.
type Status string

// The statuses. Only NotFound is definite bad news about an address.
const (
	Accepted    Status = "accepted"    // 250/251 to RCPT TO
	NotFound    Status = "not_found"   // 550/551/553 meaning no such user
	Full        Status = "full"        // 552, or 452 with 4.2.2
	Temporary   Status = "temporary"   // any other 4xx: greylisting, load
	Unavailable Status = "unavailable" // blocked, refused, timed out, malformed
)

// Answer is the outcome for one address.
type Answer struct {
	Status   Status
	Code     int    // the RCPT TO reply code; 0 when none was read
	Enhanced string // e.g. "5.1.1"; "" when not sent
	Host     string // the MX host that answered or was last tried
	// Detail says why the answer is not a verdict (no address in it).
	Detail string
	// RetryAfter is the wait a greylisting server asked for, when Temporary.
	RetryAfter time.Duration
}

// Report is the outcome of probing one domain.
type Report struct {
	Answers []Answer // one per local part, in order
	// CatchAll is true when the random local part was accepted, false when
	// it was refused as unknown, nil when it was not asked or not decided.
	CatchAll *bool
	Host     string
	Sessions int // connections opened
}

// Prober runs probes. It is safe for concurrent use.
type Prober struct {
	cfg      Config
	resolver *net.Resolver
	dialer   proxy.ContextDialer
	logger   *slog.Logger
	now      func() time.Time
	secret   [32]byte

	sessions chan struct{} // MaxSessions slots

	mu    sync.Mutex
	hosts map[string]*hostState
}

// hostState is what a prober keeps per MX host: a semaphore, when the last
// session started, and a backoff.
type hostState struct {
	sem       chan struct{}
	lastStart time.Time
	notBefore time.Time
	backoff   time.Duration
	users     int
}

// New returns a Prober, or an error naming the setting that is wrong.
func New(cfg Config) (*Prober, error) {
	cfg.Port = cmp.Or(cfg.Port, DefaultPort)
	cfg.HELO = cmp.Or(cfg.HELO, "localhost")
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.HostConcurrency = cmp.Or(cfg.HostConcurrency, DefaultHostConcurrency)
	cfg.BatchSize = cmp.Or(cfg.BatchSize, DefaultBatchSize)
	cfg.MaxSessions = cmp.Or(cfg.MaxSessions, DefaultMaxSessions)
	cfg.Backoff = cmp.Or(cfg.Backoff, DefaultBackoff)
	if cfg.HostPause == 0 {
		cfg.HostPause = DefaultHostPause
	}
	if cfg.HostPause < 0 {
		cfg.HostPause = 0
	}
	if strings.ContainsAny(cfg.HELO+cfg.From, " \r\n<>") {
		return nil, errors.New("the HELO name and the MAIL FROM address may hold no spaces, line breaks or angle brackets")
	}
	p := &Prober{
		cfg:      cfg,
		resolver: safehttp.NewResolver(cfg.DNSServers),
		logger:   cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		now:      time.Now,
		hosts:    map[string]*hostState{},
		sessions: make(chan struct{}, cfg.MaxSessions),
	}
	_, _ = rand.Read(p.secret[:])
	direct := &net.Dialer{Timeout: cfg.Timeout}
	p.dialer = direct
	if cfg.Proxy != "" {
		u, err := url.Parse(cfg.Proxy)
		if err != nil || u.Scheme != "socks5" || u.Host == "" {
			return nil, fmt.Errorf("proxy %q is not socks5://host:port", cfg.Proxy)
		}
		var auth *proxy.Auth
		if u.User != nil {
			pass, _ := u.User.Password()
			auth = &proxy.Auth{User: u.User.Username(), Password: pass}
		}
		d, err := proxy.SOCKS5("tcp", u.Host, auth, direct)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		cd, ok := d.(proxy.ContextDialer)
		if !ok {
			return nil, errors.New("proxy: the SOCKS5 dialer cannot take a context")
		}
		p.dialer = cd
	}
	return p, nil
}

// Probe asks the mail exchangers of domain (ASCII) about each local part.
// mx lists the MX host names in preference order; empty means the implicit
// MX, the domain itself (RFC 5321 §5.1). catchAll, when not nil, is what is
// already known about the domain, and the random probe is skipped. Every
// answer is given: what could not be asked is Unavailable, with why.
func (p *Prober) Probe(ctx context.Context, domain string, mx []string, locals []string, catchAll *bool) Report {
	rep := Report{Answers: make([]Answer, len(locals)), CatchAll: catchAll}
	if len(mx) == 0 {
		mx = []string{domain}
	}
	fail := func(detail, host string) Report {
		for i := range rep.Answers {
			if rep.Answers[i].Status == "" {
				rep.Answers[i] = Answer{Status: Unavailable, Detail: detail, Host: host}
			}
		}
		return rep
	}
	if len(locals) == 0 && catchAll != nil {
		return rep
	}
	detail, last := "no mail exchanger could be asked", ""
	for _, host := range mx[:min(len(mx), maxMXTried)] {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
		last = host
		done, why := p.probeHost(ctx, &rep, domain, host, locals)
		if done {
			rep.Host = host
			return fail(why, host)
		}
		detail = why
		if ctx.Err() != nil {
			break
		}
	}
	return fail(detail, last)
}

// probeHost runs the sessions at one MX host. done is false when the host
// could not be reached at all, so the next one should be tried; why says
// what went wrong for the answers it could not give.
func (p *Prober) probeHost(ctx context.Context, rep *Report, domain, host string, locals []string) (done bool, why string) {
	addrs, err := p.addresses(ctx, host)
	if err != nil {
		return false, err.Error()
	}
	h, err := p.acquire(ctx, host)
	if err != nil {
		return true, err.Error()
	}
	defer p.release(host, h)
	select {
	case p.sessions <- struct{}{}:
		defer func() { <-p.sessions }()
	case <-ctx.Done():
		return true, "the time budget ended while waiting for a free SMTP session"
	}
	var conn net.Conn
	for _, a := range addrs {
		c, err := p.dialer.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), strconv.Itoa(p.cfg.Port)))
		if err == nil {
			conn = c
			break
		}
		why = "could not connect to the mail exchanger"
		if p.cfg.Proxy != "" {
			why = "could not connect through the SMTP proxy"
		}
		if budgetOver(ctx) {
			why = "the time budget ended before the mail exchanger answered"
		}
	}
	if conn == nil {
		return false, why
	}
	rep.Sessions++
	s := newSession(conn, host, p.cfg.Timeout)
	stop := s.watch(ctx)
	defer stop()
	defer s.quit(ctx)
	why, backoff := p.converse(ctx, s, rep, domain, locals)
	if backoff {
		p.backOff(host)
	} else {
		p.relax(host)
	}
	if why != "" {
		p.logger.Info("smtp probe stopped", "mx", host, "why", why)
	}
	return true, why
}

// converse runs banner, hello and the transactions. It fills rep's answers
// as they come; why explains the ones it could not give, and backoff tells
// whether the host asked to be left alone.
func (p *Prober) converse(ctx context.Context, s *session, rep *Report, domain string, locals []string) (why string, backoff bool) {
	timedOut := func(err error) string {
		if budgetOver(ctx) {
			return "the time budget ended before the mail exchanger answered"
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return "the mail exchanger did not answer in time"
		}
		if errors.Is(err, errMalformed) {
			return "the mail exchanger's answer was not SMTP"
		}
		return "the mail exchanger closed the connection"
	}
	b, err := s.banner(ctx)
	if err != nil {
		return timedOut(err), false
	}
	if b.Code != 220 {
		return fmt.Sprintf("the mail exchanger refused the session at the banner (%d)", b.Code), b.Class() == 4
	}
	h, err := s.hello(ctx, p.cfg.HELO)
	if err != nil {
		return timedOut(err), false
	}
	if h.Code != 250 {
		return fmt.Sprintf("the mail exchanger refused the greeting (%d)", h.Code), h.Class() == 4
	}
	if err := s.startTLS(ctx, p.cfg.HELO); err != nil {
		return "STARTTLS failed: " + timedOut(err), false
	}
	pending := make([]int, 0, len(locals))
	for i := range locals {
		pending = append(pending, i)
	}
	probeCatchAll := rep.CatchAll == nil
	for first := true; len(pending) > 0 || probeCatchAll; first = false {
		if !first {
			r, err := s.cmd(ctx, "RSET")
			if err != nil || r.Code != 250 {
				return "the mail exchanger refused RSET", false
			}
		}
		m, err := s.cmd(ctx, "MAIL FROM:<%s>", p.cfg.From)
		if err != nil {
			return timedOut(err), false
		}
		if m.Code != 250 {
			return fmt.Sprintf("the mail exchanger refused MAIL FROM (%d %s)", m.Code, m.Enhanced), m.Class() == 4
		}
		room := p.cfg.BatchSize
		if probeCatchAll {
			probeCatchAll = false
			room--
			r, err := s.cmd(ctx, "RCPT TO:<%s@%s>", p.probeLocal(domain), domain)
			if err != nil {
				return timedOut(err), false
			}
			// Any permanent refusal of an address no one has means the
			// domain does not accept everything; a temporary one decides
			// nothing.
			switch {
			case classify(r) == Accepted:
				rep.CatchAll = ptr(true)
			case r.Class() == 5:
				rep.CatchAll = ptr(false)
			}
			if r.Code == 421 {
				return "the mail exchanger closed the session (421)", true
			}
		}
		n := min(room, len(pending))
		for _, i := range pending[:n] {
			r, err := s.cmd(ctx, "RCPT TO:<%s@%s>", locals[i], domain)
			if err != nil {
				return timedOut(err), false
			}
			a := Answer{Status: classify(r), Code: r.Code, Enhanced: r.Enhanced, Host: s.host}
			switch a.Status {
			case Temporary:
				a.Detail = fmt.Sprintf("the mail exchanger answered %d, a temporary refusal such as greylisting; ask again later", r.Code)
				a.RetryAfter = retryAfter(r.Text())
			case Unavailable:
				a.Detail = fmt.Sprintf("the mail exchanger answered %d, which says nothing sure about the mailbox", r.Code)
			}
			rep.Answers[i] = a
			if r.Code == 421 {
				return "the mail exchanger closed the session (421)", true
			}
		}
		pending = pending[n:]
	}
	return "", false
}

// classify reads a RCPT TO reply (RFC 5321 §4.2, RFC 3463).
func classify(r Reply) Status {
	switch {
	case r.Code == 250 || r.Code == 251:
		return Accepted
	case r.Code == 552 || (r.Code == 452 && r.Enhanced == "4.2.2") || r.Enhanced == "5.2.2":
		return Full
	case r.Code == 550 || r.Code == 551 || r.Code == 553:
		switch r.Enhanced {
		case "5.1.1", "5.1.0", "5.1.10", "5.1.6":
			return NotFound
		case "":
			// No enhanced code: only the text can say it is about the
			// mailbox rather than a policy block of the prober.
			t := strings.ToLower(r.Text())
			for _, s := range []string{"no such user", "user unknown", "unknown user", "does not exist", "mailbox unavailable", "no mailbox", "recipient rejected", "invalid recipient", "not found"} {
				if strings.Contains(t, s) && !strings.Contains(t, "block") && !strings.Contains(t, "spam") {
					return NotFound
				}
			}
		}
		return Unavailable
	case r.Class() == 4:
		return Temporary
	default:
		return Unavailable
	}
}

// retryAfter reads a wait out of a greylisting reply ("try again in 300
// seconds", "retry in 5 minutes"); 0 when there is none. Bounded at an hour.
func retryAfter(text string) time.Duration {
	words := strings.Fields(strings.ToLower(text))
	for i, w := range words {
		n, err := strconv.Atoi(strings.TrimRight(w, ".,;"))
		if err != nil || n <= 0 || i+1 >= len(words) {
			continue
		}
		unit := words[i+1]
		var d time.Duration
		switch {
		case strings.HasPrefix(unit, "s"):
			d = time.Duration(n) * time.Second
		case strings.HasPrefix(unit, "min"):
			d = time.Duration(n) * time.Minute
		default:
			continue
		}
		return min(d, time.Hour)
	}
	return 0
}

// addresses resolves an MX host name to the addresses a session may dial,
// refusing non-public ones unless AllowPrivate.
func (p *Prober) addresses(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		defer cancel()
		addrs, err = p.resolver.LookupNetIP(rctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return nil, errors.New("the mail exchanger's name does not resolve")
		}
	}
	if p.cfg.AllowPrivate {
		return addrs, nil
	}
	public := addrs[:0]
	for _, a := range addrs {
		if safehttp.CheckPublic(a) == nil {
			public = append(public, a)
		}
	}
	if len(public) == 0 {
		return nil, errors.New("the mail exchanger's address is private, loopback or reserved; it is not asked")
	}
	return public, nil
}

// acquire takes a session slot at host, waiting for the pause since the
// last session there; a host in backoff is not asked.
func (p *Prober) acquire(ctx context.Context, host string) (*hostState, error) {
	p.mu.Lock()
	h, ok := p.hosts[host]
	if !ok {
		if len(p.hosts) >= maxHosts {
			for k, v := range p.hosts {
				if v.users == 0 && p.now().After(v.notBefore) {
					delete(p.hosts, k)
				}
			}
		}
		h = &hostState{sem: make(chan struct{}, p.cfg.HostConcurrency)}
		p.hosts[host] = h
	}
	h.users++
	p.mu.Unlock()
	fail := func(err error) (*hostState, error) {
		p.mu.Lock()
		h.users--
		p.mu.Unlock()
		return nil, err
	}
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return fail(errors.New("the time budget ended while waiting for a turn at the mail exchanger"))
	}
	for {
		p.mu.Lock()
		now := p.now()
		if now.Before(h.notBefore) {
			p.mu.Unlock()
			<-h.sem
			return fail(errors.New("the mail exchanger asked to be left alone for a while (backoff after 421 or 4xx)"))
		}
		wait := h.lastStart.Add(p.cfg.HostPause).Sub(now)
		if wait <= 0 {
			h.lastStart = now
			p.mu.Unlock()
			return h, nil
		}
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			<-h.sem
			return fail(errors.New("the time budget ended while waiting for a turn at the mail exchanger"))
		}
	}
}

func (p *Prober) release(host string, h *hostState) {
	<-h.sem
	p.mu.Lock()
	h.users--
	p.mu.Unlock()
}

// backOff leaves host alone for its backoff, doubling it for next time.
func (p *Prober) backOff(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.hosts[host]; ok {
		h.backoff = min(max(h.backoff*2, p.cfg.Backoff), maxBackoff)
		h.notBefore = p.now().Add(h.backoff)
	}
}

// relax resets host's backoff after a session it did not refuse.
func (p *Prober) relax(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := p.hosts[host]; ok {
		h.backoff = 0
	}
}

// probeLocal is the catch-all probe's local part at domain: one no one
// has, unguessable (keyed by a secret of this prober), and the same on
// every try, so a greylisting server that saw it once accepts it next time.
func (p *Prober) probeLocal(domain string) string {
	m := hmac.New(sha256.New, p.secret[:])
	m.Write([]byte(domain))
	return "leadcheck-probe-" + hex.EncodeToString(m.Sum(nil)[:10])
}

func ptr[T any](v T) *T { return &v }

// budgetOver reports whether ctx has ended or its deadline has passed (a
// read that hit the deadline may return before ctx notices).
func budgetOver(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}
