// Package apigen holds the server interface, types and embedded spec
// generated from openapi.yaml. Nothing here is written by hand: change the
// spec and run `go generate ./...`.
package apigen

//go:generate go tool oapi-codegen -config cfg.yaml ../../openapi.yaml
