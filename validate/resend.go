package validate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// readAnswer reads the answer to q from co until deadline. ctx is the
// attempt's context, whose end moves co's deadline into the past.
//
// Over UDP, when no answer has come by half the attempt's time, q is sent
// once more on the same socket and the read goes on to the deadline: a
// query or answer lost on the way (a busy machine drops datagrams) then
// costs half an attempt rather than a whole one and the next server's, or
// the lead's whole time budget with a single server. An answer that was
// only slow is still taken, whichever of the two sends it answers: both
// carry the same ID and question. The standard library's resolver and
// miekg/dns leave retransmission to the caller, so it is done here.
func readAnswer(ctx context.Context, co *dns.Conn, q *dns.Msg, network string, deadline time.Time) (*dns.Msg, error) {
	resend := network == "udp"
	if resend {
		now := time.Now()
		if err := co.SetReadDeadline(now.Add(deadline.Sub(now) / 2)); err != nil {
			return nil, fmt.Errorf("set deadline: %w", err)
		}
		// The cancel hook may have run before the line above undid it.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
	}
	for {
		in, err := co.ReadMsg()
		if err != nil {
			if !resend || !isTimeout(err) || ctx.Err() != nil {
				return nil, fmt.Errorf("read: %w", err)
			}
			resend = false
			if err := co.SetReadDeadline(deadline); err != nil {
				return nil, fmt.Errorf("set deadline: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("read: %w", err)
			}
			if err := co.WriteMsg(q); err != nil {
				return nil, fmt.Errorf("resend: %w", err)
			}
			continue
		}
		if in.Id == q.Id && sameQuestion(in, q) {
			return in, nil
		}
		if network != "udp" {
			return nil, errors.New("read: answer does not match the question")
		}
		// On UDP, a datagram that does not match the ID and question is
		// ignored (RFC 5452) and the read goes on until the deadline.
	}
}

// isTimeout reports a read that ended at its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
