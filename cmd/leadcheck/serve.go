package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/leadcheck/leadcheck"
	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/validate"
)

// serve runs the HTTP service until ctx ends. Shutdown order: /readyz turns
// 503, the listener stops accepting, requests in flight finish (bounded by
// LEADCHECK_SHUTDOWN_TIMEOUT), then the cache closes its Redis connections.
func serve(ctx context.Context, cfg config, stdout io.Writer) error {
	start := time.Now()
	logger := newLogger(cfg, stdout)
	if len(cfg.APIKeys) == 0 {
		logger.Warn("open mode: LEADCHECK_API_KEYS is not set, so anyone who can reach this port can use the API; set it before exposing the service")
	}
	// go-redis logs through a package-level logger; route it into ours so
	// every line is structured (it never logs values, only connection events).
	redis.SetLogger(redisLogger{logger})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	p := &parts{cfg: cfg, logger: logger, reg: reg}
	if err := p.newEngine(); err != nil {
		return err
	}
	defer p.close()
	if err := p.newEnricher(); err != nil {
		return err
	}
	runBulk, err := p.newBulk()
	if err != nil {
		return err
	}

	apiOpts := api.Options{
		APIKeys:         cfg.APIKeys,
		CORSOrigins:     cfg.CORSOrigins,
		MaxBodyBytes:    cfg.MaxBodyBytes,
		MaxUploadBytes:  cfg.Bulk.MaxUploadBytes,
		ValidateTimeout: cfg.ValidateTimeout,
	}
	cfg.Hostile.applyAPI(&apiOpts)
	srv := api.NewServer(apiOpts, api.Deps{
		Engine:   p.engine,
		Enricher: p.enricher,
		Bulk:     p.bulk,
		Logger:   logger,
		Spec:     leadcheck.OpenAPISpec,
		Metrics:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Checks:   map[string]func() string{"redis": func() string { return string(p.domains.RedisStatus()) }},
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set LEADCHECK_ADDR to a free address)", cfg.Addr, err)
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", ln.Addr().String(), "redis", cfg.RedisURL != "", "startup", time.Since(start).String())

	g, gctx := errgroup.WithContext(ctx)
	if runBulk != nil {
		g.Go(func() error { return runBulk(gctx) })
	}
	g.Go(func() error {
		if err := httpSrv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("shutting down")
		srv.Drain()
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(gctx), cfg.ShutdownTimeout)
		defer cancel()
		if err := httpSrv.Shutdown(shutdownCtx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	})
	err = g.Wait()
	logger.Info("stopped", "err", err)
	return err
}

// redisLogger adapts slog to go-redis' logging interface.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// parts are the components serve wires together; each new* method builds
// one of them from cfg and the parts built before it.
type parts struct {
	cfg    config
	logger *slog.Logger
	reg    prometheus.Registerer // nil: no metrics (one-shot commands)

	lists    *validate.Lists
	redis    *cache.Redis // shared by the caches; nil without LEADCHECK_REDIS_URL
	domains  *cache.Domains
	engine   *validate.Engine
	enricher api.Enricher
	bulk     api.BulkService
}

// newEngine builds the validation engine behind the two-tier cache.
func (p *parts) newEngine() error {
	cfg := p.cfg
	lists, err := validate.LoadLists(validate.ListsConfig{
		DisposableFile: cfg.DisposableFile,
		FreeFile:       cfg.FreeFile,
		RoleFile:       cfg.RoleFile,
	})
	if err != nil {
		return fmt.Errorf("load lists: %w", err)
	}
	servers := cfg.DNSServers
	if len(servers) == 0 {
		servers, err = validate.SystemServers(cfg.ResolvConf)
		if err != nil {
			return fmt.Errorf("read %s: %w (set LEADCHECK_DNS to resolvers such as 1.1.1.1:53)", cfg.ResolvConf, err)
		}
	}
	resolver, err := validate.NewDNSResolver(servers, cfg.DNSTimeout)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	if cfg.RedisURL != "" {
		// One pool and one circuit breaker for every cache, so /readyz sees
		// one Redis state.
		p.redis, err = cache.NewRedis(cache.Config{RedisURL: cfg.RedisURL, Logger: p.logger})
		if err != nil {
			return fmt.Errorf("redis: %w", err)
		}
	}
	domains, err := cache.NewDomains(cache.Config{
		Redis:       p.redis,
		RedisURL:    cfg.RedisURL,
		KeyPrefix:   cfg.CachePrefix,
		MaxEntries:  cfg.CacheMaxEntries,
		MinTTL:      cfg.CacheMinTTL,
		MaxTTL:      cfg.CacheMaxTTL,
		NegativeTTL: cfg.CacheNegativeTTL,
		ErrorTTL:    cfg.CacheErrorTTL,
		Logger:      p.logger,
	}, validate.DNSChecker{Resolver: resolver}, p.reg)
	if err != nil {
		p.close()
		return fmt.Errorf("cache: %w", err)
	}
	p.lists, p.domains, p.engine = lists, domains, validate.NewEngine(lists, domains)
	return nil
}

// close releases what the parts hold, users before what they use: the
// enricher's cache, the DNS cache, then the Redis pool they share.
func (p *parts) close() {
	if err := p.closeEnricher(); err != nil {
		p.log().Warn("close", "err", err)
	}
	if p.domains != nil {
		if err := p.domains.Close(); err != nil {
			p.log().Warn("close dns cache", "err", err)
		}
	}
	if p.redis != nil {
		if err := p.redis.Close(); err != nil {
			p.log().Warn("close redis", "err", err)
		}
	}
}

func (p *parts) log() *slog.Logger {
	if p.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.logger
}
