package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/api/apigen"
)

// errNotImplemented marks routes whose handlers are not written yet.
var errNotImplemented = &Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "not available yet"}

func (h handlers) CreateBulkJob(c echo.Context) error { return errNotImplemented }

func (h handlers) ListBulkJobs(c echo.Context, p apigen.ListBulkJobsParams) error {
	return errNotImplemented
}

func (h handlers) GetBulkJob(c echo.Context, id apigen.JobID) error { return errNotImplemented }

func (h handlers) DeleteBulkJob(c echo.Context, id apigen.JobID) error { return errNotImplemented }

func (h handlers) GetBulkResults(c echo.Context, id apigen.JobID, p apigen.GetBulkResultsParams) error {
	return errNotImplemented
}

// BulkService is what the API needs from the bulk job service.
type BulkService interface{}
