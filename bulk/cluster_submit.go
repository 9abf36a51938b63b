package bulk

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/zstd"
	"github.com/riverqueue/river"

	"github.com/leadcheck/leadcheck/bulk/ingest"
)

// chunkArgs is the River job of one chunk.
type chunkArgs struct {
	JobID string `json:"job_id"`
	Seq   int    `json:"seq"`
}

func (chunkArgs) Kind() string { return "leadcheck_bulk_chunk" }

// chunkAttempts bounds the runs of one chunk that fail on our side (a
// database error, say); past it the job fails. A run cut short by a dead
// instance counts as one.
const chunkAttempts = 10

func (chunkArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueChunks, MaxAttempts: chunkAttempts}
}

// maxChunkInputBytes cuts a chunk before StoreChunkRows rows when its rows
// take this much as read, so a chunk of wide rows stays a few megabytes in
// memory on the worker.
const maxChunkInputBytes = 4 << 20

// chunkPriority is the River priority (1 runs first, 4 last) of chunk seq
// of a job whose key had active jobs (queued or running) when it was
// submitted. River's queue is first-in first-out within a priority, so
// without this one key's million-row job would hold every other job behind
// all of its chunks. With it, every job's first chunks overtake the long
// tails of the jobs before it, so a small job runs at once and a large one
// shows progress at once; and a key with nothing else going overtakes the
// next jobs of a key that already has some, level for level.
func chunkPriority(seq, active int) int {
	level := 1
	switch {
	case seq >= 512:
		level = 4
	case seq >= 64:
		level = 3
	case seq >= 8:
		level = 2
	}
	return min(4, level+min(active, 2))
}

// clusterRecord is the record column: the job's record and the keys of
// its stored rows (the workers' encoders need them).
type clusterRecord struct {
	record
	Keys []string `json:"keys"`
}

// zstd coders for chunk inputs and results, safe for concurrent use
// (EncodeAll and DecodeAll). The decoder refuses frames that claim more
// than maxChunkDecoded, so a damaged value cannot ask for any memory.
var (
	chunkEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(resultsLevel), zstd.WithLowerEncoderMem(true))
	chunkDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxChunkDecoded), zstd.WithDecoderLowmem(true))
)

// maxChunkDecoded bounds one decoded chunk input or result: the inputs
// are cut at maxChunkInputBytes, and a row's results are bounded by its
// input (rows.go).
const maxChunkDecoded = 256 << 20

// appendChunkRecord encodes one record of a chunk input: uvarint line,
// ragged byte, uvarint field count, fields (as stored.go's strings).
func appendChunkRecord(dst []byte, r ingest.Record) []byte {
	dst = binary.AppendUvarint(dst, uint64(r.Line))
	if r.Ragged {
		dst = append(dst, 1)
	} else {
		dst = append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Fields)))
	for _, f := range r.Fields {
		dst = appendStoredString(dst, f)
	}
	return dst
}

// decodeChunkInput reads back the n records of a chunk whose first data
// row has index first.
func decodeChunkInput(b []byte, first, n int) ([]ingest.Record, error) {
	raw, err := chunkDecoder.DecodeAll(b, nil)
	if err != nil {
		return nil, fmt.Errorf("decode chunk input: %w", err)
	}
	d := storedDecoder{b: raw}
	recs := make([]ingest.Record, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		r := ingest.Record{Index: first + i, Line: int(d.uvarint())}
		if d.err == nil {
			if len(d.b) == 0 {
				return nil, errStoredCorrupt
			}
			r.Ragged = d.b[0] == 1
			d.b = d.b[1:]
		}
		cnt := d.uvarint()
		if cnt > uint64(len(d.b)) {
			return nil, errStoredCorrupt
		}
		r.Fields = make([]string, 0, cnt)
		for j := uint64(0); j < cnt && d.err == nil; j++ {
			r.Fields = append(r.Fields, string(d.bytes()))
		}
		recs = append(recs, r)
	}
	if d.err != nil || len(recs) != n {
		return nil, errStoredCorrupt
	}
	return recs, nil
}

// Submit checks the upload and the options as the local store does, cuts
// the file into chunks and stores the job: its record, its chunks and one
// River job per chunk commit in one transaction, so an accepted job is
// never half-created. The upload's local files are removed afterwards.
func (c *Cluster) Submit(ctx context.Context, caller string, u *Upload, o Options) (Status, error) {
	acc, err := c.local.checkUpload(ctx, u, o, func() error { return c.checkQueued(ctx, c.pool, caller) })
	if err != nil {
		return Status{}, err
	}
	st, err := c.store(ctx, caller, u, acc)
	if err != nil {
		return Status{}, storeError("submit", err)
	}
	u.done = true
	if err := os.RemoveAll(u.dir); err != nil {
		c.cfg.Logger.Warn("bulk: removing a stored upload; the next sweep retries", "job", u.id, "err", err)
	}
	c.local.endUpload(u.id)
	c.cfg.Logger.Info("bulk: job queued", "job", st.ID, "rows", st.TotalRows, "format", acc.layout.Format, "bytes", u.size)
	return st, nil
}

// querier is what a pool and a transaction share.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// checkQueued refuses a new job of caller past its cap of queued jobs, in
// the whole cluster.
func (c *Cluster) checkQueued(ctx context.Context, q querier, caller string) error {
	_, maxQueued := c.local.jobLimits(caller)
	if maxQueued <= 0 {
		return nil
	}
	var queued int
	if err := q.QueryRow(ctx, "SELECT count(*) FROM leadcheck_bulk_jobs WHERE caller = $1 AND status = 'queued'", caller).Scan(&queued); err != nil {
		return storeError("count queued jobs", err)
	}
	if queued >= maxQueued {
		return &Error{Kind: KindTooMany, Code: "too_many_jobs",
			Message: fmt.Sprintf("this key has %d jobs waiting, as many as it may; wait for one to start, or delete one", queued)}
	}
	return nil
}

// lockCaller serialises, for the rest of tx, the steps that count one
// caller's jobs (submission and the start of a job), across instances.
func lockCaller(ctx context.Context, tx pgx.Tx, caller string) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtextextended('leadcheck_bulk_caller:' || $1, 0))", caller)
	return err
}

// store writes the job, its chunks and their River jobs in one
// transaction.
func (c *Cluster) store(ctx context.Context, caller string, u *Upload, acc accepted) (Status, error) {
	layout := acc.layout
	f, err := os.Open(filepath.Join(u.dir, uploadFile))
	if err != nil {
		return Status{}, fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	rd, err := ingest.NewReader(bufio.NewReaderSize(ctxReader{ctx: ctx, r: f}, 256<<10), layout)
	if err != nil {
		return Status{}, fromIngest(err)
	}
	first, err := rd.Next()
	if err != nil {
		return Status{}, fromIngest(err)
	}
	width := headerWidth(layout, first.Fields)
	keys := layoutKeys(layout, width)
	header := storedHeader{delimiter: outputDelimiter(layout), enrich: acc.opts.enrich, keys: keys}
	headerFrame := chunkEncoder.EncodeAll(encodeStoredHeader(header), nil)

	now := c.cfg.Now().UTC().Truncate(time.Microsecond)
	rec := record{
		UploadBytes:    u.size,
		ID:             u.id,
		Caller:         caller,
		Name:           acc.opts.name,
		Status:         StatusQueued,
		CreatedAt:      now,
		ExpiresAt:      now.Add(c.cfg.Retention),
		TotalRows:      acc.stats.Rows,
		RaggedRows:     acc.stats.RaggedRows,
		Layout:         layout,
		ColumnNames:    columnNames(layout),
		DefaultCountry: acc.opts.defaultCountry,
		Enrich:         acc.opts.enrich,
		SMTP:           acc.opts.smtp,
	}
	rec.Layout.Header = nil
	var webhook []byte
	if acc.opts.webhookURL != "" {
		rec.Webhook = &webhookRecord{URL: acc.opts.webhookURL, Attempts: []WebhookAttempt{}}
		if webhook, err = json.Marshal(rec.Webhook); err != nil {
			return Status{}, err
		}
	}
	recJSON, err := json.Marshal(clusterRecord{record: stripVolatile(rec), Keys: keys})
	if err != nil {
		return Status{}, err
	}

	tx, err := c.pool.Begin(ctx)
	if err != nil {
		return Status{}, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := lockCaller(ctx, tx, caller); err != nil {
		return Status{}, err
	}
	// Again under the lock: a burst of uploads of one caller scanned at
	// once cannot pass the cap together.
	if err := c.checkQueued(ctx, tx, caller); err != nil {
		return Status{}, err
	}
	var active int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM leadcheck_bulk_jobs WHERE caller = $1 AND status IN ('queued', 'running')", caller).Scan(&active); err != nil {
		return Status{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO leadcheck_bulk_jobs
		(id, caller, status, created_at, expires_at, total_rows, chunks, record, results_header, webhook)
		VALUES ($1, $2, 'queued', $3, $4, $5, 0, $6, $7, $8)`,
		rec.ID, caller, rec.CreatedAt, rec.ExpiresAt, rec.TotalRows, recJSON, headerFrame, webhook); err != nil {
		return Status{}, err
	}
	src := &chunkSource{id: rec.ID, rd: rd, pending: &first, rows: chunkRowsFor(c.cfg.StoreChunkRows, acc.opts)}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"leadcheck_bulk_chunks"},
		[]string{"job_id", "seq", "first_row", "rows", "input"}, src); err != nil {
		if src.err != nil {
			return Status{}, src.err
		}
		return Status{}, err
	}
	stored := src.bytes + int64(len(headerFrame))
	if err := c.admitStored(ctx, tx, caller, rec.ID, stored); err != nil {
		return Status{}, err
	}
	if _, err := tx.Exec(ctx, "UPDATE leadcheck_bulk_jobs SET chunks = $2, total_rows = $3, stored_bytes = $4 WHERE id = $1",
		rec.ID, len(src.seqs), src.total, stored); err != nil {
		return Status{}, err
	}
	params := make([]river.InsertManyParams, len(src.seqs))
	for i := range src.seqs {
		params[i] = river.InsertManyParams{
			Args:       chunkArgs{JobID: rec.ID, Seq: i},
			InsertOpts: &river.InsertOpts{Queue: queueChunks, MaxAttempts: chunkAttempts, Priority: chunkPriority(i, active)},
		}
	}
	if _, err := c.river.InsertManyFastTx(ctx, tx, params); err != nil {
		return Status{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Status{}, err
	}
	rec.TotalRows = src.total
	j := &job{rec: rec}
	return j.status(), nil
}

// stripVolatile clears what the columns of leadcheck_bulk_jobs hold, so the
// record column holds only what never changes.
func stripVolatile(r record) record {
	r.Status, r.StartedAt, r.FinishedAt = "", nil, nil
	r.ProcessedRows, r.Counts, r.Error, r.Webhook = 0, Counts{}, "", nil
	return r
}

// admitStored refuses a job that would take caller's stored bytes past
// DiskPerKey.
func (c *Cluster) admitStored(ctx context.Context, tx pgx.Tx, caller, id string, more int64) error {
	var held int64
	if err := tx.QueryRow(ctx, "SELECT coalesce(sum(stored_bytes), 0) FROM leadcheck_bulk_jobs WHERE caller = $1 AND id <> $2", caller, id).Scan(&held); err != nil {
		return err
	}
	if held+more > c.cfg.DiskPerKey {
		return &Error{Kind: KindInsufficientStorage, Code: "storage_budget_exceeded",
			Message: fmt.Sprintf("this key's jobs already hold %d MB and this one would take %d MB, past the %d MB it may hold; delete finished jobs (DELETE /v1/bulk/{id}) or wait for them to expire",
				held>>20, more>>20, c.cfg.DiskPerKey>>20)}
	}
	return nil
}

// chunkRowsFor is the chunk size of a job: a tenth of StoreChunkRows when
// its rows fetch web sites (enrichment), so a chunk still ends well within
// its time (RescueAfter's 80%). SMTP jobs keep whole chunks: a chunk's
// addresses of one domain share sessions, and greylisting is waited out by
// snoozing the chunk, not within it.
func chunkRowsFor(rows int, o checked) int {
	if o.enrich {
		return max(1, rows/10)
	}
	return rows
}

// chunkSource feeds COPY the chunks of an upload as they are read, so the
// file is never held in memory: a chunk at a time, compressed.
type chunkSource struct {
	id      string
	rows    int // per chunk
	rd      *ingest.Reader
	pending *ingest.Record // read ahead (the first row)
	eof     bool
	seqs    []int // first row of each chunk
	total   int   // rows read
	bytes   int64
	buf     []byte
	row     []any
	err     error // a read failure (bad input found late, a dropped client)
}

func (s *chunkSource) Next() bool {
	if s.eof || s.err != nil {
		return false
	}
	s.buf = s.buf[:0]
	n := 0
	if s.pending != nil {
		s.buf = appendChunkRecord(s.buf, *s.pending)
		s.pending = nil
		n++
	}
	for n < s.rows && len(s.buf) < maxChunkInputBytes {
		rec, err := s.rd.Next()
		if errors.Is(err, io.EOF) {
			s.eof = true
			break
		}
		if err != nil {
			s.err = fromIngest(err)
			return false
		}
		s.buf = appendChunkRecord(s.buf, rec)
		n++
	}
	if n == 0 {
		return false
	}
	input := chunkEncoder.EncodeAll(s.buf, nil)
	seq := len(s.seqs)
	s.seqs = append(s.seqs, s.total)
	s.row = []any{s.id, seq, s.total, n, input}
	s.total += n
	s.bytes += int64(len(input))
	return true
}

func (s *chunkSource) Values() ([]any, error) { return s.row, nil }
func (s *chunkSource) Err() error             { return s.err }
