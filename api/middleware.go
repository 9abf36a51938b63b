package api

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

const headerRequestID = "X-Request-Id"

// callerKey is where requireKey leaves the caller's id for handlers.
const callerKey = "caller"

// callerOf identifies the caller for ownership (bulk jobs), logs and
// metrics: the name of its key from the keys file (a stable id that is
// never the key nor a hash of it); "" in open mode, where all callers are
// one. It is the one function that names a caller.
func callerOf(c echo.Context) string {
	id, _ := c.Get(callerKey).(string)
	return id
}

// requestID gives every request an id: the caller's X-Request-Id when it is
// short and plain (so ids can be traced across services), a fresh random one
// otherwise. The id goes into the response header, every log line and
// every error body.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(headerRequestID)
		if !plainID(id) {
			id = newRequestID()
		}
		c.Set(headerRequestID, id)
		c.Response().Header().Set(headerRequestID, id)
		return next(c)
	}
}

func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

func requestIDOf(c echo.Context) string {
	if id, ok := c.Get(headerRequestID).(string); ok {
		return id
	}
	return ""
}

// loggerOf is base with the request's id. It is built only when a line is
// written: a child logger per request would cost every request.
func loggerOf(c echo.Context, base *slog.Logger) *slog.Logger {
	return base.With("request_id", requestIDOf(c))
}

// accessLog writes one line per request. It logs the path, never the query
// string: queries carry email addresses and phone numbers.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Write the error now so the logged status is the real one.
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.logger.LogAttrs(c.Request().Context(), level, "request",
			slog.String("request_id", requestIDOf(c)),
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.Int("status", status),
			// The key's name ("" in open mode or before the key check).
			slog.String("key", callerOf(c)),
			slog.Duration("duration", time.Since(start)),
		)
		return nil
	}
}

// limitBody caps the request body at limit bytes; reading past the cap
// fails with *http.MaxBytesError, which the error handler turns into a 413.
func limitBody(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.ContentLength > limit {
				return errBodyTooLarge(limit)
			}
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
			return next(c)
		}
	}
}
