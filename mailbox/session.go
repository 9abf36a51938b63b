package mailbox

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"
)

// session is one SMTP conversation with one mail exchanger.
//
// It is written on net.Conn rather than on emersion/go-smtp's Client, which
// serves the test fixture: that client cannot upgrade to TLS only when the
// server offers it on the same connection (its STARTTLS is either required
// or never tried, so a server without it would cost a second connection
// per domain), it hides the code of an accepted RCPT (250 or 251), and it
// sets its own deadlines where a probe must follow the caller's context.
// The part of the protocol a probe needs (banner, EHLO/HELO, STARTTLS,
// MAIL, RCPT, RSET, QUIT; never DATA) is small.
type session struct {
	conn    net.Conn
	r       *bufio.Reader
	host    string // the MX host name, for TLS and reports
	timeout time.Duration
	ext     map[string]bool
	tls     bool
}

func newSession(conn net.Conn, host string, timeout time.Duration) *session {
	return &session{conn: conn, r: bufio.NewReaderSize(conn, 4096), host: host, timeout: timeout}
}

// deadline bounds the next exchange by the per-command timeout and ctx.
func (s *session) deadline(ctx context.Context) {
	d := time.Now().Add(s.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	_ = s.conn.SetDeadline(d)
}

// watch closes the connection when ctx ends, so a blocked read returns at
// once; the returned stop ends the watch.
func (s *session) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = s.conn.SetDeadline(time.Now()) })
}

// banner reads the greeting.
func (s *session) banner(ctx context.Context) (Reply, error) {
	s.deadline(ctx)
	rep, err := readReply(s.r)
	if err != nil {
		return Reply{}, fmt.Errorf("read banner: %w", err)
	}
	return rep, nil
}

// cmd sends one command line and reads its reply.
func (s *session) cmd(ctx context.Context, format string, args ...any) (Reply, error) {
	line := fmt.Sprintf(format, args...)
	if strings.ContainsAny(line, "\r\n") {
		return Reply{}, fmt.Errorf("command with a line break refused")
	}
	s.deadline(ctx)
	if _, err := s.conn.Write([]byte(line + "\r\n")); err != nil {
		return Reply{}, fmt.Errorf("send %s: %w", verb(line), err)
	}
	rep, err := readReply(s.r)
	if err != nil {
		return Reply{}, fmt.Errorf("read reply to %s: %w", verb(line), err)
	}
	return rep, nil
}

// hello sends EHLO, and HELO when the server does not know EHLO, and reads
// the extensions it offers.
func (s *session) hello(ctx context.Context, name string) (Reply, error) {
	rep, err := s.cmd(ctx, "EHLO %s", name)
	if err != nil {
		return rep, err
	}
	if rep.Class() == 5 {
		return s.cmd(ctx, "HELO %s", name)
	}
	s.ext = map[string]bool{}
	if rep.Code == 250 {
		for _, l := range rep.Lines[1:] {
			word, _, _ := strings.Cut(l, " ")
			s.ext[strings.ToUpper(word)] = true
		}
	}
	return rep, nil
}

// startTLS upgrades the connection when the server offers STARTTLS. The
// certificate is not verified: this is opportunistic TLS (RFC 7435), as
// mail servers use between themselves, where a self-signed or mismatched
// certificate is the norm and the alternative is plain text.
func (s *session) startTLS(ctx context.Context, name string) error {
	if !s.ext["STARTTLS"] {
		return nil
	}
	rep, err := s.cmd(ctx, "STARTTLS")
	if err != nil {
		return err
	}
	if rep.Code != 220 {
		return nil // offered then declined: go on in plain text
	}
	tc := tls.Client(s.conn, &tls.Config{ServerName: strings.TrimSuffix(s.host, "."), InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // opportunistic, see above
	s.deadline(ctx)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	s.conn, s.r, s.tls = tc, bufio.NewReaderSize(tc, 4096), true
	rep, err = s.hello(ctx, name)
	if err != nil {
		return err
	}
	if rep.Code != 250 {
		return fmt.Errorf("EHLO after STARTTLS answered %d", rep.Code)
	}
	return nil
}

// quit says goodbye without waiting long for the answer, and closes; when
// ctx has ended it just closes.
func (s *session) quit(ctx context.Context) {
	if budgetOver(ctx) {
		_ = s.conn.Close()
		return
	}
	_ = s.conn.SetDeadline(time.Now().Add(min(s.timeout, time.Second)))
	if _, err := s.conn.Write([]byte("QUIT\r\n")); err == nil {
		_, _ = readReply(s.r)
	}
	_ = s.conn.Close()
}

// verb is the command word of a line, for errors: never the address.
func verb(line string) string {
	w, _, _ := strings.Cut(line, ":")
	w, _, _ = strings.Cut(w, " ")
	return strings.ToUpper(w)
}
