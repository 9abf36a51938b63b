package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/keys"
	"github.com/leadcheck/leadcheck/internal/shed"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

// benchServe measures the handler chain of production for GET
// /v1/validate of a phone (no DNS), so what keys cost shows against the
// rest: compare BenchmarkValidateOpen with BenchmarkValidatePublishable.
func benchServe(b *testing.B, opts api.Options, hdr map[string]string) {
	fx := testenv.NewFixture(b, dnstest.Config{}, 200*time.Millisecond)
	srv := api.NewServer(opts, api.Deps{Engine: fx.Engine(), Logger: slog.New(slog.DiscardHandler), Gate: shed.New(1024, 256)})
	req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/validate?phone=%2B14155550100", nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req.Clone(context.Background()))
		if rec.Code != 200 {
			b.Fatal(rec.Code, rec.Body.String())
		}
	}
}

func BenchmarkValidateOpen(b *testing.B) { benchServe(b, api.Options{}, nil) }

// BenchmarkValidatePublishable adds a publishable key with its origin, a
// rate and a quota that never refuse (in process).
func BenchmarkValidatePublishable(b *testing.B) {
	set, err := keys.Parse([]byte("keys:\n  - name: p\n    key: "+publishableKey+"\n    kind: publishable\n    origins: ["+siteOrigin+"]\n    rate: 1000000/s\n    burst: 1000000\n    daily_quota: 1000000000000\n"), "b", keys.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	benchServe(b, api.Options{Keys: set}, map[string]string{"X-API-Key": publishableKey, "Origin": siteOrigin})
}
