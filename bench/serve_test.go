package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/validate"
)

// The benchmarks below are B1 without the network and without the load
// generator: the service's handler for a cached GET /v1/validate and the
// framework floor's handler, called in-process on the same goroutine. They
// exist to be profiled when B1 is missed:
//
//	go test ./bench/ -run '^$' -bench '^BenchmarkServe' -benchmem -cpuprofile cpu.out
//	go tool pprof -top -cum bench.test cpu.out
//
// The service logs as it does in production (JSON, info level, one access
// line per request) into /dev/null, so the write system call is counted.

// BenchmarkServeFloor is the framework floor's handler.
func BenchmarkServeFloor(b *testing.B) {
	e := echo.New()
	e.GET("/floor", func(c echo.Context) error {
		return c.JSON(http.StatusOK, struct {
			Verdict string `json:"verdict"`
			Score   int    `json:"score"`
			Cached  bool   `json:"cached"`
		}{"valid", 100, true})
	})
	serveLoop(b, e, []string{"/floor"})
}

// BenchmarkServeValidateCached is the service's handler for a cached
// GET /v1/validate?email=..., with the middleware of production.
func BenchmarkServeValidateCached(b *testing.B) {
	const domains = 100
	var zone strings.Builder
	if err := writeZone(&zone, domains, 0); err != nil {
		b.Fatal(err)
	}
	srv := dnstest.Start(b, dnstest.Config{Zone: zone.String()})
	resolver, err := validate.NewDNSResolver([]string{srv.Addr()}, validateTimeout)
	if err != nil {
		b.Fatal(err)
	}
	lists, err := validate.LoadLists(validate.ListsConfig{})
	if err != nil {
		b.Fatal(err)
	}
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = devNull.Close() })
	logger := slog.New(slog.NewJSONHandler(devNull, nil))
	cfg := cache.DefaultConfig()
	cfg.Logger = logger
	dc, err := cache.NewDomains(cfg, validate.DNSChecker{Resolver: resolver}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = dc.Close() })
	h := api.NewServer(api.Options{}, api.Deps{Engine: validate.NewEngine(lists, dc), Logger: logger})

	paths := make([]string, 10*domains)
	for i := range paths {
		paths[i] = "/v1/validate?email=" + url.QueryEscape(fmt.Sprintf("jane.doe%d@%s", i, leadDomain(i%domains)))
	}
	for _, p := range paths[:domains] {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodGet, p, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("warm-up GET %s: got %d, want 200: %s", p, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(context.Background(), http.MethodGet, paths[0], nil))
	if msg := checkValidate(rec.Body.Bytes(), true); msg != "" {
		b.Fatalf("GET %s after warm-up: %s", paths[0], msg)
	}
	serveLoop(b, h, paths)
}

// serveLoop calls h with GET requests for paths in turn, as net/http would
// hand them over: a fresh request and response per call.
func serveLoop(b *testing.B, h http.Handler, paths []string) {
	b.Helper()
	reqs := make([]*http.Request, len(paths))
	for i, p := range paths {
		reqs[i] = httptest.NewRequestWithContext(context.Background(), http.MethodGet, p, nil)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := discardWriter{h: http.Header{}}
		h.ServeHTTP(&w, reqs[i%len(reqs)].Clone(context.Background()))
		if w.code != http.StatusOK {
			b.Fatalf("GET %s: got %d, want 200", paths[i%len(paths)], w.code)
		}
		i++
	}
}

// discardWriter is the least a ResponseWriter can cost.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return len(b), nil
}
