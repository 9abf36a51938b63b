// Package bulk runs validation jobs over whole files: an upload is streamed
// to disk, checked once by package ingest, and queued; a runner with bounded
// concurrency validates its rows with the same engine as /v1/validate
// (resolving each distinct domain once per job), writes results in input
// order, and checkpoints often enough that a killed process resumes a job
// with every row written exactly once. Status, listing, downloads,
// cancellation, retention and signed webhooks (Standard Webhooks) live here
// too; the HTTP layer only binds and responds.
//
// Everything lives under one directory (LEADCHECK_DATA_DIR/bulk) on one
// machine:
//
//	tmp/<id>/          an upload being received; renamed into jobs/ once it
//	                   has been checked, removed on any error
//	trash/<id>/        a deleted job: renamed here in one step, then removed
//	                   (the start and the sweep finish what a crash left)
//	jobs/<id>/job.json the job record (written atomically: temp + rename)
//	jobs/<id>/upload   the file as received (gzip kept as is)
//	jobs/<id>/header.json
//	                   the header names, kept out of job.json so that the
//	                   records Open loads stay small
//	jobs/<id>/results.csv, results.ndjson, rows.idx
//	                   the results and a 9-byte-per-row index (verdict and
//	                   the row's length in each results file), so a filtered
//	                   download is a plain stream
//	jobs/<id>/checkpoint.json
//	                   rows done and the byte length of each results file,
//	                   written after the results are fsynced
package bulk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/enrich"
	"github.com/leadcheck/leadcheck/mailbox"
	"github.com/leadcheck/leadcheck/validate"
)

// Enricher adds what a lead's domain and phone tell about it to a row's
// result. *enrich.Enricher satisfies it; the interface lives here so bulk
// needs only the one method it calls.
type Enricher interface {
	EnrichResult(ctx context.Context, req validate.Request, res validate.Result) enrich.Enrichment
}

// Config builds a Service. Zero values get the defaults in the field docs.
type Config struct {
	// Dir holds every job (see the package doc). Required.
	Dir string
	// Lists and Domains build each job's engine; Domains is normally the
	// shared two-tier cache, wrapped per job so that each distinct domain
	// is resolved once per job. Required.
	Lists   *validate.Lists
	Domains validate.DomainChecker
	// Enricher serves jobs submitted with enrich=true; nil refuses them.
	Enricher Enricher
	// Mailbox serves jobs submitted with smtp=true; nil refuses them.
	Mailbox *mailbox.Checker
	// SMTPGreylistBudget is how long a job keeps asking again for greylisted
	// addresses before writing them unknown. Default 10m.
	SMTPGreylistBudget time.Duration
	// Workers is how many rows of one job are validated at once. The work
	// waits on DNS far more than on CPU, so it is well above the core
	// count. Default 64.
	Workers int
	// ConcurrentJobs is how many jobs run at once; the rest wait, shared
	// fairly between callers (see nextJob). Default 4.
	ConcurrentJobs int
	// JobLimits gives a caller's caps on running and queued jobs (0: no
	// cap); nil caps nobody. Keep ConcurrentJobs above the running cap, so
	// that one caller cannot take every slot.
	JobLimits func(caller string) (maxRunning, maxQueued int)
	// MaxRows refuses files with more data rows. Default 2,000,000.
	MaxRows int
	// MaxFieldBytes refuses files with a longer cell. Default 64 KiB.
	MaxFieldBytes int
	// MaxColumns refuses files with wider rows (or JSON files with more
	// distinct keys). Default ingest.DefaultMaxColumns (1,000).
	MaxColumns int
	// MaxHeaderBytes refuses files whose column names take more bytes
	// together. Default ingest.DefaultMaxHeaderBytes (64 KiB).
	MaxHeaderBytes int
	// MaxRecordBytes refuses files with a longer row as read. Default
	// ingest.DefaultMaxRecordBytes (1 MiB).
	MaxRecordBytes int
	// MaxDecodedBytes refuses files that decompress to more text, so a
	// small gzip bomb cannot fill the disk or the CPU. Default 8 GiB.
	MaxDecodedBytes int64
	// MaxExpansionRatio refuses gzip files that decompress to more than
	// this many bytes per compressed byte, checked while reading, so a
	// small bomb is refused after a few megabytes of work. Default 100.
	MaxExpansionRatio int
	// DiskReserve is the free space (bytes) kept on the data directory's
	// file system: an upload that would leave less, counting the results
	// every accepted job will still write, is refused with
	// KindInsufficientStorage. Default 256 MiB.
	DiskReserve int64
	// DiskPerKey bounds the disk one caller's jobs take (uploads plus
	// results, reserved at ResultsPerInputByte × the decoded input until
	// written). Default 100 GiB.
	DiskPerKey int64
	// Retention is how long a job and its files are kept after it was
	// created. Default 168h (7 days).
	Retention time.Duration
	// WebhookSecret signs webhooks: "whsec_" + base64 of 24 to 64 bytes.
	// Empty disables signing, which only tests and the CLI should do.
	WebhookSecret string
	// WebhookSecrets gives a caller's own webhook secret, so that one
	// tenant's receiver cannot verify (or forge) another's events; "" (or
	// nil) signs with WebhookSecret.
	WebhookSecrets func(caller string) string
	// WebhookPerDestination bounds deliveries in flight to one host, so a
	// receiver that never answers cannot take every delivery slot.
	// Default 2.
	WebhookPerDestination int
	// WebhookClient sends webhooks. It must follow no redirects and refuse
	// non-public addresses (internal/safehttp); default: a plain client
	// with WebhookTimeout and no redirects, for tests.
	WebhookClient *http.Client
	// AllowPrivateWebhooks accepts webhook URLs whose host is a loopback
	// or private IP literal at submit time (tests only). The client's dial
	// guard still decides at delivery.
	AllowPrivateWebhooks bool
	// WebhookBackoff is the first retry delay; later ones grow from it
	// (see retryDelay). Default 5s; tests use tens of milliseconds.
	WebhookBackoff time.Duration
	// WebhookTimeout bounds one delivery. Default 15s.
	WebhookTimeout time.Duration
	// ChunkRows is how many rows a worker takes at once. Default 64.
	ChunkRows int
	// CheckpointEvery is how often results are fsynced and the checkpoint
	// written. Default 1s.
	CheckpointEvery time.Duration
	// DrainTimeout is how long shutdown lets rows in flight finish before
	// abandoning them (they are redone after the restart). Default 5s.
	DrainTimeout time.Duration
	// SweepEvery is how often expired jobs are deleted. Default 1m.
	SweepEvery time.Duration
	// CPUSlots bounds the bulk work on a CPU at once: ingest scans of
	// uploads and the CPU part of validating rows (a row gives its slot
	// back while it waits on DNS). Default the core count minus one, at
	// least 1, so the real-time path keeps a core.
	CPUSlots int
	// LookupsAhead bounds the domain lookups a job starts ahead of its
	// row workers, as its reader meets new domains (see prefetcher), so a
	// cold file is not held to one lookup per worker. Default 256;
	// negative: none ahead.
	LookupsAhead int
	// RealTimeIdle reports that the real-time path (sync validations) has
	// nothing in flight and had nothing a moment ago; while it does, rows
	// may use the cores CPUSlots keeps for it. Nil keeps them unused.
	// While it does not, uploads are paced (BusyScanShare,
	// BusyUploadRate); nil paces nothing.
	RealTimeIdle func() bool
	// BusyScanShare is the share of one core that upload scans together
	// may use while the real-time path has traffic. Default 0.25; 1 or
	// more: unpaced.
	BusyScanShare float64
	// BusyUploadRate is the bytes per second at which all uploads
	// together are received while the real-time path has traffic.
	// Default 32 MiB/s; negative: unpaced.
	BusyUploadRate int64
	// MemoMaxDomains bounds the per-job domain memo; past it, lookups go
	// to Domains (still cached there). Default 200,000.
	MemoMaxDomains int
	// DNSRetryBudget is how long a job keeps asking again about a domain
	// whose lookup failed (timeout, SERVFAIL, REFUSED, network error)
	// before its rows are written as unknown, and how long the job then
	// remembers the failure. Results being in input order, it bounds how
	// long one failing domain holds the output back (plus one lookup).
	// Default 15s; negative: no retries.
	DNSRetryBudget time.Duration
	// DNSRetryBackoff is the first wait before asking again; each later
	// wait doubles, up to 5s. Default 500ms; tests use milliseconds.
	DNSRetryBackoff time.Duration
	// Now is the clock (retention, webhook schedule, ETA, DNS retries).
	// Default time.Now.
	Now func() time.Time
	// Logger gets one line per job event; never row contents.
	Logger *slog.Logger
	// Metrics counts rows and webhook attempts; nil counts nothing.
	Metrics Metrics
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("no directory")
	}
	if c.Lists == nil || c.Domains == nil {
		return c, errors.New("lists and domains are required")
	}
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.ConcurrentJobs <= 0 {
		c.ConcurrentJobs = 4
	}
	if c.MaxRows <= 0 {
		c.MaxRows = 2_000_000
	}
	if c.MaxFieldBytes <= 0 {
		c.MaxFieldBytes = 64 << 10
	}
	if c.MaxColumns <= 0 {
		c.MaxColumns = ingest.DefaultMaxColumns
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = ingest.DefaultMaxHeaderBytes
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = max(ingest.DefaultMaxRecordBytes, 4*c.MaxFieldBytes)
	}
	if c.MaxDecodedBytes <= 0 {
		c.MaxDecodedBytes = 8 << 30
	}
	if c.MaxExpansionRatio <= 0 {
		c.MaxExpansionRatio = ingest.DefaultMaxExpansionRatio
	}
	if c.DiskReserve <= 0 {
		c.DiskReserve = 256 << 20
	}
	if c.DiskPerKey <= 0 {
		c.DiskPerKey = 100 << 30
	}
	if c.Retention <= 0 {
		c.Retention = 168 * time.Hour
	}
	if c.WebhookBackoff <= 0 {
		c.WebhookBackoff = 5 * time.Second
	}
	if c.WebhookTimeout <= 0 {
		c.WebhookTimeout = 15 * time.Second
	}
	if c.WebhookPerDestination <= 0 {
		c.WebhookPerDestination = 2
	}
	if c.WebhookClient == nil {
		c.WebhookClient = &http.Client{
			Timeout: c.WebhookTimeout,
			// No idle connections: nothing outlives a delivery.
			Transport:     &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.LookupsAhead == 0 {
		c.LookupsAhead = 256
	}
	if c.ChunkRows <= 0 {
		c.ChunkRows = 64
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = time.Minute
	}
	if c.CPUSlots <= 0 {
		c.CPUSlots = defaultCPUSlots()
	}
	if c.BusyScanShare <= 0 {
		c.BusyScanShare = 0.25
	}
	if c.BusyUploadRate == 0 {
		c.BusyUploadRate = 32 << 20
	}
	if c.MemoMaxDomains <= 0 {
		c.MemoMaxDomains = 200_000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DNSRetryBudget == 0 {
		c.DNSRetryBudget = DefaultDNSRetryBudget
	}
	if c.DNSRetryBackoff <= 0 {
		c.DNSRetryBackoff = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Kind sorts an Error by what the caller can do about it, so the HTTP
// layer picks a status without knowing bulk's internals.
type Kind int

// The kinds of Error.
const (
	// KindInvalid: the request or the file cannot be used; fix and resend.
	KindInvalid Kind = iota + 1
	// KindNotFound: no such job for this caller (or it expired).
	KindNotFound
	// KindConflict: the job's state does not allow this yet, or any more.
	KindConflict
	// KindTooMany: the caller has as many jobs as it may; wait for one to
	// finish.
	KindTooMany
)

// Error is a refusal with a machine code and a message for people that
// says what to do. Messages never carry internal details.
type Error struct {
	Kind    Kind
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(field, code, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Field: field, Code: code, Message: fmt.Sprintf(format, args...)}
}

var errNotFound = &Error{Kind: KindNotFound, Code: "not_found", Message: "no job with that id; list yours with GET /v1/bulk"}

// Service owns every job: submission, the runner, status, downloads,
// deletion, the retention sweeper and webhook delivery. Build it with
// Open, start its background work with Run. It is safe for concurrent use.
type Service struct {
	cfg      Config
	jobsDir  string
	tmpDir   string
	trashDir string  // deleted jobs on their way out (see remove)
	signer   *signer // nil: webhooks go unsigned

	mu    sync.Mutex
	jobs  map[string]*job
	queue []string // ids waiting for a runner slot, oldest first; see pickLocked
	// uploads are the ids of the tmp/ folders requests are receiving
	// into; the sweep removes any other.
	uploads map[string]bool

	// cpu bounds the bulk work on a CPU (see Config.CPUSlots).
	cpu *cpuGate

	// admitMu makes a disk admission and the job it admits one step.
	admitMu sync.Mutex

	// crashAt, set by tests, stops a delete at a step as a crash would.
	crashAt func(step string) bool

	// webhookHosts counts deliveries in flight per destination host;
	// guarded by mu.
	webhookHosts map[string]int
	// signers caches the callers' own signers (WebhookSecrets); guarded by
	// signersMu.
	signersMu sync.Mutex
	signers   map[string]*signer

	queued   chan struct{} // a job was queued (capacity 1)
	webhooks chan struct{} // a webhook became due (capacity 1)
}

// Open loads the jobs found under cfg.Dir, so that a restart serves their
// status at once and Run resumes the queued and running ones. It removes
// uploads left half-received by a crash.
func Open(cfg Config) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("open bulk: %w", err)
	}
	s := &Service{
		cfg:      cfg,
		jobsDir:  filepath.Join(cfg.Dir, "jobs"),
		tmpDir:   filepath.Join(cfg.Dir, "tmp"),
		trashDir: filepath.Join(cfg.Dir, "trash"),
		jobs:     map[string]*job{},
		uploads:  map[string]bool{},
		cpu:      newCPUGate(cfg.CPUSlots, cfg.RealTimeIdle).paced(cfg.RealTimeIdle, cfg.BusyScanShare, cfg.BusyUploadRate),
		queued:   make(chan struct{}, 1),
		webhooks: make(chan struct{}, 1),

		webhookHosts: map[string]int{},
		signers:      map[string]*signer{},
	}
	if cfg.WebhookSecret != "" {
		sg, err := parseSecret(cfg.WebhookSecret)
		if err != nil {
			return nil, fmt.Errorf("open bulk: %w", err)
		}
		s.signer = &sg
	}
	if err := os.RemoveAll(s.tmpDir); err != nil {
		return nil, fmt.Errorf("open bulk: clear partial uploads: %w", err)
	}
	for _, d := range []string{s.jobsDir, s.tmpDir, s.trashDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("open bulk: %w", err)
		}
	}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("open bulk: %w", err)
	}
	s.sweepDisk()
	return s, nil
}

// load reads every job record and queues the unfinished jobs: those that
// were running first (in the order they started), then the queued ones.
func (s *Service) load() error {
	entries, err := os.ReadDir(s.jobsDir)
	if err != nil {
		return err
	}
	var resume []*job
	for _, e := range entries {
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		rec, err := readRecord(filepath.Join(s.jobsDir, e.Name(), recordFile))
		if err != nil {
			// A directory without a readable record cannot be served or
			// resumed; it is left for an operator, and logged.
			s.cfg.Logger.Warn("bulk: skipping unreadable job", "job", e.Name(), "err", err)
			continue
		}
		if err := splitHeader(filepath.Join(s.jobsDir, e.Name()), &rec); err != nil {
			s.cfg.Logger.Warn("bulk: moving a job's header to its own file", "job", e.Name(), "err", err)
			rec.Layout.Header = nil
		}
		j := &job{rec: rec}
		s.jobs[rec.ID] = j
		if rec.Status == StatusQueued || rec.Status == StatusRunning {
			resume = append(resume, j)
		}
	}
	slices.SortFunc(resume, func(a, b *job) int {
		if (a.rec.Status == StatusRunning) != (b.rec.Status == StatusRunning) {
			if a.rec.Status == StatusRunning {
				return -1
			}
			return 1
		}
		return a.rec.CreatedAt.Compare(b.rec.CreatedAt)
	})
	for _, j := range resume {
		s.queue = append(s.queue, j.rec.ID)
	}
	return nil
}

// Run processes queued jobs, delivers webhooks and sweeps expired jobs
// until ctx ends. Shutdown order: no new job starts; each running job stops
// reading rows, lets the rows in flight finish (at most DrainTimeout),
// writes them and its checkpoint, and stays "running" on disk so the next
// start resumes it; webhook deliveries in flight are abandoned unrecorded
// and retried after the restart.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for range s.cfg.ConcurrentJobs {
		g.Go(func() error {
			for {
				j, ok := s.nextJob(ctx)
				if !ok {
					return nil
				}
				s.runJob(ctx, j)
			}
		})
	}
	g.Go(func() error { return s.runWebhooks(ctx) })
	g.Go(func() error { return s.runSweeper(ctx) })
	s.signal(s.queued) // jobs loaded by Open
	s.signal(s.webhooks)
	return g.Wait()
}

// signal wakes one waiter on ch without blocking.
func (s *Service) signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// nextJob waits for a queued job and claims it.
func (s *Service) nextJob(ctx context.Context) (*job, bool) {
	for {
		if ctx.Err() != nil {
			return nil, false
		}
		s.mu.Lock()
		if j := s.pickLocked(); j != nil {
			j.running = true
			j.done = make(chan struct{})
			more := len(s.queue) > 0
			s.mu.Unlock()
			if more {
				s.signal(s.queued) // another slot may take the next one
			}
			return j, true
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, false
		case <-s.queued:
		}
	}
}

// pickLocked takes the next job off the queue, fairly between callers:
// the queued job of the caller with the fewest running jobs, the oldest
// among equals, skipping callers at their running cap. So a caller with
// jobs waiting gets a slot before one that already runs a job, and one
// caller's backlog cannot hold another's job behind it. It drops entries
// of jobs deleted or canceled while they waited. Call with s.mu held.
func (s *Service) pickLocked() *job {
	running := map[string]int{}
	for _, j := range s.jobs {
		if j.running {
			running[j.rec.Caller]++
		}
	}
	live := s.queue[:0]
	best, bestRunning := -1, 0
	for _, id := range s.queue {
		j := s.jobs[id]
		if j == nil || j.running || (j.rec.Status != StatusQueued && j.rec.Status != StatusRunning) {
			continue
		}
		live = append(live, id)
		c := j.rec.Caller
		if maxRunning, _ := s.jobLimits(c); maxRunning > 0 && running[c] >= maxRunning {
			continue
		}
		if best < 0 || running[c] < bestRunning {
			best, bestRunning = len(live)-1, running[c]
		}
	}
	s.queue = live
	if best < 0 {
		return nil
	}
	j := s.jobs[s.queue[best]]
	s.queue = slices.Delete(s.queue, best, best+1)
	return j
}

func (s *Service) jobLimits(caller string) (maxRunning, maxQueued int) {
	if s.cfg.JobLimits == nil {
		return 0, 0
	}
	return s.cfg.JobLimits(caller)
}

// checkQueuedLocked refuses a new job of caller past its queued cap. Call
// with s.mu held.
func (s *Service) checkQueuedLocked(caller string) error {
	_, maxQueued := s.jobLimits(caller)
	if maxQueued <= 0 {
		return nil
	}
	queued := 0
	for _, j := range s.jobs {
		if j.rec.Caller == caller && j.rec.Status == StatusQueued && !j.running {
			queued++
		}
	}
	if queued >= maxQueued {
		return &Error{Kind: KindTooMany, Code: "too_many_jobs",
			Message: fmt.Sprintf("this key has %d jobs waiting, as many as it may; wait for one to start, or delete one", queued)}
	}
	return nil
}

// runSweeper deletes expired jobs every SweepEvery.
func (s *Service) runSweeper(ctx context.Context) error {
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		s.Sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep deletes every job whose retention has passed, canceling it first
// if it still runs. Run calls it every SweepEvery; it is exported so a
// caller with its own schedule (or a test with its own clock) can too.
func (s *Service) Sweep(ctx context.Context) {
	now := s.cfg.Now()
	s.mu.Lock()
	var expired []*job
	for _, j := range s.jobs {
		if !now.Before(j.rec.ExpiresAt) {
			expired = append(expired, j)
		}
	}
	s.mu.Unlock()
	for _, j := range expired {
		s.remove(ctx, j)
		s.cfg.Logger.Info("bulk: job expired", "job", j.rec.ID)
	}
	s.sweepDisk()
}
