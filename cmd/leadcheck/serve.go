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
	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/keys"
	"github.com/leadcheck/leadcheck/internal/metrics"
	"github.com/leadcheck/leadcheck/internal/shed"
	"github.com/leadcheck/leadcheck/mailbox"
	"github.com/leadcheck/leadcheck/validate"
)

// serve runs the HTTP service until ctx ends. Shutdown order: /readyz turns
// 503, the listener stops accepting, requests in flight finish (bounded by
// LEADCHECK_SHUTDOWN_TIMEOUT), then the cache closes its Redis connections.
func serve(ctx context.Context, cfg config, stdout io.Writer) error {
	start := time.Now()
	logger := newLogger(cfg, stdout)
	keySet, err := loadKeys(cfg)
	if err != nil {
		return err
	}
	if keySet.Len() == 0 {
		logger.Warn("open mode: neither LEADCHECK_KEYS_FILE nor LEADCHECK_API_KEYS is set, so anyone who can reach this port can use the API without limits; set one before exposing the service")
	} else {
		logger.Info("keys loaded", "keys", keySet.Len())
	}
	// go-redis logs through a package-level logger; route it into ours so
	// every line is structured (it never logs values, only connection events).
	redis.SetLogger(redisLogger{logger})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	rec, err := metrics.New(reg)
	if err != nil {
		return err
	}
	p := &parts{cfg: cfg, logger: logger, reg: reg, rec: rec, gate: shed.New(cfg.Keys.MaxValidations, cfg.Keys.MaxLookups)}
	if err := p.newEngine(); err != nil {
		return err
	}
	defer p.close()
	if err := p.newEnricher(); err != nil {
		return err
	}
	p.keys = keySet
	limiter, closeLimiter := p.newLimiter()
	defer closeLimiter()
	if err := p.newMailbox(); err != nil {
		return err
	}
	runBulk, err := p.newBulk()
	if err != nil {
		return err
	}
	if err := p.registerJobMetrics(); err != nil {
		return err
	}

	ready := p.newRedisReadiness()
	ready.probe(ctx)
	dbReady := p.newDBReadiness()
	dbReady.probe(ctx)
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	var admin *adminServer
	publicMetrics := metricsHandler
	if cfg.Metrics.AdminAddr != "" {
		admin, err = newAdminServer(cfg.Metrics.AdminAddr, metricsHandler, logger)
		if err != nil {
			return err
		}
		defer admin.ln.Close() // for the returns before it serves
		publicMetrics = nil    // only on the admin port
	}

	apiOpts := api.Options{
		Keys:            keySet,
		TrustedProxies:  cfg.Keys.TrustedProxies,
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
		Metrics:  publicMetrics,
		Recorder: rec,
		Checks:   map[string]func() api.Check{"redis": ready.check, "postgres": dbReady.check},
		Limiter:  limiter,
		Gate:     p.gate,
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
	if admin != nil {
		g.Go(func() error { return admin.run(gctx) })
	}
	g.Go(func() error { return ready.run(gctx) })
	g.Go(func() error { return dbReady.run(gctx) })
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
	rec    *metrics.Recorder     // nil: no metrics

	lists    *validate.Lists
	redis    *cache.Redis // shared by the caches; nil without LEADCHECK_REDIS_URL
	domains  *cache.Domains
	engine   *validate.Engine
	enricher api.Enricher
	bulk     api.BulkService
	cluster  *bulk.Cluster    // the PostgreSQL store, when LEADCHECK_DATABASE_URL is set
	keys     *keys.Set        // nil in open mode
	gate     *shed.Gate       // nil: the real-time path is not bounded (one-shot commands)
	mailbox  *mailbox.Checker // nil unless LEADCHECK_SMTP=on
	smtpMemo *cache.Memo
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
	dnsResolver, err := validate.NewDNSResolver(servers, cfg.DNSTimeout)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	resolver := p.rec.Resolver(dnsResolver)
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
	}, p.gate.Checker(validate.DNSChecker{Resolver: resolver}), p.reg)
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
	if err := p.closeMailbox(); err != nil {
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
