package main

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/bulk"
)

// clusterSettings are the variables of the PostgreSQL store, under which
// every instance shares the bulk jobs; settings() includes them.
func clusterSettings() []setting {
	return []setting{
		{"LEADCHECK_DATABASE_URL", "", "postgres:// URL of the PostgreSQL that keeps bulk jobs for every instance (default: none, jobs stay on this instance's disk)", func(c *config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
				return fmt.Errorf("not a postgres:// URL (such as postgres://leadcheck@db:5432/leadcheck)")
			}
			c.Cluster.DatabaseURL = v
			return nil
		}},
		{"LEADCHECK_BULK_CHUNK_ROWS", "", "rows per chunk of a bulk job in PostgreSQL, the unit an instance takes (default 1000)", positiveInt(func(c *config) *int { return &c.Cluster.ChunkRows })},
		{"LEADCHECK_BULK_RESCUE_AFTER", "", "how long a chunk may run before another instance redoes it, its own presumed dead (default 1m)", durationSetter(func(c *config) *time.Duration { return &c.Cluster.RescueAfter })},
	}
}

// clusterConfig holds the cluster settings (config.Cluster).
type clusterConfig struct {
	DatabaseURL string
	ChunkRows   int
	RescueAfter time.Duration
}

// connectDatabase connects to LEADCHECK_DATABASE_URL and migrates it.
// Starting waits for the migration lock while another instance migrates;
// a minute is far more than a migration takes.
func (p *parts) connectDatabase() (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := bulk.ConnectDatabase(ctx, p.cfg.Cluster.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("bulk jobs in PostgreSQL: %s (check LEADCHECK_DATABASE_URL, or unset it to keep jobs on this instance's disk)", redactDB(err.Error(), p.cfg.Cluster.DatabaseURL))
	}
	return pool, nil
}

// newCluster opens the PostgreSQL store on pool with the bulk settings of
// bcfg; its uploads are received under <data dir>/bulk-uploads while they
// are checked. The run func works chunks until ctx ends, then closes the
// pool.
func (p *parts) newCluster(bcfg bulk.Config, pool *pgxpool.Pool) (run func(ctx context.Context) error, err error) {
	bcfg.Dir = filepath.Join(p.cfg.DataDir, "bulk-uploads")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := bulk.OpenCluster(ctx, bulk.ClusterConfig{
		Config:         bcfg,
		Pool:           pool,
		StoreChunkRows: p.cfg.Cluster.ChunkRows,
		RescueAfter:    p.cfg.Cluster.RescueAfter,
	})
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("bulk jobs in PostgreSQL: %s", redactDB(err.Error(), p.cfg.Cluster.DatabaseURL))
	}
	p.bulk = cl
	p.cluster = cl
	p.log().Info("bulk jobs are kept in PostgreSQL, shared by every instance on it")
	return func(ctx context.Context) error {
		defer pool.Close()
		return cl.Run(ctx)
	}, nil
}

// redactDB keeps a password in the database URL out of a message.
func redactDB(msg, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return msg
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// dbReadiness is the "postgres" entry of /readyz: a ping at start and
// every LEADCHECK_READY_CHECK_EVERY.
type dbReadiness struct {
	cl    *bulk.Cluster // nil: no database configured
	every time.Duration
	parts *parts
	cause atomic.Pointer[string]
}

func (p *parts) newDBReadiness() *dbReadiness {
	every := p.cfg.Metrics.ReadyCheckEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	return &dbReadiness{cl: p.cluster, every: every, parts: p}
}

func (r *dbReadiness) probe(ctx context.Context) {
	if r.cl == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cause := ""
	if err := r.cl.Ping(ctx); err != nil {
		cause = "PostgreSQL does not answer: " + redactDB(err.Error(), r.parts.cfg.Cluster.DatabaseURL) + "; bulk jobs wait until it is back, validation goes on"
	}
	prev := r.cause.Swap(&cause)
	if prev != nil && *prev == cause {
		return
	}
	switch {
	case cause != "":
		r.parts.log().Warn("readiness: postgres is degraded", "cause", cause)
	case prev != nil:
		r.parts.log().Info("readiness: postgres answers again")
	}
}

func (r *dbReadiness) run(ctx context.Context) error {
	if r.cl == nil {
		return nil
	}
	probeEvery(ctx, r.every, r.probe)
	return nil
}

func (r *dbReadiness) check() api.Check {
	if r.cl == nil {
		return api.Check{State: "disabled"}
	}
	if c := r.cause.Load(); c != nil && *c != "" {
		return api.Check{State: "degraded", Detail: *c}
	}
	return api.Check{State: "ok"}
}
