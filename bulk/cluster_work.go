package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/validate"
)

// clusterSpec is what this instance's workers of one job share: the job's
// static record and its engine, whose domain memo is the job's own (as in
// the local store), kept while the job's chunks keep coming.
type clusterSpec struct {
	rec  clusterRecord
	spec jobSpec
	used time.Time
}

// maxSpecs bounds the jobs whose specs an instance keeps (each holds a
// domain memo of up to MemoMaxDomains entries).
const maxSpecs = 8

// specFor returns the spec of job id, loading its record once.
func (c *Cluster) specFor(ctx context.Context, id string) (*clusterSpec, error) {
	c.specMu.Lock()
	if cs := c.specs[id]; cs != nil {
		cs.used = time.Now()
		c.specMu.Unlock()
		return cs, nil
	}
	c.specMu.Unlock()
	var raw []byte
	if err := c.pool.QueryRow(ctx, "SELECT record FROM leadcheck_bulk_jobs WHERE id = $1", id).Scan(&raw); err != nil {
		return nil, err
	}
	cs := &clusterSpec{used: time.Now()}
	if err := json.Unmarshal(raw, &cs.rec); err != nil {
		return nil, fmt.Errorf("decode job record: %w", err)
	}
	r := &cs.rec
	cs.spec = jobSpec{columns: r.Layout.Columns, defaultCountry: r.DefaultCountry, smtp: r.SMTP, keys: r.Keys}
	if r.Enrich {
		if c.cfg.Enricher == nil {
			return nil, errors.New("the job asks for enrichment and this server has none configured")
		}
		cs.spec.enrich = c.cfg.Enricher
	}
	s := c.local
	cs.spec.engine = validate.NewEngine(s.cfg.Lists, offCPU{gate: s.cpu, next: newDomainMemo(s.cfg.Domains, s.cfg.MemoMaxDomains, s.dnsRetry())})
	c.specMu.Lock()
	defer c.specMu.Unlock()
	if have := c.specs[id]; have != nil {
		return have, nil
	}
	for len(c.specs) >= maxSpecs {
		var oldest string
		for k, v := range c.specs {
			if oldest == "" || v.used.Before(c.specs[oldest].used) {
				oldest = k
			}
		}
		delete(c.specs, oldest)
	}
	c.specs[id] = cs
	return cs, nil
}

func (c *Cluster) forgetSpec(id string) {
	c.specMu.Lock()
	delete(c.specs, id)
	c.specMu.Unlock()
}

// chunkWorker validates the rows of one chunk.
type chunkWorker struct {
	river.WorkerDefaults[chunkArgs]
	c *Cluster
}

// NextRetry retries a chunk that failed on our side soon: its job's
// results wait on it.
func (w *chunkWorker) NextRetry(job *river.Job[chunkArgs]) time.Time {
	return time.Now().Add(min(time.Duration(job.Attempt)*time.Second, 30*time.Second))
}

func (w *chunkWorker) Work(ctx context.Context, job *river.Job[chunkArgs]) error {
	err := w.c.workChunk(ctx, job)
	var cancel *river.JobCancelError
	var snooze *river.JobSnoozeError
	if err != nil && !errors.As(err, &cancel) && !errors.As(err, &snooze) && ctx.Err() == nil {
		w.c.cfg.Logger.Warn("bulk: chunk failed; it is retried", "job", job.Args.JobID, "chunk", job.Args.Seq, "attempt", job.Attempt, "err", err)
		if job.Attempt >= job.MaxAttempts {
			w.c.failJob(context.WithoutCancel(ctx), job.Args.JobID, err)
		}
	}
	return err
}

func (c *Cluster) workChunk(ctx context.Context, job *river.Job[chunkArgs]) error {
	id, seq := job.Args.JobID, job.Args.Seq
	var status State
	var caller string
	err := c.pool.QueryRow(ctx, "SELECT status, caller FROM leadcheck_bulk_jobs WHERE id = $1", id).Scan(&status, &caller)
	if errors.Is(err, pgx.ErrNoRows) {
		c.forgetSpec(id)
		return river.JobCancel(errors.New("the bulk job was deleted"))
	}
	if err != nil {
		return err
	}
	if status.Final() {
		c.forgetSpec(id)
		return river.JobCancel(fmt.Errorf("the bulk job is %s", status))
	}
	if !c.takeSlot(caller) {
		// This key holds every slot it may on this instance.
		return river.JobSnooze(200 * time.Millisecond)
	}
	defer c.releaseSlot(caller)
	if status == StatusQueued {
		started, err := c.startJob(ctx, id, caller)
		if err != nil {
			return err
		}
		if !started {
			// The key runs as many jobs as it may: come back later.
			return river.JobSnooze(time.Second)
		}
	}
	var first, n int
	var input []byte
	err = c.pool.QueryRow(ctx, "SELECT first_row, rows, input FROM leadcheck_bulk_chunks WHERE job_id = $1 AND seq = $2 AND result IS NULL", id, seq).Scan(&first, &n, &input)
	if errors.Is(err, pgx.ErrNoRows) {
		// Done by an earlier run (whose completion was lost with its
		// instance), or deleted with its job: nothing left to do.
		return nil
	}
	if err != nil {
		return err
	}
	cs, err := c.specFor(ctx, id)
	if err != nil {
		return err
	}
	recs, err := decodeChunkInput(input, first, n)
	if err != nil {
		return err
	}
	spec := cs.spec
	// The rows run in the instance's work context (see Cluster.work), not
	// the chunk's own: a chunk past its time still finishes its rows, its
	// commit then fails, and River runs it again.
	work, done := context.WithCancel(c.work)
	defer done()
	if spec.smtp {
		engine, snooze, err := c.chunkMailbox(work, job, cs, recs)
		if err != nil || snooze != nil {
			return cmpErr(snooze, err)
		}
		spec.engine = engine
	}
	ch := &chunk{first: first, n: n, rows: recs, outcomes: make([]rowOutcome, n)}
	c.validateChunk(work, &spec, ch)
	if err := cmpErr(work.Err(), ctx.Err()); err != nil {
		// Cut short (shutdown, the chunk's time is up): nothing of it is
		// kept, the next run does it all.
		return err
	}
	enc := newRowEncoder(spec.keys, spec.enrich != nil)
	ch.out = &chunkOutput{}
	if err := encodeChunk(enc, ch); err != nil {
		return err
	}
	result := chunkEncoder.EncodeAll(ch.out.rows, nil)
	return c.completeChunk(ctx, job, n, len(input), result, ch.counts)
}

func cmpErr(snooze, err error) error {
	if err != nil {
		return err
	}
	return snooze
}

// takeSlot counts a chunk of caller in, unless the key already holds
// chunkSlots of this instance's chunkSlots+1.
func (c *Cluster) takeSlot(caller string) bool {
	c.busyMu.Lock()
	defer c.busyMu.Unlock()
	if c.busy[caller] >= c.chunkSlots {
		return false
	}
	c.busy[caller]++
	return true
}

func (c *Cluster) releaseSlot(caller string) {
	c.busyMu.Lock()
	defer c.busyMu.Unlock()
	if c.busy[caller]--; c.busy[caller] <= 0 {
		delete(c.busy, caller)
	}
}

// validateChunk validates the rows of ch, rowsPerChunk at once, each
// holding a CPU slot while it computes.
func (c *Cluster) validateChunk(ctx context.Context, spec *jobSpec, ch *chunk) {
	s := c.local
	var wg sync.WaitGroup
	slots := make(chan struct{}, c.rowsPerChunk)
	for i := range ch.n {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if s.cpu.acquireRow(ctx) == nil {
				s.validateRow(ctx, spec, ch, i)
				s.cpu.release()
			}
		})
	}
	wg.Wait()
}

// startJob moves a queued job to running, unless its key already runs as
// many jobs as it may in the cluster (then false).
func (c *Cluster) startJob(ctx context.Context, id, caller string) (bool, error) {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if maxRunning, _ := c.local.jobLimits(caller); maxRunning > 0 {
		if err := lockCaller(ctx, tx, caller); err != nil {
			return false, err
		}
		var running int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM leadcheck_bulk_jobs WHERE caller = $1 AND status = 'running'", caller).Scan(&running); err != nil {
			return false, err
		}
		if running >= maxRunning {
			return false, nil
		}
	}
	tag, err := tx.Exec(ctx, "UPDATE leadcheck_bulk_jobs SET status = 'running', started_at = coalesce(started_at, $2) WHERE id = $1 AND status = 'queued'", id, c.cfg.Now().UTC())
	if err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, err
	}
	if tag.RowsAffected() == 1 {
		c.cfg.Logger.Info("bulk: job started", "job", id)
	}
	return true, nil
}

// completeChunk stores a chunk's results, adds its rows to the job's
// counters and completes its River job, in one transaction; the last chunk
// also ends the job and enqueues its webhook. A chunk whose results are
// already there (it ran twice) or whose job is gone changes nothing but
// its own completion.
func (c *Cluster) completeChunk(ctx context.Context, job *river.Job[chunkArgs], n, inputBytes int, result []byte, counts Counts) error {
	id := job.Args.JobID
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// The job's row first, then the chunk's: the order of Delete and
	// endJobTx (job, then its chunks). Locked the other way round, a chunk
	// completing while a DELETE cancels its job deadlocked with it.
	if _, err := tx.Exec(ctx, "SELECT 1 FROM leadcheck_bulk_jobs WHERE id = $1 FOR NO KEY UPDATE", id); err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE leadcheck_bulk_chunks SET result = $3, input = NULL, done_at = now()
		WHERE job_id = $1 AND seq = $2 AND result IS NULL`, id, job.Args.Seq, result)
	if err != nil {
		return err
	}
	last := false
	if tag.RowsAffected() == 1 {
		var done, total int
		err := tx.QueryRow(ctx, `UPDATE leadcheck_bulk_jobs SET processed_rows = processed_rows + $2,
			valid = valid + $3, invalid = invalid + $4, risky = risky + $5, unknown = unknown + $6,
			country_needed = country_needed + $7, chunks_done = chunks_done + 1,
			stored_bytes = stored_bytes + $8
			WHERE id = $1 AND status = 'running' RETURNING chunks_done, chunks`,
			id, n, counts.Valid, counts.Invalid, counts.Risky, counts.Unknown, counts.CountryNeeded,
			int64(len(result)-inputBytes)).Scan(&done, &total)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// Canceled meanwhile: its chunks are being deleted.
		case err != nil:
			return err
		case done == total:
			last = true
			if err := c.endJobTx(ctx, tx, id, StatusCompleted, ""); err != nil {
				return err
			}
		}
	}
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if last {
		c.forgetSpec(id)
		c.cfg.Logger.Info("bulk: job completed", "job", id)
	}
	return nil
}

// endJobTx ends job id with outcome, in tx: its status and end time, and
// for a failed or canceled job the deletion of its chunks and of their
// River jobs not yet taken; then the webhook event, enqueued in the same
// transaction. Only a job that has not ended is changed.
func (c *Cluster) endJobTx(ctx context.Context, tx pgx.Tx, id string, outcome State, publicErr string) error {
	tag, err := tx.Exec(ctx, `UPDATE leadcheck_bulk_jobs SET status = $2, finished_at = $3, error = $4
		WHERE id = $1 AND status IN ('queued', 'running')`, id, string(outcome), c.cfg.Now().UTC(), publicErr)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	if outcome != StatusCompleted {
		if _, err := tx.Exec(ctx, "DELETE FROM leadcheck_bulk_chunks WHERE job_id = $1", id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE leadcheck_bulk_jobs SET stored_bytes = 0 WHERE id = $1", id); err != nil {
			return err
		}
		if _, err := c.river.JobDeleteManyTx(ctx, tx, river.NewJobDeleteManyParams().
			Kinds(chunkArgs{}.Kind()).
			States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStatePending).
			Where("args->>'job_id' = @job_id", river.NamedArgs{"job_id": id})); err != nil {
			return err
		}
	}
	return c.newEventTx(ctx, tx, id, outcome)
}

// newEventTx fixes the job's webhook event, if it has a webhook URL, and
// enqueues its delivery, in tx.
func (c *Cluster) newEventTx(ctx context.Context, tx pgx.Tx, id string, outcome State) error {
	j, err := c.loadJob(ctx, tx, id, true)
	if err != nil {
		return err
	}
	w := j.rec.Webhook
	if w == nil || w.EventID != "" {
		return nil
	}
	if err := w.arm(id, j.status(), outcome, c.cfg.Now().UTC()); err != nil {
		return err
	}
	if err := saveWebhook(ctx, tx, id, w); err != nil {
		return err
	}
	_, err = c.river.InsertTx(ctx, tx, webhookArgs{JobID: id}, nil)
	return err
}

func saveWebhook(ctx context.Context, tx pgx.Tx, id string, w *webhookRecord) error {
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE leadcheck_bulk_jobs SET webhook = $2 WHERE id = $1", id, b)
	return err
}

// failJob ends a job whose chunk failed on our side past its retries.
func (c *Cluster) failJob(ctx context.Context, id string, cause error) {
	c.cfg.Logger.Error("bulk: job failed", "job", id, "err", cause)
	tx, err := c.pool.Begin(ctx)
	if err == nil {
		defer func() { _ = tx.Rollback(ctx) }()
		err = c.endJobTx(ctx, tx, id, StatusFailed, publicError(cause))
		if err == nil {
			err = tx.Commit(ctx)
		}
	}
	if err != nil {
		c.cfg.Logger.Error("bulk: recording a failed job", "job", id, "err", err)
	}
	c.forgetSpec(id)
}

// chunkMailbox asks the mail exchangers about the chunk's addresses, a
// domain's addresses in shared sessions, and returns the engine that reads
// the answers. A greylisted address is asked again after the server's
// delay: the chunk is snoozed (its other answers wait in the shared cache)
// while the job is younger than SMTPGreylistBudget; after that it is
// written unknown.
func (c *Cluster) chunkMailbox(ctx context.Context, job *river.Job[chunkArgs], cs *clusterSpec, recs []ingest.Record) (*validate.Engine, error, error) {
	s := c.local
	if s.cfg.Mailbox == nil {
		return nil, nil, errors.New("the job asks for mailbox verification and this server has none configured")
	}
	i := 0
	domains, _, err := groupAddresses(func() (ingest.Record, error) {
		if i == len(recs) {
			return ingest.Record{}, io.EOF
		}
		i++
		return recs[i-1], nil
	}, cs.spec.columns.Email)
	if err != nil {
		return nil, nil, err
	}
	jm := &jobMailbox{shared: s.cfg.Mailbox, answers: map[string]validate.MailboxAnswer{}}
	budget := max(0, time.Until(cs.rec.CreatedAt.Add(s.cfg.SMTPGreylistBudget)))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for d, sd := range domains {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			// One round here (budget 0); greylisting is waited out by
			// snoozing the chunk, not by holding a worker.
			s.probeDomain(ctx, jm, d, sd, 0, func(int) {})
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if wait := time.Duration(jm.unsettledWait.Load()); jm.unsettled.Load() > 0 && budget > wait {
		return nil, river.JobSnooze(wait), nil
	}
	return cs.spec.engine.WithMailbox(jm), nil, nil
}
