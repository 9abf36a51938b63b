package api

import (
	"time"

	"github.com/labstack/echo/v4"
)

// httpMetrics counts and times every request by route pattern, method and
// status class. It runs outside accessLog, which has written any error by
// the time it returns, so the status counted is the one sent. A path that
// matched no route is "unmatched": paths are the client's to invent.
func (s *Server) httpMetrics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.deps.Recorder == nil {
			return next(c)
		}
		start := time.Now()
		err := next(c)
		route := c.Path()
		if !s.routePatterns[route] {
			route = "unmatched"
		}
		s.deps.Recorder.HTTPRequest(route, c.Request().Method, c.Response().Status, time.Since(start))
		return err
	}
}
