package validate

import (
	"context"
	"fmt"
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
	got, err := r.exchangeBatch(ctx, msgs, server)
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

// exchangeBatch is exchangeOver for several questions on one UDP socket:
// it sends them all, reads answers until each has one or the deadline
// passes, and at half the time sends the unanswered ones once more (see
// readAnswer). got[i] is nil for a question without an answer; err is why
// the reading stopped early.
func (r *DNSResolver) exchangeBatch(ctx context.Context, msgs []*dns.Msg, server string) (got []*dns.Msg, err error) {
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
	co, done, err := r.open(ctx, "udp", server)
	if err != nil {
		return got, fmt.Errorf("dial: %w", err)
	}
	if err := co.SetDeadline(deadline); err != nil {
		done(false)
		return got, fmt.Errorf("set deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = co.SetDeadline(time.Unix(1, 0)) })
	// A socket with answers still to come is not handed on.
	defer func() { done(stop() && left == 0) }()
	send := func() error {
		for i, m := range msgs {
			if m != nil && got[i] == nil {
				if err := co.WriteMsg(m); err != nil {
					return fmt.Errorf("write: %w", err)
				}
			}
		}
		return nil
	}
	if err := send(); err != nil {
		return got, err
	}
	now := time.Now()
	if err := co.SetReadDeadline(now.Add(deadline.Sub(now) / 2)); err != nil {
		return got, fmt.Errorf("set deadline: %w", err)
	}
	if err := ctx.Err(); err != nil { // the hook may have run before that line
		return got, fmt.Errorf("read: %w", err)
	}
	resent := false
	for left > 0 {
		in, err := co.ReadMsg()
		if err != nil {
			if resent || !isTimeout(err) || ctx.Err() != nil {
				return got, fmt.Errorf("read: %w", err)
			}
			resent = true
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
		// A datagram that matches no question is ignored (RFC 5452).
		for i, m := range msgs {
			if m != nil && got[i] == nil && in.Id == m.Id && sameQuestion(in, m) {
				got[i] = in
				left--
				break
			}
		}
	}
	return got, nil
}
