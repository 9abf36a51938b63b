package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// jobColumns are what loadJob and List read of a job.
const jobColumns = `id, caller, status, created_at, started_at, finished_at, expires_at,
	total_rows, processed_rows, valid, invalid, risky, unknown, country_needed, error, record, webhook`

// scanJob reads one row of jobColumns into a job whose status() is the
// client view, ETA included.
func (c *Cluster) scanJob(row pgx.Row) (*job, error) {
	var rec clusterRecord
	var raw, webhook []byte
	var r record
	var status string
	var errText string
	if err := row.Scan(&r.ID, &r.Caller, &status, &r.CreatedAt, &r.StartedAt, &r.FinishedAt, &r.ExpiresAt,
		&r.TotalRows, &r.ProcessedRows, &r.Counts.Valid, &r.Counts.Invalid, &r.Counts.Risky, &r.Counts.Unknown,
		&r.Counts.CountryNeeded, &errText, &raw, &webhook); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decode job record: %w", err)
	}
	static := rec.record
	static.ID, static.Caller, static.Status = r.ID, r.Caller, State(status)
	static.CreatedAt, static.StartedAt, static.FinishedAt, static.ExpiresAt = r.CreatedAt.UTC(), utcPtr(r.StartedAt), utcPtr(r.FinishedAt), r.ExpiresAt.UTC()
	static.TotalRows, static.ProcessedRows, static.Counts, static.Error = r.TotalRows, r.ProcessedRows, r.Counts, errText
	if webhook != nil {
		static.Webhook = &webhookRecord{}
		if err := json.Unmarshal(webhook, static.Webhook); err != nil {
			return nil, fmt.Errorf("decode webhook state: %w", err)
		}
	}
	j := &job{rec: static, smtpPending: -1}
	if static.Status == StatusRunning && static.StartedAt != nil && static.ProcessedRows > 0 {
		// The rate of the whole cluster since the job started.
		elapsed := c.cfg.Now().Sub(*static.StartedAt).Seconds()
		left := float64(static.TotalRows - static.ProcessedRows)
		eta := int64(left*elapsed/float64(static.ProcessedRows) + 0.999)
		j.etaSeconds = &eta
	}
	return j, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// loadJob reads job id; forUpdate locks its row for the rest of the
// transaction q must then be.
func (c *Cluster) loadJob(ctx context.Context, q querier, id string, forUpdate bool) (*job, error) {
	sql := "SELECT " + jobColumns + " FROM leadcheck_bulk_jobs WHERE id = $1"
	if forUpdate {
		sql += " FOR UPDATE"
	}
	return c.scanJob(q.QueryRow(ctx, sql, id))
}

// lookup reads caller's job id; another caller's job is not found.
func (c *Cluster) lookup(ctx context.Context, q querier, caller, id string, forUpdate bool) (*job, error) {
	if !validID(id) {
		return nil, errNotFound
	}
	j, err := c.loadJob(ctx, q, id, forUpdate)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && j.rec.Caller != caller) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, storeError("read job", err)
	}
	return j, nil
}

// Get returns the status of caller's job id, from the counters every
// instance's workers update.
func (c *Cluster) Get(ctx context.Context, caller, id string) (Status, error) {
	j, err := c.lookup(ctx, c.pool, caller, id, false)
	if err != nil {
		return Status{}, err
	}
	return j.status(), nil
}

// List returns caller's jobs, newest first, as Service.List does.
func (c *Cluster) List(ctx context.Context, caller string, limit int, cursor string) (Page, error) {
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		return Page{}, invalid("limit", "invalid_limit", "limit must be between 1 and 100")
	}
	sql := "SELECT " + jobColumns + " FROM leadcheck_bulk_jobs WHERE caller = $1"
	args := []any{caller}
	if cursor != "" {
		pos, err := decodeCursor(cursor)
		if err != nil {
			return Page{}, invalid("cursor", "invalid_cursor", "cursor is not one this server gave out; pass the next_cursor of the previous page, or none for the first page")
		}
		sql += " AND (created_at, id) < ($2, $3)"
		args = append(args, pos.created, pos.id)
	}
	sql += fmt.Sprintf(" ORDER BY created_at DESC, id DESC LIMIT %d", limit+1)
	rows, err := c.pool.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, storeError("list jobs", err)
	}
	defer rows.Close()
	page := Page{Jobs: []Status{}}
	var last *job
	for rows.Next() {
		j, err := c.scanJob(rows)
		if err != nil {
			return Page{}, storeError("list jobs", err)
		}
		if len(page.Jobs) == limit {
			page.NextCursor = encodeCursor(cursorPos{created: last.rec.CreatedAt, id: last.rec.ID})
			break
		}
		page.Jobs = append(page.Jobs, j.status())
		last = j
	}
	if err := rows.Err(); err != nil {
		return Page{}, storeError("list jobs", err)
	}
	return page, nil
}

// Delete cancels caller's job if it has not ended (its chunks, their River
// jobs not yet taken and their results are deleted; the record stays,
// canceled, and the webhook says bulk.canceled; chunks being worked find
// the job canceled and store nothing), or deletes an ended job and all of
// its rows.
func (c *Cluster) Delete(ctx context.Context, caller, id string) error {
	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return storeError("delete job", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	j, err := c.lookup(ctx, tx, caller, id, true)
	if err != nil {
		return err
	}
	final := j.rec.Status.Final()
	if final {
		if _, err := tx.Exec(ctx, "DELETE FROM leadcheck_bulk_jobs WHERE id = $1", id); err != nil {
			return storeError("delete job", err)
		}
		if _, err := c.river.JobDeleteManyTx(ctx, tx, river.NewJobDeleteManyParams().
			Kinds(webhookArgs{}.Kind()).
			States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable).
			Where("args->>'job_id' = @job_id", river.NamedArgs{"job_id": id})); err != nil {
			return storeError("delete job", err)
		}
	} else if err := c.endJobTx(ctx, tx, id, StatusCanceled, ""); err != nil {
		return storeError("cancel job", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return storeError("delete job", err)
	}
	c.forgetSpec(id)
	if final {
		c.cfg.Logger.Info("bulk: job deleted", "job", id)
	} else {
		c.cfg.Logger.Info("bulk: job canceled", "job", id)
	}
	return nil
}

// Results opens caller's completed job for download: its rows are read
// chunk by chunk, in order, from one snapshot of the database (a
// read-only repeatable-read transaction held until Close), so a DELETE
// racing with the download does not cut it short and memory stays flat.
func (c *Cluster) Results(ctx context.Context, caller, id string, opt DownloadOptions) (*Download, error) {
	d, err := c.local.newDownload(opt, id)
	if err != nil {
		return nil, err
	}
	tx, err := c.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, storeError("open results", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	j, err := c.lookup(ctx, tx, caller, id, false)
	if err != nil {
		return nil, err
	}
	if err := resultsConflict(&j.rec); err != nil {
		return nil, err
	}
	d.setDelimiter(outputDelimiter(j.rec.Layout))
	var header []byte
	var chunks int
	if err := tx.QueryRow(ctx, "SELECT results_header, chunks FROM leadcheck_bulk_jobs WHERE id = $1", id).Scan(&header, &chunks); err != nil {
		return nil, storeError("open results", err)
	}
	// The download outlives the request's context only as long as the
	// response is written, which the caller bounds.
	d.data = &chunkStream{ctx: context.WithoutCancel(ctx), tx: tx, id: id, chunks: chunks, buf: *bytes.NewBuffer(header)}
	ok = true
	return d, nil
}

// chunkStream reads a job's stored results: the header frame, then each
// chunk's frame in order, fetched a batch at a time.
type chunkStream struct {
	ctx    context.Context
	tx     pgx.Tx
	id     string
	chunks int
	next   int // the first chunk not fetched yet
	buf    bytes.Buffer
	queue  [][]byte
}

// chunkBatch is how many chunks one query fetches: a few megabytes.
const chunkBatch = 16

func (s *chunkStream) Read(p []byte) (int, error) {
	for s.buf.Len() == 0 {
		if len(s.queue) > 0 {
			s.buf.Reset()
			s.buf.Write(s.queue[0])
			s.queue[0] = nil
			s.queue = s.queue[1:]
			continue
		}
		if s.next >= s.chunks {
			return 0, io.EOF
		}
		if err := s.fetch(); err != nil {
			return 0, err
		}
	}
	return s.buf.Read(p)
}

func (s *chunkStream) fetch() error {
	rows, err := s.tx.Query(s.ctx, "SELECT seq, result FROM leadcheck_bulk_chunks WHERE job_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
		s.id, s.next, chunkBatch)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int
		var result []byte
		if err := rows.Scan(&seq, &result); err != nil {
			return fmt.Errorf("read results: %w", err)
		}
		if seq != s.next || result == nil {
			return fmt.Errorf("read results: chunk %d of job %s is missing", s.next, s.id)
		}
		s.queue = append(s.queue, result)
		s.next++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	if len(s.queue) == 0 {
		return fmt.Errorf("read results: chunk %d of job %s is missing", s.next, s.id)
	}
	return nil
}

func (s *chunkStream) Close() error { return s.tx.Rollback(s.ctx) }

// JobCounts returns the number of jobs in each state in the whole cluster,
// for the jobs gauge; empty when the database does not answer within 2s.
func (c *Cluster) JobCounts() map[State]int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := make(map[State]int, len(JobStates))
	for _, s := range JobStates {
		out[s] = 0
	}
	rows, err := c.pool.Query(ctx, "SELECT status, count(*) FROM leadcheck_bulk_jobs GROUP BY status")
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var n int
		if rows.Scan(&s, &n) == nil {
			out[State(s)] = n
		}
	}
	return out
}
