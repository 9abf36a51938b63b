package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/enrich"
	"github.com/leadcheck/leadcheck/internal/safehttp"
)

// bulkSettings are the LEADCHECK_* variables of bulk jobs; settings()
// includes them. Zero values in bulkConfig mean the defaults named here.
func bulkSettings() []setting {
	return []setting{
		{"LEADCHECK_BULK_WORKERS", "", "rows of one bulk job validated at once (default 64)", positiveInt(func(c *config) *int { return &c.Bulk.Workers })},
		{"LEADCHECK_BULK_LOOKUPS_AHEAD", "", "DNS lookups a bulk job starts ahead of its row workers, for the new domains its reader meets; 0: none (default 256)", func(c *config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%q is not a whole number of lookups, 0 or more", v)
			}
			c.Bulk.LookupsAhead = n
			if n == 0 {
				c.Bulk.LookupsAhead = -1 // none; bulk.Config's zero is the default
			}
			return nil
		}},
		{"LEADCHECK_BULK_CONCURRENT_JOBS", "", "bulk jobs run at once; the rest wait, shared fairly between keys (default 4)", positiveInt(func(c *config) *int { return &c.Bulk.ConcurrentJobs })},
		{"LEADCHECK_BULK_MAX_ROWS", "", "largest number of data rows in a bulk file (default 2000000)", positiveInt(func(c *config) *int { return &c.Bulk.MaxRows })},
		{"LEADCHECK_BULK_MAX_UPLOAD_BYTES", "", "largest bulk upload in bytes (default 1073741824, 1 GiB)", func(c *config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return fmt.Errorf("%q is not a positive byte count", v)
			}
			c.Bulk.MaxUploadBytes = n
			return nil
		}},
		{"LEADCHECK_BULK_RETENTION", "", "how long bulk jobs and their files are kept (default 168h)", durationSetter(func(c *config) *time.Duration { return &c.Bulk.Retention })},
		{"LEADCHECK_WEBHOOK_SECRET", "", "whsec_ secret that signs bulk webhooks (default: generated once into <data dir>/webhook-secret)", func(c *config, v string) error {
			if err := bulk.CheckWebhookSecret(v); err != nil {
				return err
			}
			c.Bulk.WebhookSecret = v
			return nil
		}},
		{"LEADCHECK_WEBHOOK_BACKOFF", "", "first webhook retry delay; later ones grow from it (default 5s)", durationSetter(func(c *config) *time.Duration { return &c.Bulk.WebhookBackoff })},
	}
}

// bulkConfig holds the bulk settings (config.Bulk).
type bulkConfig struct {
	Workers        int
	LookupsAhead   int
	ConcurrentJobs int
	MaxRows        int
	MaxUploadBytes int64
	Retention      time.Duration
	WebhookSecret  string
	WebhookBackoff time.Duration
}

func positiveInt(field func(*config) *int) func(*config, string) error {
	return func(c *config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive number", v)
		}
		*field(c) = n
		return nil
	}
}

// newBulk hands bulk the enricher through a type assertion (api.Enricher
// and bulk.Enricher are separate small interfaces); this keeps the two in
// step at compile time.
var _ bulk.Enricher = (*enrich.Enricher)(nil)

// webhookSecretFile is where a generated secret is kept, under the data
// directory, so receivers keep verifying across restarts.
const webhookSecretFile = "webhook-secret"

// newBulk builds the bulk job service; run, when not nil, owns its
// background work (workers, sweeper, webhooks) until ctx ends.
func (p *parts) newBulk() (run func(ctx context.Context) error, err error) {
	cfg := p.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w (set LEADCHECK_DATA_DIR to a writable directory)", err)
	}
	// With a database, generated secrets are kept there, so every instance
	// signs with the same; otherwise under the data directory.
	var pool *pgxpool.Pool
	if cfg.Cluster.DatabaseURL != "" {
		if pool, err = p.connectDatabase(); err != nil {
			return nil, err
		}
	}
	loadSecret := func(name, path string) (string, bool, string, error) {
		if pool != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			secret, created, err := bulk.SharedSecret(ctx, pool, name)
			return secret, created, "postgres:leadcheck_secrets/" + name, err
		}
		secret, created, err := bulk.LoadOrCreateSecret(path)
		return secret, created, path, err
	}
	fail := func(err error) (func(context.Context) error, error) {
		if pool != nil {
			pool.Close()
		}
		return nil, err
	}
	secret := cfg.Bulk.WebhookSecret
	if secret == "" {
		var created bool
		var where string
		secret, created, where, err = loadSecret("webhook", filepath.Join(cfg.DataDir, webhookSecretFile))
		if err != nil {
			return fail(err)
		}
		if created {
			p.logger.Info("generated the webhook signing secret; give it to webhook receivers, or set LEADCHECK_WEBHOOK_SECRET", "path", where)
		} else {
			p.logger.Info("webhook signing secret loaded", "path", where)
		}
	}
	keySecrets, err := p.keyWebhookSecrets(loadSecret)
	if err != nil {
		return fail(err)
	}
	var enricher bulk.Enricher
	if e, ok := p.enricher.(bulk.Enricher); ok {
		enricher = e
	}
	bcfg := bulk.Config{
		Dir:      filepath.Join(cfg.DataDir, "bulk"),
		Lists:    p.lists,
		Domains:  p.domains,
		Enricher: enricher,
		Mailbox:  p.mailbox,
		// LEADCHECK_SMTP_GREYLIST_BUDGET (wire_smtp.go).
		SMTPGreylistBudget: cfg.SMTP.GreylistBudget,
		Workers:            cfg.Bulk.Workers,
		LookupsAhead:       cfg.Bulk.LookupsAhead,
		ConcurrentJobs:     cfg.Bulk.ConcurrentJobs,
		JobLimits:          jobLimits(p.keys),
		MaxRows:            cfg.Bulk.MaxRows,
		Retention:          cfg.Bulk.Retention,
		WebhookSecret:      secret,
		WebhookSecrets:     keySecrets,
		WebhookClient: safehttp.NewClient(safehttp.Options{
			AllowPrivate: cfg.AllowPrivateNetworks,
			Timeout:      15 * time.Second,
			MaxRedirects: 0,
			UserAgent:    "leadcheck-webhooks",
			DNSServers:   cfg.DNSServers,
		}),
		AllowPrivateWebhooks: cfg.AllowPrivateNetworks,
		WebhookBackoff:       cfg.Bulk.WebhookBackoff,
		WebhookTimeout:       15 * time.Second,
		DNSRetryBudget:       cfg.Verdicts.BulkDNSRetryBudget,
		Logger:               p.logger,
		Metrics:              p.rec,
	}
	if p.gate != nil {
		// Rows use the real-time path's core while it has no traffic.
		bcfg.RealTimeIdle = p.gate.Idle
	}
	cfg.Hostile.applyBulk(&bcfg)
	if pool != nil {
		return p.newCluster(bcfg, pool)
	}
	svc, err := bulk.Open(bcfg)
	if err != nil {
		return nil, err
	}
	p.bulk = svc
	return svc.Run, nil
}
