package main

import (
	"cmp"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/enrich"
)

// enrichSettings are the LEADCHECK_* variables of enrichment; settings()
// includes them. LEADCHECK_ALLOW_PRIVATE_NETWORKS, shared with webhooks, is
// a core setting.
func enrichSettings() []setting {
	return []setting{
		{"LEADCHECK_ENRICH_FETCH_TIMEOUT", "", "time budget of one web-site look-up, every address and redirect included (default 5s)",
			durationSetter(func(c *config) *time.Duration { return &c.Enrich.FetchTimeout })},
		{"LEADCHECK_ENRICH_MAX_BODY_BYTES", "", "how much of a home page is read; the rest is ignored (default 1048576)", func(c *config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("%q is not a positive byte count", v)
			}
			c.Enrich.MaxBodyBytes = n
			return nil
		}},
		{"LEADCHECK_ENRICH_MAX_REDIRECTS", "", "redirects a web-site fetch follows, 0 for none (default 5)", func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 20 {
				return fmt.Errorf("%q is not a number from 0 to 20", v)
			}
			if n == 0 {
				n = -1 // enrich.Config reads 0 as "default"
			}
			c.Enrich.MaxRedirects = n
			return nil
		}},
		{"LEADCHECK_ENRICH_HOST_CONCURRENCY", "", "web-site requests in flight per host (default 2)", func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return fmt.Errorf("%q is not a positive number", v)
			}
			c.Enrich.PerHostConcurrency = n
			return nil
		}},
		{"LEADCHECK_ENRICH_SITE_TTL", "", "how long company facts read from a web site are cached (default 24h)",
			durationSetter(func(c *config) *time.Duration { return &c.Enrich.SiteTTL })},
		{"LEADCHECK_ENRICH_NEGATIVE_TTL", "", "how long a failed or empty web-site look-up is cached (default 1h)",
			durationSetter(func(c *config) *time.Duration { return &c.Enrich.NegativeTTL })},
	}
}

// enrichConfig holds the enrichment settings (config.Enrich). Zero fields
// take the enrich package's defaults.
type enrichConfig struct {
	FetchTimeout       time.Duration
	MaxBodyBytes       int64
	MaxRedirects       int // -1: follow none
	PerHostConcurrency int
	SiteTTL            time.Duration
	NegativeTTL        time.Duration
}

// newEnricher builds the enricher behind /v1/enrich, options.enrich and
// bulk jobs with enrich=true. It needs p.engine and p.lists. Company facts
// are cached in a cache.Memo (namespace "enrich"): in process, and in
// Redis when LEADCHECK_REDIS_URL is set, so that all instances fetch a
// company's site once per SiteTTL. No paid provider is plugged in: one
// would be built here, its key read from a setting of its own. Call
// closeEnricher at shutdown, after the last request.
func (p *parts) newEnricher() error {
	c := p.cfg.Enrich
	fetch := cmp.Or(c.FetchTimeout, enrich.DefaultFetchTimeout)
	site, negative := cmp.Or(c.SiteTTL, enrich.DefaultSiteTTL), cmp.Or(c.NegativeTTL, enrich.DefaultNegativeTTL)
	if negative > site {
		return fmt.Errorf("LEADCHECK_ENRICH_NEGATIVE_TTL (%s) is above LEADCHECK_ENRICH_SITE_TTL (%s); failures should be forgotten sooner than facts", negative, site)
	}
	memo, err := cache.NewMemo(cache.Config{
		Redis:     p.redis,
		RedisURL:  p.cfg.RedisURL,
		KeyPrefix: p.cfg.CachePrefix,
		// The memo caps what the enricher asks for at MaxTTL.
		MaxTTL: site,
		// A load is the site fetch plus, when one is plugged in, the
		// provider's call, each bounded by the fetch timeout.
		LoadTimeout: 2*fetch + 5*time.Second,
		Logger:      p.logger,
	}, "enrich", p.reg)
	if err != nil {
		return fmt.Errorf("enrichment cache: %w", err)
	}
	e := enrich.New(enrich.Config{
		AllowPrivate:       p.cfg.AllowPrivateNetworks,
		FetchTimeout:       c.FetchTimeout,
		MaxBodyBytes:       c.MaxBodyBytes,
		MaxRedirects:       c.MaxRedirects,
		PerHostConcurrency: c.PerHostConcurrency,
		SiteTTL:            c.SiteTTL,
		NegativeTTL:        c.NegativeTTL,
		UserAgent:          userAgent(),
		DNSServers:         p.cfg.DNSServers,
	}, p.engine, p.lists, memo, nil)
	p.enricher = wiredEnricher{Enricher: e, memo: memo}
	return nil
}

// wiredEnricher is the enricher with the cache it was built with, so that
// closeEnricher can close what newEnricher opened.
type wiredEnricher struct {
	*enrich.Enricher
	memo *cache.Memo
}

// closeEnricher closes the enrichment cache: it aborts site fetches still
// running in the background and closes its Redis connections.
func (p *parts) closeEnricher() error {
	w, ok := p.enricher.(wiredEnricher)
	if !ok {
		return nil
	}
	if err := w.memo.Close(); err != nil {
		return fmt.Errorf("close enrichment cache: %w", err)
	}
	return nil
}

// userAgent is the honest User-Agent of outbound fetches: the program, its
// version, and where to read what it does.
func userAgent() string {
	version := "dev"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		version = info.Main.Version
	}
	return "leadcheck/" + version + " (+https://github.com/leadcheck/leadcheck)"
}
