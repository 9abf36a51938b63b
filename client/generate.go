// Package client is the Go client of the leadcheck API, generated from
// openapi.yaml. The CLI and the end-to-end tests use it, so it is exercised
// on every test run.
package client

//go:generate go tool oapi-codegen -config cfg.yaml ../openapi.yaml
