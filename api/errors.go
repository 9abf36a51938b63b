package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/api/apigen"
	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/validate"
)

// Error is an HTTP error with a machine code and a message for people that
// says what to do. Handlers return it; handleError writes it.
type Error struct {
	Status  int
	Code    string
	Field   string
	Message string
	// RetryAfter, in seconds, is sent as Retry-After when positive.
	RetryAfter int
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errBodyTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("the body is larger than %d bytes; send a smaller one", limit)}
}

// handleError is the one place that writes errors. It maps domain errors to
// a status and the JSON envelope; internal error text never reaches clients.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	apiErr := s.toAPIError(err)
	rid := requestIDOf(c)
	if apiErr.Status == statusClientClosed {
		loggerOf(c, s.logger).Info("client closed the connection before the answer", "method", c.Request().Method, "path", c.Request().URL.Path)
		_ = c.NoContent(statusClientClosed) // no one reads it; the access log shows 499
		return
	}
	if apiErr.Status != http.StatusInternalServerError {
		s.deps.Recorder.Refusal(callerOf(c), apiErr.Code)
	}
	if apiErr.Status >= 500 {
		loggerOf(c, s.logger).Error("request failed", "err", err, "status", apiErr.Status)
	}
	if apiErr.RetryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(apiErr.RetryAfter))
	}
	body := apigen.ErrorResponse{Error: apigen.Error{Code: apiErr.Code, Message: apiErr.Message, RequestId: rid}}
	if apiErr.Field != "" {
		body.Error.Field = &apiErr.Field
	}
	var werr error
	if c.Request().Method == http.MethodHead {
		werr = c.NoContent(apiErr.Status)
	} else {
		werr = c.JSON(apiErr.Status, body)
	}
	if werr != nil {
		loggerOf(c, s.logger).Warn("writing error response", "err", werr)
	}
}

func (s *Server) toAPIError(err error) *Error {
	var apiErr *Error
	var inputErr *validate.InputError
	var tooBig *http.MaxBytesError
	var httpErr *echo.HTTPError
	var bulkErr *bulk.Error
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &inputErr):
		return &Error{Status: http.StatusBadRequest, Code: inputErr.Code, Field: inputErr.Field, Message: inputErr.Message}
	case errors.As(err, &bulkErr):
		return fromBulkError(bulkErr)
	case errors.As(err, &tooBig):
		return errBodyTooLarge(tooBig.Limit)
	case errors.As(err, &httpErr):
		return fromEchoError(httpErr)
	default:
		return &Error{Status: http.StatusInternalServerError, Code: "internal_error",
			Message: "something went wrong on our side; retry, and report the request id if it persists"}
	}
}

// fromBulkError gives a bulk refusal its status.
func fromBulkError(e *bulk.Error) *Error {
	status := http.StatusBadRequest
	switch e.Kind {
	case bulk.KindNotFound:
		status = http.StatusNotFound
	case bulk.KindConflict:
		status = http.StatusConflict
	case bulk.KindTooMany:
		return &Error{Status: http.StatusTooManyRequests, Code: e.Code, Field: e.Field, Message: e.Message, RetryAfter: 30}
	case bulk.KindInsufficientStorage:
		status = http.StatusInsufficientStorage
	case bulk.KindUnavailable:
		return &Error{Status: http.StatusServiceUnavailable, Code: e.Code, Field: e.Field, Message: e.Message, RetryAfter: 5}
	}
	return &Error{Status: status, Code: e.Code, Field: e.Field, Message: e.Message}
}

// fromEchoError covers the errors Echo and the generated binder raise
// themselves (unknown route, wrong method, bad query parameter).
func fromEchoError(he *echo.HTTPError) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return &Error{Status: he.Code, Code: "not_found", Message: "no such route; see /openapi.yaml for the API"}
	case http.StatusMethodNotAllowed:
		return &Error{Status: he.Code, Code: "method_not_allowed", Message: "this route does not take that method; see /openapi.yaml"}
	case http.StatusRequestEntityTooLarge:
		return &Error{Status: he.Code, Code: "body_too_large", Message: "the body is too large; send a smaller one"}
	case http.StatusUnauthorized:
		return &Error{Status: he.Code, Code: "unauthorized", Message: "send a valid API key in X-API-Key or Authorization: Bearer"}
	}
	if he.Code >= 400 && he.Code < 500 {
		// The generated binder reports bad query parameters this way; its
		// message names the parameter.
		return &Error{Status: he.Code, Code: "bad_request", Message: fmt.Sprint(he.Message)}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal_error",
		Message: "something went wrong on our side; retry, and report the request id if it persists"}
}
