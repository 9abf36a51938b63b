package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/api/apigen"
	"github.com/leadcheck/leadcheck/internal/keys"
	"github.com/leadcheck/leadcheck/internal/limits"
)

// access is what a route asks of the key that calls it.
type access int

const (
	// accessValidate: any key (publishable ones from their origins); one
	// unit of the daily quota per request.
	accessValidate access = iota + 1
	// accessEnrich: secret keys only; one unit of quota per request.
	accessEnrich
	// accessBulk: secret keys only; bulk rows are counted at upload.
	accessBulk
	// accessUsage: any key; costs no quota.
	accessUsage
)

// keyOfCtx is where keyed leaves the caller's *keys.Key.
const keyOfCtx = "api_key"

// keyOf is the caller's key; nil in open mode.
func keyOf(c echo.Context) *keys.Key {
	k, _ := c.Get(keyOfCtx).(*keys.Key)
	return k
}

// presentedKey reads the key from X-API-Key or a bearer token.
func presentedKey(r *http.Request) string {
	if key := r.Header.Get("X-API-Key"); key != "" {
		return key
	}
	if auth := r.Header.Get("Authorization"); len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// keyed checks, in order: the key (401), what its kind may call (403
// key_not_allowed), the browser origin (403 origin_not_allowed), its rate
// (429 rate_limited) and, for validations, its daily quota (429
// quota_exceeded). Every keyed answer carries RateLimit-Policy and
// RateLimit. In open mode it lets everything through unlimited: open mode
// is a choice logged loudly at start, never a fallback.
func (s *Server) keyed(a access) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.keys.Len() == 0 {
				return next(c)
			}
			r := c.Request()
			presented := presentedKey(r)
			if presented == "" {
				return &Error{Status: http.StatusUnauthorized, Code: "missing_api_key",
					Message: "this server needs an API key; send it in X-API-Key or Authorization: Bearer"}
			}
			k, ok := s.keys.Lookup(presented)
			if !ok {
				return &Error{Status: http.StatusUnauthorized, Code: "invalid_api_key",
					Message: "the API key is not valid; check it or ask the operator for one"}
			}
			c.Set(callerKey, k.Name)
			c.Set(keyOfCtx, k)
			if k.Kind == keys.Publishable && (a == accessEnrich || a == accessBulk) {
				return &Error{Status: http.StatusForbidden, Code: "key_not_allowed",
					Message: "a publishable key may only call GET and POST /v1/validate; use a secret key from a server for this route"}
			}
			if origin := r.Header.Get(echo.HeaderOrigin); !k.AllowsOrigin(origin) {
				return &Error{Status: http.StatusForbidden, Code: "origin_not_allowed",
					Message: "this key is not for pages on this origin; add the origin to the key's origins in the keys file"}
			}
			bucket := "rate:" + k.Name
			if k.Kind == keys.Publishable {
				bucket += ":" + clientBucket(c.RealIP())
			}
			ctx := r.Context()
			d := s.limiter.Allow(ctx, bucket, k.Rate, k.Burst)
			h := c.Response().Header()
			daily := k.DailyQuota > 0 && (a == accessValidate || a == accessEnrich)
			field := appendLimitItem(make([]byte, 0, 64), "rate", d.Remaining, ceilSeconds(d.ResetAfter))
			if !d.Allowed {
				setRateLimitHeaders(h, s.policyOf(k, false), field)
				h.Set("Retry-After", strconv.Itoa(max(ceilSeconds(d.RetryAfter), 1)))
				return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
					Message: fmt.Sprintf("this key allows %s (burst %d)%s; wait Retry-After seconds and send again", k.Rate, k.Burst, perIP(k))}
			}
			if daily {
				sp := s.limiter.Spend(ctx, 1, limits.Quota{Counter: quotaCounter(k), Limit: k.DailyQuota})
				left := max(k.DailyQuota-sp.Used[0], 0)
				reset := ceilSeconds(sp.ResetAt.Sub(s.now()))
				field = appendLimitItem(append(field, ", "...), "daily", clampInt(left), reset)
				if !sp.Allowed {
					setRateLimitHeaders(h, s.policyOf(k, true), field)
					h.Set("Retry-After", strconv.Itoa(max(reset, 1)))
					return errQuotaExceeded(k, 1, left)
				}
			}
			setRateLimitHeaders(h, s.policyOf(k, daily), field)
			return next(c)
		}
	}
}

func errQuotaExceeded(k *keys.Key, asked, left int64) *Error {
	return &Error{Status: http.StatusTooManyRequests, Code: "quota_exceeded",
		Message: fmt.Sprintf("this key's daily quota of %d validations and bulk rows is used up (%d asked, %d left); it renews at 00:00 UTC, see GET /v1/usage", k.DailyQuota, asked, left)}
}

func perIP(k *keys.Key) string {
	if k.Kind == keys.Publishable {
		return " per client IP"
	}
	return ""
}

// quotaCounter and bulkRowsCounter name a key's daily counters.
func quotaCounter(k *keys.Key) string    { return "quota:" + k.Name }
func bulkRowsCounter(k *keys.Key) string { return "bulkrows:" + k.Name }

// rateLimitPolicy is the RateLimit-Policy field of k (IETF httpapi
// draft): its rate as "rate";q=<burst>;w=<seconds>, and with daily its
// quota as "daily";q=<quota>;w=86400.
func rateLimitPolicy(k *keys.Key, daily bool) string {
	p := appendPolicyItem(nil, "rate", k.Burst, int(k.Rate.Per/time.Second))
	if daily {
		p = appendPolicyItem(append(p, ", "...), "daily", clampInt(k.DailyQuota), 86400)
	}
	return string(p)
}

// policyOf is rateLimitPolicy, written once per key at start.
func (s *Server) policyOf(k *keys.Key, daily bool) string {
	if p, ok := s.policies[k]; ok {
		if daily {
			return p[1]
		}
		return p[0]
	}
	return rateLimitPolicy(k, daily)
}

// policiesOf writes rateLimitPolicy of every key, without and with daily.
func policiesOf(set *keys.Set) map[*keys.Key][2]string {
	out := map[*keys.Key][2]string{}
	for _, k := range set.Keys() {
		out[k] = [2]string{rateLimitPolicy(k, false), rateLimitPolicy(k, true)}
	}
	return out
}

// appendPolicyItem and appendLimitItem write one item of RateLimit-Policy
// ("name";q=1;w=2) and of RateLimit ("name";r=1;t=2).
func appendPolicyItem(b []byte, name string, q, w int) []byte {
	b = append(append(append(b, '"'), name...), `";q=`...)
	b = append(strconv.AppendInt(b, int64(q), 10), ";w="...)
	return strconv.AppendInt(b, int64(w), 10)
}

func appendLimitItem(b []byte, name string, r, t int) []byte {
	b = append(append(append(b, '"'), name...), `";r=`...)
	b = append(strconv.AppendInt(b, int64(r), 10), ";t="...)
	return strconv.AppendInt(b, int64(t), 10)
}

// The header names in canonical form, so setting them costs no
// canonicalisation.
const (
	headerRateLimitPolicy = "Ratelimit-Policy"
	headerRateLimit       = "Ratelimit"
)

func setRateLimitHeaders(h http.Header, policy string, field []byte) {
	h[headerRateLimitPolicy] = []string{policy}
	h[headerRateLimit] = []string{string(field)}
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

func clampInt(v int64) int {
	return int(min(v, math.MaxInt32))
}

// clientBucket is the part of a client address a per-IP limit counts:
// the address itself for IPv4, its /64 for IPv6, since one host commonly
// holds a whole /64 and could rotate through it.
func clientBucket(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return "unknown"
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// ipExtractor decides where a client's address comes from: the peer
// address, or X-Forwarded-For when the peer is a trusted proxy. Echo's
// defaults would trust loopback and private peers; nothing is trusted here
// that the operator did not list.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixToIPNet(p)))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// usageOf reads a key's use today without spending any of it.
func (s *Server) usageOf(ctx context.Context, k *keys.Key) (quotaUsed, bulkRows int64, resetAt time.Time) {
	sp := s.limiter.Spend(ctx, 0, limits.Quota{Counter: quotaCounter(k)}, limits.Quota{Counter: bulkRowsCounter(k)})
	return sp.Used[0], sp.Used[1], sp.ResetAt
}

// admitBulkRows spends rows from the caller's quota and bulk-row budget
// before a job is created; a job larger than what remains is refused.
func (s *Server) admitBulkRows(ctx context.Context, k *keys.Key, rows int) error {
	if k == nil || (k.DailyQuota == 0 && k.BulkRowsPerDay == 0) {
		return nil
	}
	sp := s.limiter.Spend(ctx, int64(rows),
		limits.Quota{Counter: quotaCounter(k), Limit: k.DailyQuota},
		limits.Quota{Counter: bulkRowsCounter(k), Limit: k.BulkRowsPerDay})
	if sp.Allowed {
		return nil
	}
	retry := max(ceilSeconds(sp.ResetAt.Sub(s.now())), 1)
	if sp.Refused == 1 {
		left := max(k.BulkRowsPerDay-sp.Used[1], 0)
		return &Error{Status: http.StatusTooManyRequests, Code: "quota_exceeded", Field: "file", RetryAfter: retry,
			Message: fmt.Sprintf("the file has %d rows and this key has %d of its %d bulk rows a day left; send a smaller file or wait until 00:00 UTC", rows, left, k.BulkRowsPerDay)}
	}
	left := max(k.DailyQuota-sp.Used[0], 0)
	e := errQuotaExceeded(k, int64(rows), left)
	e.Field, e.RetryAfter = "file", retry
	e.Message = fmt.Sprintf("the file has %d rows and this key has %d of its daily quota of %d left; send a smaller file or wait until 00:00 UTC", rows, left, k.DailyQuota)
	return e
}

// GetUsage answers GET /v1/usage: the caller's key, its limits and today's
// use. In open mode there is no key to report.
func (h handlers) GetUsage(c echo.Context) error {
	k := keyOf(c)
	if k == nil {
		return &Error{Status: http.StatusNotFound, Code: "no_keys",
			Message: "this server runs in open mode, without keys or limits; configure LEADCHECK_KEYS_FILE to get usage"}
	}
	used, rows, reset := h.s.usageOf(c.Request().Context(), k)
	u := apigen.Usage{
		Name:       k.Name,
		Kind:       apigen.UsageKind(k.Kind),
		Rate:       k.Rate.String(),
		Burst:      k.Burst,
		DailyQuota: k.DailyQuota,
		UsedToday:  used,
		// The bulk fields are a secret key's; a publishable key has none.
		BulkRowsToday: rows,
		ResetsAt:      reset,
	}
	if k.DailyQuota > 0 {
		left := max(k.DailyQuota-used, 0)
		u.RemainingToday = &left
	}
	if k.Kind == keys.Publishable {
		origins := slices.Clone(k.Origins)
		u.Origins = &origins
	} else {
		u.BulkRowsPerDay, u.MaxRunningJobs, u.MaxQueuedJobs = &k.BulkRowsPerDay, &k.MaxRunningJobs, &k.MaxQueuedJobs
	}
	return c.JSON(http.StatusOK, u)
}

// errOverloaded refuses a validation past the real-time bounds.
var errOverloaded = &Error{Status: http.StatusServiceUnavailable, Code: "overloaded", RetryAfter: 1,
	Message: "too many validations are in flight on this server; retry after Retry-After seconds"}

// shedding takes a validation slot for the request, or refuses it with 503
// overloaded; its lookups are then bounded too (see package shed).
func (s *Server) shedding(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, release, ok := s.deps.Gate.Enter(c.Request().Context())
		if !ok {
			return errOverloaded
		}
		defer release()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}
