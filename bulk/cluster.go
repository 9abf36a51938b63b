package bulk

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/leadcheck/leadcheck/validate"
)

// The PostgreSQL store. With a database, a job is not a directory of one
// instance but rows every instance shares:
//
//	leadcheck_bulk_jobs    the record, the counters and the webhook state
//	leadcheck_bulk_chunks  the rows cut into chunks: each chunk's input as
//	                       read (zstd) until it is done, then its results
//	                       in the stored form of stored.go (one zstd frame)
//	river_job              one River job per chunk, per webhook event, and
//	                       the periodic retention sweep
//
// An upload is received and scanned on the local disk of the instance that
// takes it, exactly as in the local store (the same Upload and the same
// checks), then cut into chunks; the job, its chunks and their River jobs
// are inserted in one transaction, and 202 is answered once it commits.
// Any instance's workers take the chunks. A chunk's results, the job's
// counters and the chunk's River completion commit in one transaction
// (river.JobCompleteTx), so a chunk that runs twice (its instance died,
// River rescued it) counts once: the second run finds its results already
// there. The transaction that completes the last chunk ends the job and
// inserts its webhook's River job (an outbox). Downloads read the chunks in
// order from one snapshot, a batch at a time.

//go:embed schema/*.sql
var schemaFiles embed.FS

// River queue names.
const (
	queueChunks   = "leadcheck_bulk_chunks"
	queueWebhooks = "leadcheck_bulk_webhooks"
	queueSweep    = "leadcheck_bulk_sweep"
)

// migrateLock is the advisory lock that makes the migration of one
// database a step of one instance at a time ("leadcheck" in ASCII).
const migrateLock = 0x6c65616463686563

// ClusterConfig builds a Cluster.
type ClusterConfig struct {
	// Config holds what the local store takes too; its Dir receives
	// uploads while they are checked, and ChunkRows is not used (see
	// StoreChunkRows).
	Config
	// DatabaseURL is the PostgreSQL connection string. Required unless
	// Pool is set.
	DatabaseURL string
	// Pool, when set, is used instead of a pool of DatabaseURL, and is not
	// closed by Close. It must come from ConnectDatabase, which migrates.
	Pool *pgxpool.Pool
	// StoreChunkRows is how many rows a chunk holds. Default 1000.
	StoreChunkRows int
	// RescueAfter is how long a chunk may run before River hands it to
	// another worker (its instance is presumed dead). Default 1m; chunks
	// are cut off at 80% of it.
	RescueAfter time.Duration
	// FetchPollInterval is how often an instance looks for work when no
	// notification came. Default 1s; tests use less.
	FetchPollInterval time.Duration
}

// Cluster is the bulk service on PostgreSQL: the same API as Service, for
// any number of instances on one database. Build it with OpenCluster and
// run its workers with Run.
type Cluster struct {
	cfg     ClusterConfig
	local   *Service // uploads, scans, the row engine and webhook sending
	pool    *pgxpool.Pool
	ownPool bool
	river   *river.Client[pgx.Tx]
	// chunkSlots is how many chunks of one key this instance works at
	// once, each validating rowsPerChunk rows at once (Workers in all).
	// River runs one chunk more, so another key's chunk always finds a
	// slot (busy counts each key's).
	chunkSlots   int
	rowsPerChunk int
	busyMu       sync.Mutex
	busy         map[string]int

	// work is the context rows are validated in: the instance's, not a
	// chunk's, because chunks of a job share its domain memo, and a lookup
	// one chunk starts is waited on by others. stopWork ends it when a
	// shutdown runs out of time.
	work     context.Context
	stopWork context.CancelFunc

	specMu sync.Mutex
	specs  map[string]*clusterSpec // recently worked jobs, by id
}

// OpenCluster connects to the database, migrates it (River's tables and
// ours, under an advisory lock so that instances starting together take
// turns), and builds the River client. It does not start work: Run does.
func OpenCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	if cfg.StoreChunkRows <= 0 {
		cfg.StoreChunkRows = 1000
	}
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = time.Minute
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = time.Second
	}
	local, err := Open(cfg.Config)
	if err != nil {
		return nil, err
	}
	cfg.Config = local.cfg
	c := &Cluster{cfg: cfg, local: local, pool: cfg.Pool, specs: map[string]*clusterSpec{}}
	c.work, c.stopWork = context.WithCancel(validate.AddressesWhenNeeded(context.Background()))
	c.chunkSlots = min(8, max(2, cfg.Workers/16))
	c.rowsPerChunk = max(1, cfg.Workers/c.chunkSlots)
	c.busy = map[string]int{}
	if c.pool == nil {
		if c.pool, err = ConnectDatabase(ctx, cfg.DatabaseURL); err != nil {
			return nil, err
		}
		c.ownPool = true
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &chunkWorker{c: c})
	river.AddWorker(workers, &webhookWorker{c: c})
	river.AddWorker(workers, &sweepWorker{c: c})
	rc, err := river.NewClient(riverpgxv5.New(c.pool), &river.Config{
		Queues: map[string]river.QueueConfig{
			queueChunks:   {MaxWorkers: c.chunkSlots + 1},
			queueWebhooks: {MaxWorkers: 8},
			queueSweep:    {MaxWorkers: 1},
		},
		Workers:              workers,
		JobTimeout:           cfg.RescueAfter * 8 / 10,
		RescueStuckJobsAfter: cfg.RescueAfter,
		FetchPollInterval:    cfg.FetchPollInterval,
		// A chunk takes tens of milliseconds: fetch the next one at once.
		FetchCooldown: min(5*time.Millisecond, cfg.FetchPollInterval),
		PeriodicJobs: []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepEvery),
				func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
		},
		Logger: riverLogger(cfg.Logger),
		// Chunks and events of the bulk store are kept no longer than
		// needed: their effects are in our tables.
		CompletedJobRetentionPeriod: time.Hour,
		CancelledJobRetentionPeriod: time.Hour,
		DiscardedJobRetentionPeriod: 24 * time.Hour,
	})
	if err != nil {
		c.closePool()
		return nil, fmt.Errorf("start the job queue: %w", err)
	}
	c.river = rc
	return c, nil
}

// riverLogger passes River's own log lines on at warning level and above:
// its info lines (a job fetched, a leader elected) are per job.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{h: l.Handler(), min: slog.LevelWarn})
}

type levelFloor struct {
	h   slog.Handler
	min slog.Level
}

func (f levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.h.Enabled(ctx, l)
}
func (f levelFloor) Handle(ctx context.Context, r slog.Record) error { return f.h.Handle(ctx, r) }
func (f levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h: f.h.WithAttrs(a), min: f.min}
}
func (f levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h: f.h.WithGroup(n), min: f.min}
}

// ConnectDatabase opens a pool on the PostgreSQL at url and migrates it
// (see migrate). The caller closes the pool.
func ConnectDatabase(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("LEADCHECK_DATABASE_URL: %w", err)
	}
	// Workers, downloads and status reads share the pool; River adds its
	// own few connections' worth of work.
	pc.MaxConns = max(pc.MaxConns, 20)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// SharedSecret returns the webhook secret kept under name in the database,
// creating it the first time (created then true): one instance's insert
// wins, and every instance reads the same secret.
func SharedSecret(ctx context.Context, pool *pgxpool.Pool, name string) (secret string, created bool, err error) {
	tag, err := pool.Exec(ctx, "INSERT INTO leadcheck_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, NewWebhookSecret())
	if err != nil {
		return "", false, fmt.Errorf("webhook secret %s: %w", name, err)
	}
	if err := pool.QueryRow(ctx, "SELECT secret FROM leadcheck_secrets WHERE name = $1", name).Scan(&secret); err != nil {
		return "", false, fmt.Errorf("webhook secret %s: %w", name, err)
	}
	if err := CheckWebhookSecret(secret); err != nil {
		return "", false, fmt.Errorf("webhook secret %s in the database: %w", name, err)
	}
	return secret, tag.RowsAffected() == 1, nil
}

// migrate brings the database to the current schema: River's migrations
// (rivermigrate), then ours (schema/NNN_*.sql, each once, in order, in one
// transaction). One session-level advisory lock is held throughout, so a
// second instance starting at the same moment waits and then finds nothing
// to do.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLock)); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrateLock))
	}()
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("migrate the job queue: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate the job queue: %w", err)
	}
	return applySchema(ctx, pool)
}

// applySchema applies the schema files not applied yet, in order, in one
// transaction with the record of what was applied.
func applySchema(ctx context.Context, pool *pgxpool.Pool) error {
	names, err := fs.Glob(schemaFiles, "schema/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS leadcheck_schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, name := range names {
		base := strings.TrimPrefix(name, "schema/")
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migrate: schema file %s is not named NNN_name.sql", base)
		}
		var applied bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM leadcheck_schema_migrations WHERE version = $1)", version).Scan(&applied); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if applied {
			continue
		}
		sql, err := schemaFiles.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return fmt.Errorf("migrate: %s: %w", base, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO leadcheck_schema_migrations (version, name) VALUES ($1, $2)", version, base); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Run works chunks, webhooks and the retention sweep until ctx ends; on
// shutdown, chunks in flight get DrainTimeout to finish, and any cut
// short are redone by an instance that is still up (or after the restart).
func (c *Cluster) Run(ctx context.Context) error {
	if err := c.river.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return fmt.Errorf("start the job queue: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { _ = c.local.runSweeper(ctx) }) // uploads left on this disk
	<-ctx.Done()
	stop, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.DrainTimeout)
	defer cancel()
	if err := c.river.Stop(stop); err != nil {
		// Soft stop ran out of time: cancel the chunks still working.
		c.stopWork()
		hard, cancelHard := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancelHard()
		_ = c.river.StopAndCancel(hard)
	}
	return nil
}

// Close releases the database pool (when OpenCluster made it).
func (c *Cluster) Close() {
	c.stopWork()
	c.closePool()
}

func (c *Cluster) closePool() {
	if c.ownPool {
		c.pool.Close()
	}
}

// Ping reports whether the database answers, for /readyz.
func (c *Cluster) Ping(ctx context.Context) error { return c.pool.Ping(ctx) }

// StartUpload starts an upload for caller on this instance's disk, with
// the checks of the local store.
func (c *Cluster) StartUpload(caller string) (*Upload, error) { return c.local.StartUpload(caller) }

// KindUnavailable: the job store cannot be reached; try again shortly.
const KindUnavailable Kind = 101

// storeError turns a database failure into what the caller may read: an
// unreachable or restarting database is a 503 to retry (KindUnavailable);
// anything else is ours and passes through wrapped.
func storeError(op string, err error) error {
	var be *Error
	if errors.As(err, &be) {
		return be
	}
	if unavailable(err) {
		return &Error{Kind: KindUnavailable, Code: "store_unavailable",
			Message: "the job store is not answering right now; retry in a few seconds"}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unavailable reports a failure to reach the database: a refused or cut
// connection, a timeout, or a server shutting down or starting up. A pooled
// connection the server dropped (a restart) reads as io.EOF or
// io.ErrUnexpectedEOF on its next query.
func unavailable(err error) bool {
	var ne net.Error
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &ce), errors.As(err, &ne), pgconn.SafeToRetry(err), pgconn.Timeout(err),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &pe):
		// Class 08 (connection exception) and 57P (operator intervention:
		// shutdown, starting up).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P")
	}
	return strings.Contains(err.Error(), "closed pool") || strings.Contains(err.Error(), "conn closed")
}

// Store is the bulk service as the HTTP API and the command line use it:
// *Service keeps jobs on one instance's disk, *Cluster in PostgreSQL for
// any number of instances. Both pass one test suite (store_test.go).
type Store interface {
	StartUpload(caller string) (*Upload, error)
	Submit(ctx context.Context, caller string, u *Upload, o Options) (Status, error)
	Get(ctx context.Context, caller, id string) (Status, error)
	List(ctx context.Context, caller string, limit int, cursor string) (Page, error)
	Delete(ctx context.Context, caller, id string) error
	Results(ctx context.Context, caller, id string, opt DownloadOptions) (*Download, error)
	Run(ctx context.Context) error
}

var (
	_ Store = (*Service)(nil)
	_ Store = (*Cluster)(nil)
)
