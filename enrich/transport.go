package enrich

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/leadcheck/leadcheck/internal/safehttp"
)

// Circuit breaker tuning. A site origin (scheme and host) that fails
// breakerFailures times in a row (connection errors, timeouts, 5xx) is not
// asked again for breakerOpen; then one request probes it. This keeps a bulk
// job with thousands of rows at a dead site from hammering it, and from
// spending FetchTimeout on every row.
const (
	breakerFailures = 3
	breakerOpen     = time.Minute
	// maxHosts bounds the table of per-origin state; idle entries with a
	// closed breaker are dropped when it is full.
	maxHosts = 10_000
)

// errCircuitOpen reports a request not sent because the origin's circuit
// breaker is open.
var errCircuitOpen = errors.New("site failed repeatedly; not asked again for a while")

// errServerStatus marks a 5xx answer for the breaker; the response itself
// still goes to the caller.
var errServerStatus = errors.New("server error status")

// hostLimiter is a RoundTripper that runs at most perHost requests at once
// per origin and puts a circuit breaker in front of each origin. A slot is
// held until the response body is closed, so the limit covers the body
// read too. Each redirect hop is its own round trip and takes its own slot.
type hostLimiter struct {
	base    http.RoundTripper
	perHost int

	mu    sync.Mutex
	hosts map[string]*hostState
}

// hostState is the per-origin state: a counting semaphore, a breaker, and
// how many requests use the entry now.
type hostState struct {
	sem     chan struct{}
	breaker *gobreaker.CircuitBreaker[*http.Response]
	users   int
}

func newHostLimiter(base http.RoundTripper, perHost int) *hostLimiter {
	return &hostLimiter{base: base, perHost: perHost, hosts: map[string]*hostState{}}
}

// RoundTrip implements http.RoundTripper.
func (l *hostLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.URL.Scheme + "://" + strings.ToLower(req.URL.Host)
	h := l.acquire(key)
	select {
	case h.sem <- struct{}{}:
	case <-req.Context().Done():
		l.release(h)
		return nil, fmt.Errorf("wait for a slot at %s: %w", key, req.Context().Err())
	}
	resp, err := h.breaker.Execute(func() (*http.Response, error) {
		resp, err := l.base.RoundTrip(req)
		if err == nil && resp.StatusCode >= 500 {
			return resp, errServerStatus
		}
		return resp, err
	})
	switch {
	case errors.Is(err, errServerStatus):
		err = nil
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		err = fmt.Errorf("%s: %w", key, errCircuitOpen)
	}
	if err != nil {
		<-h.sem
		l.release(h)
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, done: func() {
		<-h.sem
		l.release(h)
	}}
	return resp, nil
}

// acquire returns the origin's state, creating it, and counts one user.
func (l *hostLimiter) acquire(key string) *hostState {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.hosts[key]
	if !ok {
		if len(l.hosts) >= maxHosts {
			l.prune()
		}
		h = &hostState{
			sem: make(chan struct{}, l.perHost),
			breaker: gobreaker.NewCircuitBreaker[*http.Response](gobreaker.Settings{
				Name:        key,
				Timeout:     breakerOpen,
				ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= breakerFailures },
				// A refused address costs the site nothing, and a request
				// the caller gave up on says nothing about the site.
				IsExcluded: func(err error) bool {
					return errors.Is(err, safehttp.ErrBlocked) || errors.Is(err, context.Canceled)
				},
			}),
		}
		l.hosts[key] = h
	}
	h.users++
	return h
}

func (l *hostLimiter) release(h *hostState) {
	l.mu.Lock()
	h.users--
	l.mu.Unlock()
}

// prune drops idle entries whose breaker is closed; l.mu is held.
func (l *hostLimiter) prune() {
	for k, h := range l.hosts {
		if h.users == 0 && h.breaker.State() == gobreaker.StateClosed {
			delete(l.hosts, k)
		}
	}
}

// releasingBody calls done once, when the body is closed.
type releasingBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}

// redirectDial is a RoundTripper that sends a request for host:port to the
// address Config.Resolve names, keeping the Host header and the URL the
// client sees (so redirects and the reported URL use the real name; TLS is
// checked against the mapped address). The dial still goes through the
// safe client, so the address check applies to the mapped address. Tests
// use it to point fixture domains at a local server.
type redirectDial struct {
	base    http.RoundTripper
	resolve func(hostport string) string
}

func (r redirectDial) RoundTrip(req *http.Request) (*http.Response, error) {
	hostport := req.URL.Host
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		port := "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
		hostport = net.JoinHostPort(req.URL.Hostname(), port)
	}
	target := r.resolve(hostport)
	if target == "" || target == hostport {
		return r.base.RoundTrip(req)
	}
	out := req.Clone(req.Context())
	out.URL.Host = target
	if out.Host == "" {
		out.Host = req.URL.Host
	}
	resp, err := r.base.RoundTrip(out)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}
