package validate

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

func idleSockets(r *DNSResolver, server string) int {
	pl := r.udp.pool(server)
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return len(pl.idle)
}

// TestUDPSocketsReused: sequential queries share one socket, which is
// replaced after udpSocketUses queries; a query cut short by its context
// closes its socket rather than handing it on, and the next query works.
func TestUDPSocketsReused(t *testing.T) {
	t.Parallel()
	s := dnstest.Start(t, dnstest.Config{
		Zone:       resolverTestZone,
		Behaviours: map[string]dnstest.Behaviour{"blackhole.test": dnstest.Blackhole()},
	})
	r, err := NewDNSResolver([]string{s.Addr()}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(ctx context.Context, name string) error {
		_, err := r.Query(ctx, name, dns.TypeMX)
		return err
	}
	var first *pooledConn
	for i := range udpSocketUses - 1 {
		if err := ask(t.Context(), "acme.test"); err != nil {
			t.Fatal(err)
		}
		if n := idleSockets(r, s.Addr()); n != 1 {
			t.Fatalf("after query %d: %d idle sockets, want 1", i+1, n)
		}
		pl := r.udp.pool(s.Addr())
		if first == nil {
			first = pl.idle[0]
		} else if pl.idle[0] != first {
			t.Fatalf("query %d used another socket", i+1)
		}
	}
	if err := ask(t.Context(), "acme.test"); err != nil {
		t.Fatal(err)
	}
	if n := idleSockets(r, s.Addr()); n != 0 {
		t.Errorf("after %d queries the socket must be closed; %d idle", udpSocketUses, n)
	}

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		waitForQueries(t, s, s.TotalQueries()+1)
		cancel()
	}()
	if err := ask(ctx, "blackhole.test"); err == nil {
		t.Fatal("a blackholed query must fail when cancelled")
	}
	if n := idleSockets(r, s.Addr()); n != 0 {
		t.Errorf("a cancelled query's socket went back to the pool (%d idle)", n)
	}
	if err := ask(t.Context(), "acme.test"); err != nil {
		t.Errorf("after a cancel: %v", err)
	}
}
