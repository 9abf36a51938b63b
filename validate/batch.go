package validate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Question is one question of a batch (see BatchResolver).
type Question struct {
	Name  string
	Qtype uint16
}

// Answer is what Resolver.Query returns for one question of a batch.
type Answer struct {
	Msg *dns.Msg
	Err error
}

// BatchResolver is a Resolver that can ask several questions at once.
// QueryBatch fills out[i] (len(out) == len(qs)) with an answer to qs[i] as
// Query would give it.
type BatchResolver interface {
	Resolver
	QueryBatch(ctx context.Context, qs []Question, out []Answer)
}

var _ BatchResolver = (*DNSResolver)(nil)

// QueryBatch sends every question to the preferred server on one UDP
// socket and reads the answers as they come, matched by ID and question:
// the questions of a domain cost one goroutine, one socket and one
// deadline instead of one each, which is most of a cold bulk job's CPU
// outside the system calls. Any question the batch does not settle (no
// answer, a truncated one, SERVFAIL and the like) goes on as Query would
// from there: the other servers, or TCP for a truncated answer.
func (r *DNSResolver) QueryBatch(ctx context.Context, qs []Question, out []Answer) {
	msgs := make([]*dns.Msg, len(qs))
	for i, q := range qs {
		m, err := question(ctx, q.Name, q.Qtype)
		if err != nil {
			out[i] = Answer{Err: err}
			continue
		}
		for j := 0; j < i; j++ { // IDs tell the answers apart
			if msgs[j] != nil && msgs[j].Id == m.Id {
				m.Id, j = queryID(), -1
			}
		}
		msgs[i] = m
	}
	idx := int(r.preferred.Load()) % len(r.servers)
	server := r.servers[idx]
	got, err := r.exchangeMsgs(ctx, "udp", msgs, server)
	for i, m := range msgs {
		if m == nil {
			continue
		}
		in, inErr := got[i], err
		if in != nil {
			inErr = nil
			if in.Truncated {
				// As exchange does: the same server again, over TCP.
				if in, inErr = r.exchangeOver(ctx, "tcp", m, server); inErr != nil {
					inErr = fmt.Errorf("tcp after truncation: %w", inErr)
				}
			}
		}
		out[i].Msg, out[i].Err = r.settle(ctx, m, idx, in, inErr)
	}
}

// settle is the rest of ask for a question that the server at idx (the
// first ask would try) answered with in or failed with err.
func (r *DNSResolver) settle(ctx context.Context, q *dns.Msg, idx int, in *dns.Msg, err error) (*dns.Msg, error) {
	server := r.servers[idx]
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("dns query %s %s: %w", q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype], ctxErr)
		}
		return r.ask(ctx, q, 1, nil, fmt.Errorf("%s: %w", server, err))
	}
	if in.Rcode == dns.RcodeSuccess || in.Rcode == dns.RcodeNameError {
		r.preferred.Store(uint32(idx))
		return in, nil
	}
	return r.ask(ctx, q, 1, in, fmt.Errorf("%s: %s", server, dns.RcodeToString[in.Rcode]))
}

// exchangeMsgs sends msgs (nil ones are skipped) to server over network
// on one connection and reads the answers as they come, within r.timeout
// and ctx's deadline, until each has one. got[i] is nil for a message
// without an answer; err is why the reading stopped early. ctx's end
// moves the connection's deadline into the past, which ends the read at
// once (miekg/dns' own ExchangeContext only reads the context's deadline).
//
// Over UDP, a datagram that matches no question (by ID and question) is
// ignored (RFC 5452), and when answers are missing at half the time the
// unanswered messages are sent once more on the same socket, the read
// going on to the deadline: a query or answer lost on the way (a busy
// machine drops datagrams) then costs half an attempt rather than a whole
// one and the next server's, or the lead's whole budget with a single
// server. An answer that was only slow is still taken, whichever send it
// answers. The standard library's resolver and miekg/dns leave
// retransmission to the caller, so it is done here. Over TCP an answer
// that does not match is an error.
func (r *DNSResolver) exchangeMsgs(ctx context.Context, network string, msgs []*dns.Msg, server string) (got []*dns.Msg, err error) {
	got = make([]*dns.Msg, len(msgs))
	left := 0
	for _, m := range msgs {
		if m != nil {
			left++
		}
	}
	if left == 0 {
		return got, nil
	}
	deadline := time.Now().Add(r.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	co, done, err := r.open(ctx, network, server)
	if err != nil {
		return got, fmt.Errorf("dial: %w", err)
	}
	// Set the deadline before arming the cancel hook, so the hook's past
	// deadline can never be overwritten by this one.
	if err := co.SetDeadline(deadline); err != nil {
		done(false)
		return got, fmt.Errorf("set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = co.SetDeadline(time.Unix(1, 0)) })
	// A socket whose hook ran (it may move the deadline at any time) or
	// with answers still to come is not handed to the next query.
	defer func() { done(stop() && left == 0) }()
	send := func() error {
		for i, m := range msgs {
			if m != nil && got[i] == nil {
				if err := co.WriteMsg(m); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := send(); err != nil {
		return got, fmt.Errorf("write: %w", err)
	}
	udp := network == "udp"
	resend := udp
	if resend {
		now := time.Now()
		if err := co.SetReadDeadline(now.Add(deadline.Sub(now) / 2)); err != nil {
			return got, fmt.Errorf("set deadline: %w", err)
		}
		if err := ctx.Err(); err != nil { // the hook may have run before that line
			return got, fmt.Errorf("read: %w", err)
		}
	}
	for left > 0 {
		in, err := co.ReadMsg()
		if err != nil {
			if !resend || !isTimeout(err) || ctx.Err() != nil {
				return got, fmt.Errorf("read: %w", err)
			}
			resend = false
			if err := co.SetReadDeadline(deadline); err != nil {
				return got, fmt.Errorf("set deadline: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return got, fmt.Errorf("read: %w", err)
			}
			if err := send(); err != nil {
				return got, fmt.Errorf("resend: %w", err)
			}
			continue
		}
		matched := false
		for i, m := range msgs {
			if m != nil && got[i] == nil && in.Id == m.Id && sameQuestion(in, m) {
				got[i], matched = in, true
				left--
				break
			}
		}
		if !matched && !udp {
			return got, errors.New("read: answer does not match the question")
		}
	}
	return got, nil
}

// isTimeout reports a read that ended at its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
