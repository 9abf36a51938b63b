// Package web holds the browser side of leadcheck, embedded in the binary:
// the on-blur widget (/widget.js) a form includes with one tag, and the demo
// page (/) with a lead form and a bulk upload panel.
package web

import "embed"

// Files are the static files served as they are.
//
//go:embed index.html widget.js demo.js
var Files embed.FS
