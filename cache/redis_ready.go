package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// Ping asks Redis for a PING through the pool. A connection dialled for it
// authenticates and selects the database of the URL first, so a wrong
// password or database shows here, not only at the first cache lookup. It
// bypasses the circuit breaker: readiness must see Redis as it is.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// DescribeRedisError says in a sentence why Redis is not usable and what
// to check, for /readyz and the logs. It never repeats the URL (which may
// hold the password).
func DescribeRedisError(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	var ne net.Error
	switch {
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"), strings.Contains(msg, "invalid username-password"):
		return "authentication failed (Redis said WRONGPASS); check the user and password in LEADCHECK_REDIS_URL"
	case strings.Contains(msg, "NOAUTH"):
		return "Redis wants a password and none was sent; put it in LEADCHECK_REDIS_URL (redis://:password@host:6379/0)"
	case strings.Contains(msg, "DB index is out of range"):
		return "Redis has no such database; check the /db number at the end of LEADCHECK_REDIS_URL"
	case strings.Contains(msg, "NOPERM"):
		return "the Redis user lacks a permission it needs (" + redisReply(msg) + "); check its ACL"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "Redis did not answer in time (timeout); check that it runs and is reachable"
	case strings.Contains(msg, "connection refused"):
		return "nothing listens at the Redis address (connection refused); check LEADCHECK_REDIS_URL and that Redis runs"
	case errors.As(err, &ne):
		return "Redis cannot be reached (" + redisReply(msg) + "); check LEADCHECK_REDIS_URL"
	}
	return "Redis answered with an error (" + redisReply(msg) + ")"
}

// redisReply is the last part of an error chain, Redis' own words, cut
// short.
func redisReply(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}
