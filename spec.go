// Package leadcheck carries the files of the repository root that the binary
// embeds: the OpenAPI document is the contract, served as written.
package leadcheck

import _ "embed"

// OpenAPISpec is openapi.yaml, byte for byte.
//
//go:embed openapi.yaml
var OpenAPISpec []byte
