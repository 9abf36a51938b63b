package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/metrics"
)

// metricsSettings are the LEADCHECK_* variables of metrics, profiling and
// readiness; settings() includes them.
func metricsSettings() []setting {
	return []setting{
		{"LEADCHECK_ADMIN_ADDR", "admin-addr", "address of the admin port serving /metrics and /debug/pprof/, e.g. 127.0.0.1:9090; when set, the main port no longer serves /metrics (default: none)", func(c *config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("%q is not host:port; use e.g. 127.0.0.1:9090", v)
			}
			c.Metrics.AdminAddr = v
			return nil
		}},
		{"LEADCHECK_READY_CHECK_EVERY", "", "how often /readyz asks Redis itself whether it answers, password and database included (default 5s)",
			durationSetter(func(c *config) *time.Duration { return &c.Metrics.ReadyCheckEvery })},
	}
}

// metricsConfig holds the metrics settings (config.Metrics).
type metricsConfig struct {
	AdminAddr       string
	ReadyCheckEvery time.Duration // 0: 5s
}

// registerJobMetrics exposes the bulk jobs by state, read at each scrape.
func (p *parts) registerJobMetrics() error {
	svc, ok := p.bulk.(interface{ JobCounts() map[bulk.State]int })
	if !ok || p.rec == nil {
		return nil
	}
	states := make([]string, len(bulk.JobStates))
	for i, s := range bulk.JobStates {
		states[i] = string(s)
	}
	return p.rec.JobsByState(states, func() map[string]int {
		out := map[string]int{}
		for s, n := range svc.JobCounts() {
			out[string(s)] = n
		}
		return out
	})
}

var _ bulk.Metrics = (*metrics.Recorder)(nil)

// adminServer serves /metrics and the Go profiler on LEADCHECK_ADMIN_ADDR,
// a port meant for operators only (loopback or an internal network).
type adminServer struct {
	srv *http.Server
	ln  net.Listener
}

// newAdminServer listens on addr; it logs the address it got, so port 0
// works in tests.
func newAdminServer(addr string, metricsHandler http.Handler, logger *slog.Logger) (*adminServer, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsHandler)
	// The profiler's handlers, registered here rather than through the
	// package's side effect on http.DefaultServeMux, which nothing serves.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w (set LEADCHECK_ADMIN_ADDR to a free address)", addr, err)
	}
	logger.Info("admin listening", "addr", ln.Addr().String())
	return &adminServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		// A CPU profile or trace takes ?seconds=N (30 by default).
		WriteTimeout: 5 * time.Minute,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}}, nil
}

// run serves until ctx ends, then closes at once: nothing on the admin
// port is worth holding shutdown for.
func (a *adminServer) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { _ = a.srv.Close() })
	defer stop()
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin server: %w", err)
	}
	return nil
}

// redisReadiness is the truth /readyz tells about Redis: a PING at start
// and every LEADCHECK_READY_CHECK_EVERY while running (so a wrong password
// shows before the first request), and the cache's circuit breaker in
// between (so failing traffic shows at once).
type redisReadiness struct {
	redis   *cache.Redis // nil: Redis is not configured
	domains *cache.Domains
	every   time.Duration
	logger  *slog.Logger
	// cause is why the last PING failed; "" after a PING that worked.
	cause atomic.Pointer[string]
}

func (p *parts) newRedisReadiness() *redisReadiness {
	every := p.cfg.Metrics.ReadyCheckEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	return &redisReadiness{redis: p.redis, domains: p.domains, every: every, logger: p.log()}
}

// probe PINGs Redis and logs when the answer changes: at start, the first
// probe is always logged, so start-up says whether Redis is usable.
func (r *redisReadiness) probe(ctx context.Context) {
	if r.redis == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cause := cache.DescribeRedisError(r.redis.Ping(ctx))
	prev := r.cause.Swap(&cause)
	if prev != nil && *prev == cause {
		return
	}
	switch {
	case cause != "":
		r.logger.Warn("readiness: redis is degraded; the service goes on with its in-process cache", "cause", cause)
	case prev == nil:
		r.logger.Info("readiness: redis answers")
	default:
		r.logger.Info("readiness: redis answers again")
	}
}

// run probes until ctx ends.
func (r *redisReadiness) run(ctx context.Context) error {
	if r.redis == nil {
		return nil
	}
	probeEvery(ctx, r.every, r.probe)
	return nil
}

// probeEvery calls probe every period until ctx ends: the readiness checks
// of Redis and PostgreSQL.
func probeEvery(ctx context.Context, every time.Duration, probe func(context.Context)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			probe(ctx)
		}
	}
}

// check is the "redis" entry of /readyz.
func (r *redisReadiness) check() api.Check {
	if r.redis == nil {
		return api.Check{State: string(r.domains.RedisStatus())}
	}
	if c := r.cause.Load(); c != nil && *c != "" {
		return api.Check{State: string(cache.StatusDegraded), Detail: *c}
	}
	if st := r.domains.RedisStatus(); st != cache.StatusOK {
		return api.Check{State: string(st), Detail: "recent Redis requests failed, so the cache stopped using it (circuit breaker open); it tries again every few seconds"}
	}
	return api.Check{State: string(cache.StatusOK)}
}
