// Package apitest holds what the end-to-end tests share: a transport that
// checks every response against openapi.yaml, so a handler that drifts from
// the contract fails the suite wherever it is exercised.
package apitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/leadcheck/leadcheck"
)

// Reporter receives contract violations; *testing.T fits.
type Reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

var (
	routerOnce sync.Once
	router     routers.Router
	routerErr  error
)

// specRouter loads openapi.yaml once per test binary: loading and
// validating the document costs more than the tests that use it.
func specRouter() (routers.Router, error) {
	routerOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(leadcheck.OpenAPISpec)
		if err != nil {
			routerErr = fmt.Errorf("load openapi.yaml: %w", err)
			return
		}
		if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
			routerErr = fmt.Errorf("openapi.yaml is not valid: %w", err)
			return
		}
		doc.Servers = nil // match whatever host the test server has
		// NDJSON downloads are text to the spec; kin-openapi must be told
		// so to check them.
		openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
		router, routerErr = gorillamux.NewRouter(doc)
	})
	return router, routerErr
}

// Transport checks each response (and, with CheckRequests, each request)
// passing through it against the spec and reports any mismatch (undocumented status, wrong body shape,
// missing required field, value outside an enum) to Reporter.
type Transport struct {
	Base     http.RoundTripper
	Reporter Reporter
	// CheckRequests checks requests too. Leave it off in tests that send
	// deliberately bad input to see how the server answers it.
	CheckRequests bool
}

// RoundTrip implements http.RoundTripper.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.CheckRequests {
		if err := t.checkRequest(req); err != nil {
			t.Reporter.Helper()
			t.Reporter.Errorf("%s %s: request breaks openapi.yaml: %v", req.Method, req.URL.Path, err)
		}
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := CheckResponse(req, resp.StatusCode, resp.Header, body); err != nil {
		t.Reporter.Helper()
		t.Reporter.Errorf("%s %s: response breaks openapi.yaml: %v\nbody: %s", req.Method, req.URL.Path, err, body)
	}
	return resp, nil
}

// checkRequest validates req against the spec, leaving its body readable.
func (t Transport) checkRequest(req *http.Request) error {
	r, err := specRouter()
	if err != nil {
		return err
	}
	route, params, err := r.FindRoute(req)
	if err != nil {
		return fmt.Errorf("route not in the spec: %w", err)
	}
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	// The validator consumes the body it reads: give it its own copy.
	check := req.Clone(req.Context())
	check.Body = io.NopCloser(bytes.NewReader(body))
	return openapi3filter.ValidateRequest(req.Context(), &openapi3filter.RequestValidationInput{
		Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	})
}

// CheckResponse validates one response to req against the spec.
func CheckResponse(req *http.Request, status int, header http.Header, body []byte) error {
	r, err := specRouter()
	if err != nil {
		return err
	}
	route, params, err := r.FindRoute(req)
	if err != nil {
		return fmt.Errorf("route not in the spec: %w", err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true, // a status the spec does not list is an error
			MultiError:            true,
		},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(req.Context(), in)
}
