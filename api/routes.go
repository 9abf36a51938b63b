package api

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4/middleware"

	"github.com/leadcheck/leadcheck/api/apigen"
)

// routes is the whole API on one screen. Parameter binding comes from the
// code generated from openapi.yaml (apigen.ServerInterfaceWrapper).
func (s *Server) routes() {
	e := s.echo
	gen := &apigen.ServerInterfaceWrapper{Handler: handlers{s}}

	e.Use(s.requestID, s.httpMetrics, s.accessLog, middleware.Recover())
	// Preflights carry no key, so they are answered for every origin any
	// publishable key lists plus LEADCHECK_CORS_ORIGINS; the real request
	// is then held to its own key's origins (keyed).
	if corsOrigins := slices.Concat(s.opts.CORSOrigins, s.keys.Origins()); len(corsOrigins) > 0 {
		// Only when configured: Echo's CORS middleware with no origins
		// would allow every origin.
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  corsOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodDelete},
			AllowHeaders:  []string{"Content-Type", "X-API-Key", "Authorization", headerRequestID},
			ExposeHeaders: []string{headerRequestID, "Location", "Retry-After", "RateLimit", "RateLimit-Policy"},
			MaxAge:        600,
		}))
	}
	small, upload := limitBody(s.opts.MaxBodyBytes), limitBody(s.opts.MaxUploadBytes)

	// Public: the widget, the demo page, probes and the contract.
	e.GET("/", gen.DemoPage)
	e.GET("/widget.js", gen.WidgetScript)
	e.GET("/demo.js", gen.DemoScript)
	e.GET("/healthz", gen.Healthz)
	e.GET("/readyz", gen.Readyz)
	e.GET("/metrics", gen.Metrics)
	e.GET("/openapi.yaml", gen.OpenapiSpec)

	// Keyed when keys are configured (LEADCHECK_KEYS_FILE,
	// LEADCHECK_API_KEYS). The key check is per route, not on a group: an
	// Echo group with middleware answers 404 where a wrong method deserves
	// 405. Publishable keys: validate and usage only; secret keys: all.
	validateKey, secretKey, bulkKey := s.keyed(accessValidate), s.keyed(accessEnrich), s.keyed(accessBulk)
	e.GET("/v1/validate", gen.ValidateQuery, validateKey, s.shedding, small)
	e.POST("/v1/validate", gen.ValidateLead, validateKey, s.shedding, small)
	e.POST("/v1/enrich", gen.EnrichLead, secretKey, s.shedding, small)
	e.GET("/v1/usage", gen.GetUsage, s.keyed(accessUsage), small)

	e.POST("/v1/bulk", gen.CreateBulkJob, bulkKey, upload)
	e.GET("/v1/bulk", gen.ListBulkJobs, bulkKey, small)
	e.GET("/v1/bulk/:id", gen.GetBulkJob, bulkKey, small)
	e.DELETE("/v1/bulk/:id", gen.DeleteBulkJob, bulkKey, small)
	e.GET("/v1/bulk/:id/results", gen.GetBulkResults, bulkKey, small)
}
