package safehttp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

func TestBlocksPrivateAddresses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Header.Get("User-Agent")))
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]

	guarded := NewClient(Options{Timeout: 2 * time.Second})
	for _, url := range []string{
		srv.URL,                            // 127.0.0.1
		"http://localhost" + port,          // a name that resolves to loopback
		"http://[::1]" + port,              // IPv6 loopback
		"http://169.254.169.254/latest/",   // cloud metadata
		"http://10.1.2.3/",                 // private
		"http://[::ffff:127.0.0.1]" + port, // IPv4-mapped loopback
		"http://0.0.0.0" + port,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := guarded.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: got status %d, want the request refused", url, resp.StatusCode)
			continue
		}
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: got %v, want ErrBlocked", url, err)
		}
	}

	open := NewClient(Options{AllowPrivate: true, UserAgent: "leadcheck-test/1"})
	resp, err := open.Get(srv.URL)
	if err != nil {
		t.Fatalf("with AllowPrivate: %v", err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	n, _ := resp.Body.Read(buf)
	if got := string(buf[:n]); got != "leadcheck-test/1" {
		t.Errorf("User-Agent: got %q", got)
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	var hops atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		http.Redirect(w, r, srv.URL+"/again", http.StatusFound)
	}))
	defer srv.Close()

	for _, max := range []int{0, 3} {
		hops.Store(0)
		_, err := NewClient(Options{AllowPrivate: true, MaxRedirects: max}).Get(srv.URL)
		if !errors.Is(err, ErrRedirect) {
			t.Errorf("max %d: got %v, want ErrRedirect", max, err)
		}
		if got := int(hops.Load()); got != max+1 {
			t.Errorf("max %d: server saw %d requests, want %d", max, got, max+1)
		}
	}
	_, err := NewClient(Options{AllowPrivate: true}).Get("file:///etc/passwd")
	if err == nil {
		t.Error("file:// URL: got no error")
	}
}

// TestDNSServers: names resolve through the given server, and the guard
// still checks the address they resolve to.
func TestDNSServers(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: `
$ORIGIN test.
@        300 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
site     300 IN A   127.0.0.1
metadata 300 IN A   169.254.169.254
`})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]

	open := NewClient(Options{AllowPrivate: true, DNSServers: []string{dns.Addr()}})
	resp, err := open.Get("http://site.test" + port)
	if err != nil {
		t.Fatalf("site.test through the fixture DNS: %v", err)
	}
	resp.Body.Close()
	if dns.TotalQueries() == 0 {
		t.Error("the fixture DNS server saw no query")
	}

	guarded := NewClient(Options{DNSServers: []string{dns.Addr()}, Timeout: 2 * time.Second})
	for _, host := range []string{"site.test" + port, "metadata.test"} {
		_, err := guarded.Get("http://" + host)
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: got %v, want ErrBlocked", host, err)
		}
	}
}

func TestCheckPublic(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"2606:4700:4700::1111", true},
		{"127.0.0.1", false},
		{"10.1.2.3", false},
		{"169.254.169.254", false},
		{"::1", false},
		{"::ffff:127.0.0.1", false},
	} {
		err := CheckPublic(netip.MustParseAddr(tt.addr))
		if (err == nil) != tt.public {
			t.Errorf("CheckPublic(%s) = %v, want public %v", tt.addr, err, tt.public)
		}
		if err != nil && !errors.Is(err, ErrBlocked) {
			t.Errorf("CheckPublic(%s) = %v, want ErrBlocked", tt.addr, err)
		}
	}
}
