// Package api is the HTTP face of leadcheck: an Echo server whose routes are
// listed in routes.go, with thin handlers over the validate engine, one
// error handler, and the middleware every request passes (request id,
// logging, auth, body limit, recovery).
package api

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/internal/keys"
	"github.com/leadcheck/leadcheck/internal/limits"
	"github.com/leadcheck/leadcheck/internal/metrics"
	"github.com/leadcheck/leadcheck/internal/shed"
	"github.com/leadcheck/leadcheck/validate"
)

// Options are the knobs of the HTTP layer. Zero values get defaults.
type Options struct {
	// APIKeys are accepted secret keys with the default limits (the
	// LEADCHECK_API_KEYS shorthand); Keys, when set, is used instead.
	// Neither means open mode.
	APIKeys []string
	// Keys are the accepted keys with their kinds, origins and limits.
	Keys *keys.Set
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (for per-IP limits); empty believes no header.
	TrustedProxies []netip.Prefix
	// MaxBodyBytes bounds a JSON request body; default 64 KiB.
	MaxBodyBytes int64
	// MaxUploadBytes bounds a bulk upload (POST /v1/bulk); default 1 GiB.
	MaxUploadBytes int64
	// MaxBulkJSONBytes bounds a JSON body of POST /v1/bulk ({"records":
	// [...]}), far below MaxUploadBytes: it is meant for batches a program
	// builds, while large files go as multipart. Default 64 MiB.
	MaxBulkJSONBytes int64
	// MaxUploads and MaxUploadsPerKey cap the bulk uploads being received
	// at once, in all (503 past it) and per key (429). Defaults 32 and 4.
	MaxUploads, MaxUploadsPerKey int
	// MinUploadRate is the fewest bytes per second an upload must bring,
	// averaged over each UploadRateWindow; a slower one is closed with a
	// 408. Defaults 10 KiB/s over 30s.
	MinUploadRate    int64
	UploadRateWindow time.Duration
	// DownloadStallTimeout cuts a results download whose client has read
	// nothing for that long. Default 30s.
	DownloadStallTimeout time.Duration
	// CORSOrigins are the browser origins allowed to call the API
	// (LEADCHECK_CORS_ORIGINS), e.g. "https://www.acme.com"; "*" allows
	// any. Empty sends no CORS headers at all: nothing is open by accident.
	CORSOrigins []string
	// ValidateTimeout is the time budget of one validation; DNS work still
	// running when it ends makes the verdict "unknown". Default 3s.
	ValidateTimeout time.Duration
}

// Deps are the parts the server is built from.
type Deps struct {
	Engine *validate.Engine
	// Enricher answers /v1/enrich and options.enrich.
	Enricher Enricher
	// Bulk runs the jobs behind /v1/bulk.
	Bulk   BulkService
	Logger *slog.Logger
	// Spec is the OpenAPI document served at /openapi.yaml.
	Spec []byte
	// Metrics serves /metrics; nil answers 404 (as when the metrics are
	// served on the admin address instead).
	Metrics http.Handler
	// Recorder counts requests, verdicts and refusals; nil records nothing.
	Recorder *metrics.Recorder
	// Checks report the state of each dependency for /readyz.
	Checks map[string]func() Check
	// Limiter enforces the keys' rates and quotas; nil keeps them in
	// process.
	Limiter *limits.Limiter
	// Gate bounds the validations and lookups in flight on the real-time
	// path (503 overloaded past it); nil bounds nothing.
	Gate *shed.Gate
	// Now is the clock of quotas; default time.Now.
	Now func() time.Time
}

// Check is the state of one dependency for /readyz: State "ok",
// "disabled", or anything else for degraded, in which case Detail says
// why and what to check.
type Check struct {
	State  string
	Detail string
}

// Server is the HTTP API. It is an http.Handler.
type Server struct {
	echo     *echo.Echo
	opts     Options
	deps     Deps
	ready    atomic.Bool
	keys     *keys.Set
	policies map[*keys.Key][2]string // RateLimit-Policy of each key, without and with its quota
	limiter  *limits.Limiter
	now      func() time.Time
	logger   *slog.Logger

	// routePatterns are the registered route patterns, the only values
	// the route label of the HTTP metrics takes (with "unmatched").
	routePatterns map[string]bool
	// uploads caps the bulk uploads in flight.
	uploads *uploadGate
}

var _ http.Handler = (*Server)(nil)

// NewServer wires the API. It starts nothing: the caller owns the listener.
func NewServer(opts Options, deps Deps) *Server {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 10
	}
	if opts.MaxUploadBytes <= 0 {
		opts.MaxUploadBytes = 1 << 30
	}
	if opts.MaxBulkJSONBytes <= 0 {
		opts.MaxBulkJSONBytes = 64 << 20
	}
	if opts.MaxUploads <= 0 {
		opts.MaxUploads = 32
	}
	if opts.MaxUploadsPerKey <= 0 {
		opts.MaxUploadsPerKey = 4
	}
	if opts.MinUploadRate <= 0 {
		opts.MinUploadRate = 10 << 10
	}
	if opts.UploadRateWindow <= 0 {
		opts.UploadRateWindow = 30 * time.Second
	}
	if opts.DownloadStallTimeout <= 0 {
		opts.DownloadStallTimeout = 30 * time.Second
	}
	if opts.ValidateTimeout <= 0 {
		opts.ValidateTimeout = 3 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Limiter == nil {
		deps.Limiter = limits.New(limits.Config{Now: deps.Now, Logger: deps.Logger})
	}
	s := &Server{opts: opts, deps: deps, logger: deps.Logger, keys: opts.Keys, limiter: deps.Limiter, now: deps.Now,
		uploads: &uploadGate{perKey: map[string]int{}, maxTotal: opts.MaxUploads, maxPerKey: opts.MaxUploadsPerKey}}
	if s.keys == nil && len(opts.APIKeys) > 0 {
		set, err := keys.FromList(strings.Join(opts.APIKeys, ","), keys.DefaultLimits())
		if err != nil {
			// Callers check keys at start-up (cmd/leadcheck); a list that
			// slips through is a programming error, not an open server.
			panic("api: " + err.Error())
		}
		s.keys = set
	}
	s.policies = policiesOf(s.keys)
	e := echo.New()
	e.IPExtractor = ipExtractor(opts.TrustedProxies)
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.handleError
	s.echo = e
	s.routes()
	s.routePatterns = map[string]bool{}
	for _, r := range e.Routes() {
		s.routePatterns[r.Path] = true
	}
	s.ready.Store(true)
	return s
}

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// Drain makes /readyz answer 503 so load balancers stop sending traffic
// before the listener closes.
func (s *Server) Drain() { s.ready.Store(false) }

// prefixToIPNet converts for Echo's IP extractor, which takes net.IPNet.
func prefixToIPNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
