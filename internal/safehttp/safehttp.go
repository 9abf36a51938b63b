// Package safehttp builds the one HTTP client every outbound request goes
// through (webhooks, web-site fetches). It refuses loopback, private,
// link-local, metadata and other special-purpose addresses at dial time,
// after DNS resolution, so a hostname that resolves (or rebinds) to an
// internal address cannot be used to reach inside the network.
package safehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// ErrBlocked reports a request refused because its destination address is
// not public. Callers match it with errors.Is.
var ErrBlocked = errors.New("destination address is not public")

// ErrRedirect reports a redirect the client was told not to follow.
var ErrRedirect = errors.New("redirect not followed")

// Options shape a client. Zero values get the defaults in the field docs.
type Options struct {
	// AllowPrivate lets requests reach loopback and private addresses; for
	// tests and closed networks only (LEADCHECK_ALLOW_PRIVATE_NETWORKS).
	AllowPrivate bool
	// Timeout bounds a whole request, body included. Default 15s.
	Timeout time.Duration
	// MaxRedirects is how many redirects to follow; each hop is checked by
	// the same dialer. 0 follows none (webhooks must not follow any).
	MaxRedirects int
	// UserAgent is sent with every request. Default "leadcheck".
	UserAgent string
	// DNSServers ("host:port") resolve host names instead of the system's
	// resolver, so outbound requests follow LEADCHECK_DNS as validation
	// does. Empty: the system's resolver.
	DNSServers []string
}

// NewClient returns an http.Client that only dials public addresses (unless
// AllowPrivate) over http and https.
func NewClient(opts Options) *http.Client {
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "leadcheck"
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if len(opts.DNSServers) > 0 {
		dialer.Resolver = resolverFor(opts.DNSServers)
	}
	if !opts.AllowPrivate {
		guard := ssrf.New(ssrf.WithAnyPort())
		dialer.Control = func(network, address string, c syscall.RawConn) error {
			if err := guard.Safe(network, address, c); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrBlocked, address, err)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the guard
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
	}
	maxRedirects := opts.MaxRedirects
	return &http.Client{
		Timeout:   opts.Timeout,
		Transport: userAgent{base: transport, ua: opts.UserAgent},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrRedirect, maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: scheme %q", ErrRedirect, req.URL.Scheme)
			}
			return nil
		},
	}
}

// resolverFor is Go's own resolver sent to the given servers, tried in
// order: a server that cannot be dialled gives way to the next. The stub
// resolver handles retries and truncation itself.
func resolverFor(servers []string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			var err error
			for _, s := range servers {
				var c net.Conn
				if c, err = d.DialContext(ctx, network, s); err == nil {
					return c, nil
				}
			}
			return nil, err
		},
	}
}

// userAgent sets the User-Agent header of every request it carries.
type userAgent struct {
	base http.RoundTripper
	ua   string
}

func (u userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %q", ErrBlocked, req.URL.Scheme)
	}
	req = req.Clone(req.Context())
	req.Header.Set("User-Agent", u.ua)
	return u.base.RoundTrip(req)
}

// publicGuard is the rule set of every outbound dial, for callers that
// check an address before handing it to a dialer they do not control (a
// SOCKS5 proxy dials on their behalf, past any Control hook).
var publicGuard = ssrf.New(ssrf.WithAnyPort(), ssrf.WithAnyNetwork())

// CheckPublic reports, wrapping ErrBlocked, an address outbound requests
// must not reach: loopback, private, link-local, metadata and the other
// special-purpose ranges NewClient refuses.
func CheckPublic(addr netip.Addr) error {
	if err := publicGuard.SafeAddr(addr.Unmap()); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBlocked, addr, err)
	}
	return nil
}

// NewResolver returns a resolver that asks the given servers ("host:port")
// in order, or the system's resolver when servers is empty, so outbound
// dials follow LEADCHECK_DNS as validation does.
func NewResolver(servers []string) *net.Resolver {
	if len(servers) == 0 {
		return net.DefaultResolver
	}
	return resolverFor(servers)
}
