package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// webhookArgs is the River job that delivers a job's end-of-job event.
// It is inserted in the transaction that ends the job (an outbox), so the
// event is sent at least once and never for a job that did not end.
type webhookArgs struct {
	JobID string `json:"job_id"`
}

func (webhookArgs) Kind() string { return "leadcheck_bulk_webhook" }

// Attempts are counted in the job's webhook state, with the schedule of
// the local store (retryDelay); River's count only bounds runs that never
// recorded one (an instance dying mid-delivery, over and over).
func (webhookArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueWebhooks, MaxAttempts: 3 * maxAttempts}
}

type webhookWorker struct {
	river.WorkerDefaults[webhookArgs]
	c *Cluster
}

// Timeout leaves the delivery's own bound (WebhookTimeout) room to end.
func (w *webhookWorker) Timeout(*river.Job[webhookArgs]) time.Duration {
	return w.c.cfg.WebhookTimeout + 10*time.Second
}

// Work makes one delivery attempt and records it with the River job's
// completion, or snoozes the River job until the next attempt is due.
func (w *webhookWorker) Work(ctx context.Context, job *river.Job[webhookArgs]) error {
	c := w.c
	id := job.Args.JobID
	var caller string
	var raw []byte
	err := c.pool.QueryRow(ctx, "SELECT caller, webhook FROM leadcheck_bulk_jobs WHERE id = $1", id).Scan(&caller, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(errors.New("the bulk job was deleted"))
	}
	if err != nil {
		return err
	}
	var hook webhookRecord
	if raw == nil || json.Unmarshal(raw, &hook) != nil || hook.EventID == "" {
		return river.JobCancel(errors.New("the bulk job has no webhook event"))
	}
	if hook.Done {
		return nil
	}
	if due := hook.NextAttemptAt; due != nil {
		if wait := due.Sub(c.cfg.Now()); wait > 0 {
			return river.JobSnooze(wait)
		}
	}
	out := c.local.sendWebhook(ctx, hook.URL, hook.EventID, hook.Body, c.local.signerFor(caller))
	if out.aborted {
		return river.JobSnooze(time.Second)
	}

	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	err = tx.QueryRow(ctx, "SELECT webhook FROM leadcheck_bulk_jobs WHERE id = $1 FOR UPDATE", id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(errors.New("the bulk job was deleted"))
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &hook); err != nil {
		return err
	}
	hook.Attempts = append(hook.Attempts, out.attempt)
	var next time.Duration
	switch {
	case out.delivered:
		hook.Delivered, hook.Done, hook.NextAttemptAt = true, true, nil
	case out.giveUp || len(hook.Attempts) >= maxAttempts:
		hook.Done, hook.NextAttemptAt = true, nil
	default:
		next = max(retryDelay(c.cfg.WebhookBackoff, len(hook.Attempts)), out.retryAfter)
		at := c.cfg.Now().Add(next).UTC()
		hook.NextAttemptAt = &at
	}
	if err := saveWebhook(ctx, tx, id, &hook); err != nil {
		return err
	}
	if hook.Done {
		if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	c.cfg.Logger.Info("bulk: webhook attempt", "job", id, "attempt", len(hook.Attempts),
		"status", out.attempt.StatusCode, "delivered", out.delivered, "error", out.attempt.Error)
	if !hook.Done {
		return river.JobSnooze(next)
	}
	return nil
}

// sweepArgs is the periodic retention sweep; River's leader inserts it, so
// it runs once per cluster each SweepEvery.
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "leadcheck_bulk_sweep" }

func (sweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueSweep, MaxAttempts: 3}
}

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	c *Cluster
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	_, err := w.c.Sweep(ctx)
	return err
}

// Sweep deletes every job whose retention has passed, with all its rows
// and the River jobs still waiting for it, and returns how many it
// deleted. The periodic job calls it; tests with their own clock may too.
func (c *Cluster) Sweep(ctx context.Context) (int, error) {
	deleted := 0
	for {
		// A batch at a time, so one sweep never holds locks on many jobs.
		n, err := c.sweepBatch(ctx)
		deleted += n
		if err != nil || n < 100 {
			if deleted > 0 {
				c.cfg.Logger.Info("bulk: expired jobs deleted", "jobs", deleted)
			}
			return deleted, err
		}
	}
}

func (c *Cluster) sweepBatch(ctx context.Context) (int, error) {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	rows, err := tx.Query(ctx, `DELETE FROM leadcheck_bulk_jobs WHERE id IN (
		SELECT id FROM leadcheck_bulk_jobs WHERE expires_at <= $1 LIMIT 100 FOR UPDATE SKIP LOCKED) RETURNING id`, c.cfg.Now().UTC())
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	if _, err := c.river.JobDeleteManyTx(ctx, tx, river.NewJobDeleteManyParams().
		Kinds(chunkArgs{}.Kind(), webhookArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStatePending).
		Where("args->>'job_id' = ANY(@ids)", river.NamedArgs{"ids": ids})); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	for _, id := range ids {
		c.forgetSpec(id)
	}
	return len(ids), nil
}
