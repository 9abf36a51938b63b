package api

import (
	"github.com/labstack/echo/v4"
)

func (h handlers) EnrichLead(c echo.Context) error { return errNotImplemented }
