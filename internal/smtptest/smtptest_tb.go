package smtptest

import "testing"

// StartTB starts a server for a test and closes it at cleanup.
func StartTB(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	s, err := Start(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// StartGroupTB is StartGroup for a test.
func StartGroupTB(tb testing.TB, cfgs []Config) []*Server {
	tb.Helper()
	out, err := StartGroup(cfgs)
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range out {
		tb.Cleanup(func() { _ = s.Close() })
	}
	return out
}
