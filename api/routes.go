package api

import (
	"net/http"

	"github.com/labstack/echo/v4/middleware"

	"github.com/leadcheck/leadcheck/api/apigen"
)

// routes is the whole API on one screen. Parameter binding comes from the
// code generated from openapi.yaml (apigen.ServerInterfaceWrapper).
func (s *Server) routes() {
	e := s.echo
	gen := &apigen.ServerInterfaceWrapper{Handler: handlers{s}}

	e.Use(s.requestID, s.httpMetrics, s.accessLog, middleware.Recover())
	if len(s.opts.CORSOrigins) > 0 {
		// Only when configured: Echo's CORS middleware with no origins
		// would allow every origin.
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:  s.opts.CORSOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodPost, http.MethodDelete},
			AllowHeaders:  []string{"Content-Type", "X-API-Key", "Authorization", headerRequestID},
			ExposeHeaders: []string{headerRequestID, "Location"},
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

	// Keyed when LEADCHECK_API_KEYS is set. The key check is per route, not
	// on a group: an Echo group with middleware answers 404 where a wrong
	// method deserves 405.
	e.GET("/v1/validate", gen.ValidateQuery, s.requireKey, small)
	e.POST("/v1/validate", gen.ValidateLead, s.requireKey, small)
	e.POST("/v1/enrich", gen.EnrichLead, s.requireKey, small)

	e.POST("/v1/bulk", gen.CreateBulkJob, s.requireKey, upload)
	e.GET("/v1/bulk", gen.ListBulkJobs, s.requireKey, small)
	e.GET("/v1/bulk/:id", gen.GetBulkJob, s.requireKey, small)
	e.DELETE("/v1/bulk/:id", gen.DeleteBulkJob, s.requireKey, small)
	e.GET("/v1/bulk/:id/results", gen.GetBulkResults, s.requireKey, small)
}
