package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/api/apigen"
	"github.com/leadcheck/leadcheck/enrich"
	"github.com/leadcheck/leadcheck/internal/shed"
	"github.com/leadcheck/leadcheck/validate"
)

// Enricher is what the API needs from enrichment: adding it to a lead the
// engine has already judged, so /v1/enrich and options.enrich validate
// once, under the same time budget as /v1/validate. *enrich.Enricher
// implements it.
type Enricher interface {
	EnrichResult(ctx context.Context, req validate.Request, res validate.Result) enrich.Enrichment
}

var _ Enricher = (*enrich.Enricher)(nil)

// errNoEnricher answers POST /v1/enrich on a server built without an
// Enricher (tests and embedders that do not need it); the leadcheck binary
// always has one.
var errNoEnricher = &Error{Status: http.StatusNotImplemented, Code: "enrichment_disabled",
	Message: "enrichment is not enabled on this server"}

// enrichedResult is the validate answer with enrichment, for
// options.enrich: the result's fields stay at the top level.
type enrichedResult struct {
	validate.Result
	Enrichment *enrich.Enrichment `json:"enrichment,omitempty"`
}

// EnrichLead answers POST /v1/enrich: the same input as validate, the
// Enrichment as answer. A site that fails is a gap in the answer, never an
// error status.
func (h handlers) EnrichLead(c echo.Context) error {
	var body apigen.ValidateRequest
	if err := decodeJSON(c.Request(), &body); err != nil {
		return err
	}
	if h.s.deps.Enricher == nil {
		return errNoEnricher
	}
	req := requestOf(body)
	if err := h.checkSMTP(req); err != nil {
		return err
	}
	res, err := h.judge(c.Request().Context(), req)
	if err != nil {
		return err
	}
	e := h.s.deps.Enricher.EnrichResult(c.Request().Context(), req, res)
	return c.JSON(http.StatusOK, e)
}

// validateAndEnrich answers POST /v1/validate with options.enrich. A
// server built without an Enricher answers the plain validation: the
// option asks for more, and validation itself must not fail for it.
func (h handlers) validateAndEnrich(c echo.Context, req validate.Request) error {
	if h.s.deps.Enricher == nil {
		return h.validate(c, req)
	}
	if err := h.checkSMTP(req); err != nil {
		return err
	}
	res, err := h.judge(c.Request().Context(), req)
	if err != nil {
		return err
	}
	e := h.s.deps.Enricher.EnrichResult(c.Request().Context(), req, res)
	return c.JSON(http.StatusOK, enrichedResult{Result: res, Enrichment: &e})
}

// judge validates under the validation time budget.
func (h handlers) judge(ctx context.Context, req validate.Request) (validate.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, h.s.opts.ValidateTimeout)
	defer cancel()
	res, err := h.s.deps.Engine.Validate(ctx, req)
	if err == nil && shed.Refused(ctx) {
		// A lookup was not even asked: the "unknown" it left says nothing
		// about the lead.
		return res, errOverloaded
	}
	if err == nil {
		h.s.deps.Recorder.Validation(&res)
	}
	return res, err
}

// requestOf turns the JSON body into the engine's request.
func requestOf(body apigen.ValidateRequest) validate.Request {
	return validate.Request{
		Email:   deref(body.Email),
		Phone:   deref(body.Phone),
		Country: deref(body.Country),
		Domain:  deref(body.Domain),
		Name:    deref(body.Name),
		Company: deref(body.Company),
		SMTP:    body.Options != nil && body.Options.Smtp != nil && *body.Options.Smtp,
	}
}

// wantsEnrichment reports options.enrich.
func wantsEnrichment(body apigen.ValidateRequest) bool {
	return body.Options != nil && body.Options.Enrich != nil && *body.Options.Enrich
}
