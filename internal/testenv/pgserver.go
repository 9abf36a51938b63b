package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGServer is a PostgreSQL server of one test's own, which the test may
// stop and start again, as a database restart in production does. It is
// never the shared test PostgreSQL of Postgres: that one other tests use.
type PGServer struct {
	// URL is the postgres database on the server, as the user postgres
	// (trust auth, no TLS).
	URL string

	tb      testing.TB
	bin     string // the directory of initdb, pg_ctl and postgres
	dir     string // the temp dir: data/, the socket and the log
	port    int
	asUser  []string // "runuser -u postgres --" when running as root
	mu      sync.Mutex
	running bool
}

// PostgresServer initialises a PostgreSQL cluster in a temporary directory
// (trust auth, user postgres) and starts it on 127.0.0.1:port, returning
// once it accepts connections. Stop and Start stop it at once and bring it
// back on the same port and data; it is stopped and its directory removed
// when the test ends. The binaries are the newest under
// /usr/lib/postgresql/*/bin (Debian's layout), else initdb and pg_ctl on
// PATH; the test is skipped when there are none. initdb and postgres refuse
// to run as root, so as root they run as the OS user postgres, in a
// directory of its own under os.TempDir (a t.TempDir path need not be
// traversable by another user).
func PostgresServer(tb testing.TB, port int) *PGServer {
	tb.Helper()
	bin, err := postgresBin()
	if err != nil {
		tb.Skipf("no PostgreSQL server binaries (%v); this test starts and stops a PostgreSQL of its own: install postgresql", err)
	}
	dir, err := os.MkdirTemp("", "leadcheck-pgserver-")
	if err != nil {
		tb.Fatalf("postgres server: %v", err)
	}
	s := &PGServer{
		URL:  fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		tb:   tb,
		bin:  bin,
		dir:  dir,
		port: port,
	}
	tb.Cleanup(func() {
		s.Stop()
		if err := os.RemoveAll(dir); err != nil {
			tb.Errorf("postgres server: remove %s: %v", dir, err)
		}
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("postgres server: running as root, so initdb must run as the OS user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatalf("postgres server: %v", err)
		}
		s.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	// No fsync: a stop here is a killed process, not a lost machine, and
	// what was written stays in the page cache.
	s.run("initdb", "-D", s.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
	s.Start()
	return s
}

// postgresBin finds the directory of the newest PostgreSQL's binaries.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "pg_ctl"))
		return err != nil
	})
	if len(dirs) > 0 {
		version := func(d string) int {
			n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
			return n
		}
		slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
		return dirs[0], nil
	}
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		return "", err
	}
	return filepath.Dir(initdb), nil
}

func (s *PGServer) data() string { return filepath.Join(s.dir, "data") }

// run runs one of the server's binaries (as the postgres user when root),
// failing the test with its output.
func (s *PGServer) run(name string, args ...string) {
	s.tb.Helper()
	argv := append(slices.Clone(s.asUser), append([]string{filepath.Join(s.bin, name)}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.tb.Fatalf("postgres server: %s: %v\n%s\nserver log:\n%s", strings.Join(argv, " "), err, out, s.log())
	}
}

// log returns the server's log so far.
func (s *PGServer) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// Start starts the server (again) on its port and data directory, and
// returns once it accepts connections. It does nothing while it runs.
func (s *PGServer) Start() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	// The socket goes in the test's own directory, away from the
	// machine's server.
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=200", s.port, s.dir)
	s.run("pg_ctl", "start", "-D", s.data(), "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60", "-o", opts)
	s.running = true
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.URL)
		if err == nil {
			_ = conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			s.tb.Fatalf("postgres server on port %d does not accept connections within 30s: %v\nserver log:\n%s", s.port, err, s.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the server at once (pg_ctl stop -m immediate: no checkpoint,
// connections cut, as a crash would leave them); the next start recovers
// from the WAL. It does nothing while the server is stopped.
func (s *PGServer) Stop() {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	s.run("pg_ctl", "stop", "-D", s.data(), "-m", "immediate", "-w", "-t", "60")
	s.running = false
}
