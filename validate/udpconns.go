package validate

import (
	"context"
	"net"
	"sync"

	"github.com/miekg/dns"
)

// A cold bulk job asks tens of thousands of questions a second, and
// opening and closing a UDP socket for each one (socket, connect, epoll
// registration, close) took about 40% of the job's CPU in a profile. So
// UDP sockets are kept per server and reused: one query at a time each,
// the read loop of exchangeOver dropping any late answer to an earlier
// question by its ID and question (RFC 5452). A socket is closed, never
// reused, after any error, after its cancel hook fired, and after
// udpSocketUses queries, so that each socket's source port serves a
// bounded number of questions and spoofing a reply stays as hard as with
// a fresh port per query.
//
// The pool is hand-written: the few lines here are all it needs, and
// net/http's or database/sql's pools are for other protocols.
const (
	udpSocketUses   = 100
	udpSocketsIdle  = 512 // per server; more in flight are closed after use
	udpSocketBuffer = 1 << 20
)

// udpPool holds idle UDP sockets to one server.
type udpPool struct {
	mu   sync.Mutex
	idle []*pooledConn
}

// pooledConn is a UDP socket with the number of queries it has carried.
type pooledConn struct {
	*dns.Conn
	uses int
}

// udpPools is one pool per server address.
type udpPools struct {
	mu    sync.Mutex
	pools map[string]*udpPool
}

func (p *udpPools) pool(server string) *udpPool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pools == nil {
		p.pools = map[string]*udpPool{}
	}
	pl := p.pools[server]
	if pl == nil {
		pl = &udpPool{}
		p.pools[server] = pl
	}
	return pl
}

// get returns an idle socket to server, or dials a new one.
func (p *udpPools) get(ctx context.Context, d *net.Dialer, server string) (*pooledConn, error) {
	pl := p.pool(server)
	pl.mu.Lock()
	if n := len(pl.idle); n > 0 {
		c := pl.idle[n-1]
		pl.idle = pl.idle[:n-1]
		pl.mu.Unlock()
		return c, nil
	}
	pl.mu.Unlock()
	conn, err := d.DialContext(ctx, "udp", server)
	if err != nil {
		return nil, err
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		// Room for the answers of a burst; failing to get it is no error.
		_ = uc.SetReadBuffer(udpSocketBuffer)
	}
	return &pooledConn{Conn: &dns.Conn{Conn: conn, UDPSize: ednsBufferSize}}, nil
}

// put gives a socket back after a query; reuse false closes it.
func (p *udpPools) put(server string, c *pooledConn, reuse bool) {
	c.uses++
	if reuse && c.uses < udpSocketUses {
		pl := p.pool(server)
		pl.mu.Lock()
		if len(pl.idle) < udpSocketsIdle {
			pl.idle = append(pl.idle, c)
			pl.mu.Unlock()
			return
		}
		pl.mu.Unlock()
	}
	_ = c.Close()
}
