package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/api/apigen"
	"github.com/leadcheck/leadcheck/validate"
)

// handlers implements the generated apigen.ServerInterface. Each handler
// binds, calls the domain package with the request's context, and responds.
type handlers struct{ s *Server }

var _ apigen.ServerInterface = handlers{}

func (h handlers) Healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, apigen.Health{Status: apigen.HealthStatusOk})
}

func (h handlers) Readyz(c echo.Context) error {
	checks := map[string]string{}
	var details map[string]string
	status := apigen.ReadinessStatusReady
	for name, check := range h.s.deps.Checks {
		got := check()
		checks[name] = got.State
		if got.State != "ok" && got.State != "disabled" {
			status = apigen.ReadinessStatusDegraded
		}
		if got.Detail != "" {
			if details == nil {
				details = map[string]string{}
			}
			details[name] = got.Detail
		}
	}
	body := apigen.Readiness{Status: status, Checks: checks}
	if details != nil {
		body.Details = &details
	}
	if !h.s.ready.Load() {
		body.Status = apigen.ReadinessStatusStopping
		return c.JSON(http.StatusServiceUnavailable, body)
	}
	return c.JSON(http.StatusOK, body)
}

func (h handlers) Metrics(c echo.Context) error {
	if h.s.deps.Metrics == nil {
		return echo.ErrNotFound
	}
	h.s.deps.Metrics.ServeHTTP(c.Response(), c.Request())
	return nil
}

func (h handlers) OpenapiSpec(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", h.s.deps.Spec)
}

func (h handlers) ValidateQuery(c echo.Context, p apigen.ValidateQueryParams) error {
	return h.validate(c, validate.Request{
		Email:   deref(p.Email),
		Phone:   deref(p.Phone),
		Country: deref(p.Country),
		Domain:  deref(p.Domain),
		SMTP:    p.Smtp != nil && *p.Smtp,
	})
}

func (h handlers) ValidateLead(c echo.Context) error {
	var body apigen.ValidateRequest
	if err := decodeJSON(c.Request(), &body); err != nil {
		return err
	}
	if wantsEnrichment(body) {
		return h.validateAndEnrich(c, requestOf(body))
	}
	return h.validate(c, requestOf(body))
}

func (h handlers) validate(c echo.Context, req validate.Request) error {
	if err := h.checkSMTP(req); err != nil {
		return err
	}
	res, err := h.judge(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// decodeJSON reads one JSON object into v and turns every way it can go
// wrong into an error that names the problem and the fix. Unknown fields
// are refused: a misspelt "emial" silently ignored would hide a bug in the
// caller.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
				Message: fmt.Sprintf("Content-Type %q is not JSON; send application/json", ct)}
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errBodyTooLarge(tooBig.Limit)
		}
		return &Error{Status: http.StatusBadRequest, Code: "unreadable_body", Message: "the request body could not be read; send it again"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Status: http.StatusBadRequest, Code: "empty_body",
			Message: `the body is empty; send a JSON object such as {"email": "jane@acme.com"}`}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(body, err)
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the body holds more than one JSON value; send exactly one object"}
	}
	return nil
}

// jsonError explains a decoding failure with its position and field.
func jsonError(body []byte, err error) *Error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		line, col := position(body, syntax.Offset)
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json",
			Message: fmt.Sprintf("malformed JSON at line %d, column %d: %s; send a valid JSON object", line, col, syntax.Error())}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the JSON ends early; send a complete JSON object"}
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return &Error{Status: http.StatusBadRequest, Code: "invalid_json",
				Message: fmt.Sprintf("the body is a JSON %s; send a JSON object", typeErr.Value)}
		}
		return &Error{Status: http.StatusBadRequest, Code: "invalid_field_type", Field: typeErr.Field,
			Message: fmt.Sprintf("%s must be a %s, not a JSON %s", typeErr.Field, jsonKind(typeErr.Type.String()), typeErr.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &Error{Status: http.StatusBadRequest, Code: "unknown_field", Field: field,
			Message: fmt.Sprintf("unknown field %q; the fields are email, phone, country, domain, name, company and options", field)}
	default:
		return &Error{Status: http.StatusBadRequest, Code: "invalid_json", Message: "the body is not valid JSON; send a JSON object"}
	}
}

// jsonKind names a Go type the way a JSON client thinks of it.
func jsonKind(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int64", "float64", "float32":
		return "number"
	default:
		return "object"
	}
}

// position turns a byte offset into a 1-based line and column.
func position(body []byte, offset int64) (line, col int) {
	if offset > int64(len(body)) {
		offset = int64(len(body))
	}
	before := body[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
