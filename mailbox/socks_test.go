package mailbox

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	socks5 "github.com/armon/go-socks5"

	"github.com/leadcheck/leadcheck/internal/testenv"
)

// TestProbeThroughSOCKS5 runs a probe through a real SOCKS5 server on
// loopback and checks that the proxy made the connection.
func TestProbeThroughSOCKS5(t *testing.T) {
	f := newFixture(t)
	var dials atomic.Int32
	srv, err := socks5.New(&socks5.Config{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { _ = srv.Serve(ln) }()

	p := f.prober(t, Config{AllowPrivate: true, Proxy: "socks5://" + ln.Addr().String()})
	rep := p.Probe(context.Background(), "acme.test", []string{"mx.acme.test"}, []string{"jane", "nobody"}, nil)
	if rep.Answers[0].Status != Accepted || rep.Answers[1].Status != NotFound {
		t.Errorf("answers through the proxy = %+v", rep.Answers)
	}
	if dials.Load() != 1 {
		t.Errorf("the proxy dialed %d times, want 1", dials.Load())
	}
}

func TestProbeProxyFailureIsUnavailable(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{AllowPrivate: true, Proxy: "socks5://" + testenv.ClosedAddr(t)})
	rep := p.Probe(context.Background(), "acme.test", []string{"mx.acme.test"}, []string{"jane"}, nil)
	if a := rep.Answers[0]; a.Status != Unavailable || !strings.Contains(a.Detail, "proxy") {
		t.Errorf("answer = %+v, want unavailable naming the proxy", a)
	}
	if f.main.Sessions() != 0 {
		t.Errorf("the server saw %d sessions", f.main.Sessions())
	}
}

// The proxy dials for us, past any dial hook: the address check must run
// before the proxy is asked.
func TestProbeThroughProxyStillRefusesPrivate(t *testing.T) {
	f := newFixture(t)
	p := f.prober(t, Config{Proxy: "socks5://" + testenv.ClosedAddr(t)})
	rep := p.Probe(context.Background(), "acme.test", []string{"mx.acme.test"}, []string{"jane"}, nil)
	if a := rep.Answers[0]; a.Status != Unavailable || !strings.Contains(a.Detail, "private") {
		t.Errorf("answer = %+v, want unavailable because the address is private", a)
	}
}

func TestNewRefusesBadSettings(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{Proxy: "http://proxy:8080"}, {Proxy: "socks5://"}, {HELO: "a b"}, {From: "x>\r\nDATA"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}
