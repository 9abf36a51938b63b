package mailbox

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/validate"
)

// Defaults of the answer cache.
const (
	DefaultTTL      = 24 * time.Hour
	DefaultErrorTTL = time.Minute
	// MaxErrorTTL bounds how long a temporary failure is remembered: a
	// greylisted or timed-out address must be asked again soon.
	MaxErrorTTL = 10 * time.Minute
)

// Checker answers validate's mailbox questions with a Prober behind a
// cache: each address's answer, and each domain's catch-all probe, are kept
// in the cache (in process, and in Redis when the Memo has it) for TTL, a
// temporary failure for ErrorTTL. Cache keys hold a hash of the address,
// never the address. It is safe for concurrent use.
type Checker struct {
	p        *Prober
	memo     *cache.Memo
	ttl      time.Duration
	errorTTL time.Duration
}

var _ validate.MailboxChecker = (*Checker)(nil)

// NewChecker returns a Checker. memo is the "smtp" cache; ttl and errorTTL
// default to DefaultTTL and DefaultErrorTTL, errorTTL is capped at
// MaxErrorTTL.
func NewChecker(p *Prober, memo *cache.Memo, ttl, errorTTL time.Duration) *Checker {
	return &Checker{p: p, memo: memo, ttl: cmp.Or(ttl, DefaultTTL), errorTTL: min(cmp.Or(errorTTL, DefaultErrorTTL), MaxErrorTTL)}
}

// Prober is the checker's prober, for callers that batch (bulk jobs).
func (c *Checker) Prober() *Prober { return c.p }

// CheckMailbox implements validate.MailboxChecker. A caller whose ctx ends
// first gets MailboxUnavailable; the probe goes on in the background, bounded
// by the cache's load timeout, and its answer is cached for the next ask.
func (c *Checker) CheckMailbox(ctx context.Context, local, domain string, mx []validate.MX) validate.MailboxAnswer {
	b, _ := c.memo.Do(ctx, addressKey(local, domain), func(ctx context.Context) ([]byte, time.Duration) {
		known := c.CatchAll(ctx, domain)
		rep := c.p.Probe(ctx, domain, hosts(mx), []string{local}, known)
		c.StoreCatchAll(ctx, domain, rep.CatchAll)
		a := Verdictable(rep.Answers[0], rep.CatchAll)
		return c.encode(a)
	})
	var a validate.MailboxAnswer
	if b == nil || json.Unmarshal(b, &a) != nil || a.Status == "" {
		return validate.MailboxAnswer{Status: validate.MailboxUnavailable,
			Detail: "the time budget ended before the mail exchanger answered"}
	}
	return a
}

// Cached returns the cached answer for an address, if there is one.
func (c *Checker) Cached(ctx context.Context, local, domain string) (validate.MailboxAnswer, bool) {
	b, _ := c.memo.Do(ctx, addressKey(local, domain), func(context.Context) ([]byte, time.Duration) { return nil, 0 })
	var a validate.MailboxAnswer
	if len(b) == 0 || json.Unmarshal(b, &a) != nil || a.Status == "" {
		return a, false
	}
	return a, true
}

// Store caches an answer found by a batch probe.
func (c *Checker) Store(ctx context.Context, local, domain string, a validate.MailboxAnswer) {
	c.memo.Do(ctx, addressKey(local, domain), func(context.Context) ([]byte, time.Duration) { return c.encode(a) })
}

// CatchAll is the cached catch-all answer of domain; nil when not known.
func (c *Checker) CatchAll(ctx context.Context, domain string) *bool {
	b, _ := c.memo.Do(ctx, "d:"+domain, func(context.Context) ([]byte, time.Duration) { return nil, 0 })
	switch string(b) {
	case "1":
		return ptr(true)
	case "0":
		return ptr(false)
	}
	return nil
}

// StoreCatchAll caches a decided catch-all answer of domain.
func (c *Checker) StoreCatchAll(ctx context.Context, domain string, v *bool) {
	if v == nil {
		return
	}
	val := "0"
	if *v {
		val = "1"
	}
	c.memo.Do(ctx, "d:"+domain, func(context.Context) ([]byte, time.Duration) { return []byte(val), c.ttl })
}

// encode is an answer and how long to keep it.
func (c *Checker) encode(a validate.MailboxAnswer) ([]byte, time.Duration) {
	b, err := json.Marshal(a)
	if err != nil {
		return nil, 0
	}
	if a.Status == validate.MailboxUnavailable {
		return b, c.errorTTL
	}
	return b, c.ttl
}

// Verdictable turns a prober's answer into validate's, with what is known
// of the domain's catch-all. Temporary answers become unavailable: callers
// that retry greylisting (bulk jobs) do so before asking for this.
func Verdictable(a Answer, catchAll *bool) validate.MailboxAnswer {
	out := validate.MailboxAnswer{Code: a.Code, Enhanced: a.Enhanced, Host: a.Host, Detail: a.Detail}
	switch a.Status {
	case Accepted:
		out.Status = validate.MailboxDeliverable
		switch {
		case catchAll == nil:
			// Accepted, but whether the domain accepts everything is not
			// known: no claim either way.
			out.Status = validate.MailboxUnavailable
			out.Detail = "the mail exchanger accepted the address but would not say whether it accepts every address"
		case *catchAll:
			out.CatchAll = true
		}
	case NotFound:
		out.Status = validate.MailboxNotFound
	case Full:
		out.Status = validate.MailboxFull
	default:
		out.Status = validate.MailboxUnavailable
	}
	return out
}

// addressKey is the cache key of an address: a hash, so that the cache
// holds no addresses.
func addressKey(local, domain string) string {
	h := sha256.Sum256([]byte(local + "@" + domain))
	return "a:" + hex.EncodeToString(h[:16])
}

func hosts(mx []validate.MX) []string {
	out := make([]string, 0, len(mx))
	for _, m := range mx {
		out = append(out, m.Host)
	}
	return out
}
