package api

import (
	"github.com/labstack/echo/v4"
)

func (h handlers) EnrichLead(c echo.Context) error { return errNotImplemented }

// Enricher is what the API needs from enrichment.
type Enricher interface{}
