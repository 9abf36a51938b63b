package dnstest

import "testing"

// Start is New for tests: it fails tb at once when the server cannot start
// and closes the server when the test ends.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("dnstest.Start: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("dnstest: %v", err)
		}
	})
	return s
}
