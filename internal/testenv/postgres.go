package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresURLEnv names the variable that points the tests at a PostgreSQL
// other than DefaultPostgresURL. It names a database the tests may connect
// to as a user allowed to create and drop databases.
const PostgresURLEnv = "LEADCHECK_TEST_DATABASE_URL"

// DefaultPostgresURL is the test PostgreSQL when PostgresURLEnv is unset: the
// local server's postgres database, as the user postgres (trust auth).
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresAdminURL returns the URL of the test PostgreSQL's admin database,
// without checking that it answers.
func PostgresAdminURL() string {
	if u := os.Getenv(PostgresURLEnv); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// Postgres creates a database of the test's own on the test PostgreSQL and
// returns its URL; the database is dropped (its connections closed first)
// when the test ends, so tests can run in parallel on one server. It fails
// tb with what to do when no PostgreSQL answers.
func Postgres(tb testing.TB) string {
	tb.Helper()
	admin := PostgresAdminURL()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("test PostgreSQL at %s: %v; run scripts/test, start PostgreSQL, or set %s", redactURL(admin), err, PostgresURLEnv)
	}
	defer conn.Close(context.Background())
	name := databaseName(tb.Name())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("create test database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("%s: %v", PostgresURLEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// databaseName is "lc_test_<test name>_<random>", lower case, at most 63
// bytes (PostgreSQL's limit on names): the name tells whose database is
// left when a run is killed before its clean-up.
func databaseName(testName string) string {
	n := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '_'
	}, testName)
	if len(n) > 40 {
		n = n[:40]
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "lc_test_" + n + "_" + hex.EncodeToString(b[:])
}

// redactURL drops a password from a URL for a message.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "the configured URL"
	}
	return u.Redacted()
}
