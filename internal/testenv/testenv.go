// Package testenv is the test plumbing several packages share, kept in one
// place so that every test meets the same environment and fails with the
// same advice: the shared test Redis with a key prefix per test, a private
// redis-server a test may kill, a database of each test's own on the shared
// test PostgreSQL, a private PostgreSQL server a test may stop and start,
// loopback ports where nothing listens, a log buffer that handlers may
// write to from many goroutines, and the fixture DNS zone with the
// validation parts built over it.
//
// Every helper takes the test's testing.TB, fails it at once when the
// environment is not there, and undoes what it set up in tb.Cleanup.
package testenv

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// FreePort returns a loopback TCP port that nothing listened on a moment
// ago, for a server that must be started (and restarted) on a port known
// in advance.
func FreePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// ClosedAddr returns a loopback "host:port" where nothing listens, so a
// dial there is refused at once: where a test routes every address it did
// not plan for, so that nothing reaches the system resolver or the network.
//
// The port stays reserved until the test ends: it is bound by a socket that
// never listens (so a dial gets a reset), where a port that was merely free
// a moment ago could be taken by a parallel test. The standard library
// cannot bind without listening, hence the raw socket.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatalf("closed address: socket: %v", err)
	}
	tb.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("closed address: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("closed address: getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// LogBuffer is an io.Writer for a logger under test: handlers log from many
// goroutines while the test reads what was written, and bytes.Buffer alone
// is not safe for that. The zero value is ready to use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
