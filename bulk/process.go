package bulk

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/validate"
)

// errAborted reports a job that stopped before its last row because of a
// shutdown or a cancel; what was written up to the checkpoint stays valid.
var errAborted = errors.New("job aborted")

// checkpoint is the durable progress of a running job: the first RowsDone
// rows are in results.zst, whose first ResultsBytes bytes are whole zstd
// frames. It is written only after those bytes are fsynced.
type checkpoint struct {
	RowsDone     int    `json:"rows_done"`
	Width        int    `json:"width"`
	ResultsBytes int64  `json:"results_bytes"`
	Counts       Counts `json:"counts"`
}

// runJob runs one job to its end, or until stop ends (the job then stays
// "running" on disk and resumes at the next start).
func (s *Service) runJob(stop context.Context, j *job) {
	work, cancel := context.WithCancel(context.WithoutCancel(stop))
	defer cancel()
	now := s.cfg.Now().UTC()
	s.mu.Lock()
	j.cancel = cancel
	canceled := j.cancelRequested
	if !canceled {
		j.rec.Status = StatusRunning
		if j.rec.StartedAt == nil {
			j.rec.StartedAt = &now
		}
		j.eta.reset()
		j.etaSeconds = nil
	}
	id := j.rec.ID
	s.mu.Unlock()

	var err error
	if canceled {
		err = errAborted
	} else {
		s.persist(j)
		s.cfg.Logger.Info("bulk: job started", "job", id)
		// On shutdown, rows in flight get DrainTimeout to finish before
		// their lookups are cut short.
		drained := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			select {
			case <-stop.Done():
				t := time.NewTimer(s.cfg.DrainTimeout)
				defer t.Stop()
				select {
				case <-t.C:
					cancel()
				case <-drained:
				}
			case <-drained:
			}
		})
		err = s.process(stop, work, j)
		close(drained)
		wg.Wait()
	}
	s.endJob(stop, j, err)
}

// endJob records how a runner stopped and releases the job. The final
// state is written to job.json before it is published in memory, so no
// client is shown an end (or sent its webhook) that a crash could undo.
func (s *Service) endJob(stop context.Context, j *job, err error) {
	now := s.cfg.Now().UTC()
	j.persistMu.Lock()
	s.mu.Lock()
	id := j.rec.ID
	removed, canceled := j.removed, j.cancelRequested
	next := j.rec
	if w := next.Webhook; w != nil {
		cp := *w
		next.Webhook = &cp
	}
	var outcome State
	switch {
	case removed:
	case canceled:
		outcome = StatusCanceled
		next.Status = StatusCanceled
		if next.FinishedAt == nil {
			next.FinishedAt = &now
		}
	case errors.Is(err, errAborted) || (err != nil && stop.Err() != nil):
		// Shutdown: stays running for the next start.
	case err != nil:
		outcome = StatusFailed
		next.Status = StatusFailed
		next.FinishedAt = &now
		next.Error = publicError(err)
	default:
		outcome = StatusCompleted
		next.Status = StatusCompleted
		next.FinishedAt = &now
	}
	armed := false
	if outcome != "" && next.Webhook != nil && next.Webhook.EventID == "" {
		st := j.statusOf(&next)
		if eerr := next.Webhook.arm(id, st, outcome, now); eerr != nil {
			s.cfg.Logger.Error("bulk: encode webhook", "job", id, "err", eerr)
		} else {
			armed = true
		}
	}
	b, merr := json.MarshalIndent(&next, "", "  ")
	s.mu.Unlock()
	if !removed {
		if merr == nil {
			merr = writeFileAtomic(s.jobDir(id), recordFile, b)
		}
		if merr != nil {
			s.cfg.Logger.Error("bulk: saving job record", "job", id, "err", merr)
		}
	}
	s.crashed("end recorded")
	s.mu.Lock()
	if !j.removed {
		j.rec.Status, j.rec.FinishedAt, j.rec.Error, j.rec.Webhook = next.Status, next.FinishedAt, next.Error, next.Webhook
	}
	j.etaSeconds = nil
	s.mu.Unlock()
	j.persistMu.Unlock()
	if armed {
		s.signal(s.webhooks)
	}
	// After the record, so a crash in between leaves a final job whose
	// files the next start sweeps.
	switch outcome {
	case StatusCanceled, StatusFailed:
		s.removeDataFiles(j)
	}
	switch {
	case outcome == StatusFailed:
		s.cfg.Logger.Error("bulk: job failed", "job", id, "err", err)
	case outcome != "":
		s.cfg.Logger.Info("bulk: job "+string(outcome), "job", id)
	case !removed:
		s.cfg.Logger.Info("bulk: job paused for shutdown", "job", id)
	}
	s.mu.Lock()
	j.running = false
	j.cancel = nil
	done := j.done
	j.done = nil
	s.mu.Unlock()
	close(done)
}

// publicError is a failure as the job's owner may read it: bad input found
// while reading says where; anything else is ours and says only that.
func publicError(err error) string {
	var ie *ingest.Error
	if errors.As(err, &ie) {
		return ie.Message
	}
	if isNoSpace(err) {
		return "the server's disk filled up while this job wrote its results, so it stopped; submit the file again later"
	}
	return "the job failed on our side while processing the file; submit it again, and report the job id if it persists"
}

// chunk is a run of consecutive rows: the unit the writer takes in input
// order, encodes as one piece and checkpoints after. Its rows are validated
// one by one by any worker (a chunk of cold domains would otherwise cost
// one DNS round trip per row, in series); the worker that finishes the last
// row encodes the chunk and closes done.
type chunk struct {
	first    int // 0-based data row number of rows[0]
	n        int // rows in the chunk
	rows     []ingest.Record
	outcomes []rowOutcome
	pending  atomic.Int32 // rows not validated yet
	aborted  atomic.Bool
	// Set by the finishing worker before done is closed.
	out    *chunkOutput
	counts Counts
	err    error
	done   chan struct{}
}

// rowRef is one row of a chunk, the unit of work of a worker.
type rowRef struct {
	c *chunk
	i int
}

// chunkOutput holds a chunk's stored rows. The buffers are recycled
// through a pool once written, so a job does not allocate (and grow) fresh
// buffers for every chunk.
type chunkOutput struct {
	rows []byte
}

func (o *chunkOutput) reset() { o.rows = o.rows[:0] }

// jobSpec is what the workers of one job share, read-only.
type jobSpec struct {
	engine         *validate.Engine
	columns        ingest.Columns
	defaultCountry string
	enrich         Enricher // nil unless the job asked for enrichment
	smtp           bool     // the job asked for mailbox verification
	keys           []string
}

// process validates the job's rows from its checkpoint on. Rows are read
// by one goroutine in chunks, validated by Workers goroutines, and written
// in order by this one, which also checkpoints. It returns nil when every
// row is written, errAborted when stop or a cancel ended it early.
func (s *Service) process(stop, work context.Context, j *job) error {
	s.mu.Lock()
	id := j.rec.ID
	layout := j.rec.Layout
	total := j.rec.TotalRows
	spec := jobSpec{columns: layout.Columns, defaultCountry: j.rec.DefaultCountry}
	wantEnrich := j.rec.Enrich
	spec.smtp = j.rec.SMTP
	s.mu.Unlock()
	if wantEnrich {
		spec.enrich = s.cfg.Enricher
	}
	if wantEnrich && spec.enrich == nil {
		return errors.New("the job asks for enrichment and this server has none configured")
	}
	// Bulk asks A and AAAA only for domains without MX records.
	work = validate.AddressesWhenNeeded(work)
	dir := s.jobDir(id)
	memo := newDomainMemo(s.cfg.Domains, s.cfg.MemoMaxDomains, s.dnsRetry())
	spec.engine = validate.NewEngine(s.cfg.Lists, offCPU{gate: s.cpu, next: memo})
	if spec.smtp {
		var err error
		if spec.engine, err = s.prepareSMTP(stop, work, j, spec.engine, layout); err != nil {
			return err
		}
	}

	header, err := readHeader(dir)
	if err != nil {
		return err
	}
	layout.Header = header
	cp, err := readCheckpoint(dir)
	if err != nil {
		return err
	}
	if cp != nil && cp.ResultsBytes == 0 {
		// A checkpoint of the former layout (a CSV and an NDJSON file):
		// start again in the current one.
		cp = nil
		for _, name := range legacyResultFiles {
			_ = os.Remove(filepath.Join(dir, name))
		}
	}
	upload, err := os.Open(filepath.Join(dir, uploadFile))
	if err != nil {
		return fmt.Errorf("open upload: %w", err)
	}
	defer upload.Close()
	rd, err := ingest.NewReader(bufio.NewReaderSize(upload, 256<<10), layout)
	if err != nil {
		return fmt.Errorf("read upload: %w", err)
	}
	next := rd.Next // the Fields of each record are ours to keep

	var pending []ingest.Record
	var out *outputs
	if cp == nil {
		// A fresh start: the header needs the width, from the header or
		// else from the first row.
		first, err := next()
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if err == nil {
			pending = append(pending, first)
		}
		cp = &checkpoint{Width: headerWidth(layout, first.Fields)}
		spec.keys = layoutKeys(layout, cp.Width)
		if out, err = createOutputs(dir); err != nil {
			return err
		}
		defer out.close()
		header := storedHeader{delimiter: outputDelimiter(layout), enrich: spec.enrich != nil, keys: spec.keys}
		if err := out.write(encodeStoredHeader(header)); err != nil {
			return err
		}
		if err := out.checkpoint(dir, cp); err != nil {
			return err
		}
	} else {
		spec.keys = layoutKeys(layout, cp.Width)
		if out, err = openOutputs(dir, cp); err != nil {
			return err
		}
		defer out.close()
		for i := 0; i < cp.RowsDone; i++ {
			if _, err := rd.Next(); err != nil {
				if errors.Is(err, io.EOF) {
					return errors.New("the upload has fewer rows than the checkpoint")
				}
				return err
			}
		}
	}
	s.progress(j, cp.RowsDone, cp.Counts, total)

	// The pipeline. ordered carries every chunk in input order to the
	// writer; work carries its rows to the workers. ordered holds at most
	// inflight chunks, which bounds memory whatever the file size.
	inflight := 2 * s.cfg.Workers
	ordered := make(chan *chunk, inflight)
	tasks := make(chan rowRef, s.cfg.Workers*s.cfg.ChunkRows)
	quit := make(chan struct{})
	var readErr error
	var stopped bool
	var wg sync.WaitGroup
	prefetch := newPrefetcher(work, memo, layout.Columns, s.cfg.LookupsAhead)
	defer prefetch.wait()
	wg.Go(func() {
		defer close(ordered)
		defer close(tasks)
		for _, rec := range pending {
			prefetch.row(rec.Fields)
		}
		row := cp.RowsDone
		eof := false
		for !eof {
			select {
			case <-stop.Done():
				stopped = true
				return
			case <-work.Done():
				stopped = true
				return
			default:
			}
			c := &chunk{first: row, done: make(chan struct{}), rows: make([]ingest.Record, 0, s.cfg.ChunkRows)}
			c.rows = append(c.rows, pending...)
			pending = nil
			for len(c.rows) < s.cfg.ChunkRows {
				rec, err := next()
				if errors.Is(err, io.EOF) {
					eof = true
					break
				}
				if err != nil {
					readErr = err
					eof = true
					break
				}
				prefetch.row(rec.Fields)
				c.rows = append(c.rows, rec)
			}
			if len(c.rows) == 0 {
				return
			}
			c.n = len(c.rows)
			c.outcomes = make([]rowOutcome, c.n)
			c.pending.Store(int32(c.n))
			row += c.n
			select {
			case ordered <- c:
			case <-quit:
				return
			}
			for i := range c.n {
				select {
				case tasks <- rowRef{c: c, i: i}:
				case <-quit:
					return
				}
			}
		}
	})
	var outputsPool sync.Pool
	for range s.cfg.Workers {
		wg.Go(func() {
			enc := newRowEncoder(spec.keys, spec.enrich != nil)
			for ref := range tasks {
				c := ref.c
				select {
				case <-quit:
					c.aborted.Store(true)
				default:
					if !c.aborted.Load() && s.cpu.acquireRow(work) == nil {
						s.validateRow(work, &spec, c, ref.i)
						s.cpu.release()
					}
					if work.Err() != nil {
						c.aborted.Store(true)
					}
				}
				if c.pending.Add(-1) != 0 {
					continue
				}
				if !c.aborted.Load() {
					c.out, _ = outputsPool.Get().(*chunkOutput)
					if c.out == nil {
						c.out = &chunkOutput{}
					}
					c.err = encodeChunk(enc, c)
				}
				c.rows, c.outcomes = nil, nil
				close(c.done)
			}
		})
	}

	result := func() error {
		lastCheckpoint := time.Now()
		for c := range ordered {
			<-c.done
			if c.aborted.Load() {
				return errAborted
			}
			if c.err != nil {
				return c.err
			}
			if err := out.write(c.out.rows); err != nil {
				return err
			}
			c.out.reset()
			outputsPool.Put(c.out)
			c.out = nil
			cp.RowsDone += c.n
			cp.Counts.addAll(c.counts)
			s.progress(j, cp.RowsDone, cp.Counts, total)
			if time.Since(lastCheckpoint) >= s.cfg.CheckpointEvery {
				if err := out.checkpoint(dir, cp); err != nil {
					return err
				}
				lastCheckpoint = time.Now()
			}
		}
		return nil
	}()
	close(quit)
	for range ordered {
		// Unblock a reader that sent before seeing quit.
	}
	wg.Wait()

	// Whatever was written is kept: the checkpoint covers it, so a resume
	// (after a shutdown) does not redo it.
	if err := out.checkpoint(dir, cp); err != nil && result == nil {
		result = err
	}
	switch {
	case result != nil:
		return result
	case readErr != nil:
		return readErr
	case stopped:
		return errAborted
	}
	if cp.RowsDone != total {
		s.cfg.Logger.Warn("bulk: row count differs from the scan", "job", id, "scanned", total, "processed", cp.RowsDone)
		s.mu.Lock()
		j.rec.TotalRows = cp.RowsDone
		s.mu.Unlock()
	}
	return nil
}

// progress publishes the rows done and counts, with an ETA.
func (s *Service) progress(j *job, done int, counts Counts, total int) {
	now := s.cfg.Now()
	s.mu.Lock()
	j.rec.ProcessedRows = done
	j.rec.Counts = counts
	j.etaSeconds = j.eta.add(now, done, total)
	s.mu.Unlock()
}

// validateRow validates row i of c into c.outcomes[i]. The caller holds a
// CPU slot (Service.cpu), which lookups give back while they wait.
func (s *Service) validateRow(ctx context.Context, spec *jobSpec, c *chunk, i int) {
	o := &c.outcomes[i]
	o.number, o.record = c.first+i+1, c.rows[i]
	req := requestOf(o.record.Fields, spec.columns, spec.defaultCountry)
	req.SMTP = spec.smtp
	res, err := spec.engine.Validate(ctx, req)
	if err != nil {
		if !errors.As(err, &o.inputErr) {
			o.err = fmt.Errorf("validate row %d: %w", o.number, err)
		} else {
			s.metrics().BulkRow(string(o.verdict()), nil)
		}
		return
	}
	o.result = res
	s.metrics().BulkRow(string(res.Verdict), &o.result)
	if spec.enrich != nil {
		// Enrichment waits on the network: off the CPU slot meanwhile.
		s.cpu.release()
		en := spec.enrich.EnrichResult(ctx, req, res)
		_ = s.cpu.acquireRow(context.Background()) // taken back even if ctx ended: the caller releases it
		o.enrichment = &en
	}
}

// encodeChunk encodes the validated rows of c into c.out, in order.
func encodeChunk(enc *rowEncoder, c *chunk) error {
	out := c.out
	for i := range c.outcomes {
		o := &c.outcomes[i]
		if o.err != nil {
			return o.err
		}
		var err error
		if out.rows, err = enc.appendRow(out.rows, o); err != nil {
			return fmt.Errorf("encode row %d: %w", o.number, err)
		}
		v := o.verdict()
		c.counts.add(v, 1)
		if o.countryNeeded() {
			c.counts.CountryNeeded++
		}
	}
	return nil
}

// outputDelimiter is the delimiter of a job's CSV results: the input's, so
// a semicolon file comes back with semicolons and a tab file with tabs;
// a comma for JSON, NDJSON and text inputs.
func outputDelimiter(l ingest.Layout) byte {
	if len(l.Delimiter) == 1 && l.Delimiter[0] != '"' && l.Delimiter[0] != '\r' && l.Delimiter[0] != '\n' {
		return l.Delimiter[0]
	}
	return ','
}

// resultsLevel is the zstd level of results.zst. The fastest level keeps
// the writer, which encodes in input order on one goroutine, well ahead of
// the workers (about 400 MB/s of rows on one core), and still stores the
// rows at a fraction of their size: they repeat the same JSON keys and
// verdicts.
const resultsLevel = zstd.SpeedFastest

// outputs is results.zst being appended to: rows go through a zstd
// encoder into a buffer; size counts the compressed bytes up to the last
// frame closed.
type outputs struct {
	file *os.File
	buf  *bufio.Writer
	enc  *zstd.Encoder
	size int64 // compressed bytes written, buffered ones included
}

func newOutputs(f *os.File, size int64) (*outputs, error) {
	o := &outputs{file: f, size: size}
	o.buf = bufio.NewWriterSize(countingTo{w: f, n: &o.size}, 256<<10)
	// One goroutine and a 1 MiB window: a job's encoder costs a few MB
	// whatever the file.
	enc, err := zstd.NewWriter(o.buf, zstd.WithEncoderLevel(resultsLevel),
		zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	if err != nil {
		return nil, err
	}
	o.enc = enc
	return o, nil
}

// countingTo counts what reaches the file.
type countingTo struct {
	w io.Writer
	n *int64
}

func (c countingTo) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	*c.n += int64(n)
	return n, err
}

func createOutputs(dir string) (*outputs, error) {
	f, err := os.OpenFile(filepath.Join(dir, resultsFile), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create results: %w", err)
	}
	o, err := newOutputs(f, 0)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("create results: %w", err)
	}
	return o, nil
}

// openOutputs reopens the results of a resumed job and cuts them back to
// the checkpoint (a frame boundary), dropping rows written after it.
func openOutputs(dir string, cp *checkpoint) (*outputs, error) {
	f, err := os.OpenFile(filepath.Join(dir, resultsFile), os.O_WRONLY, 0o600)
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.Size() < cp.ResultsBytes {
			err = fmt.Errorf("%s is %d bytes, shorter than its checkpoint (%d)", resultsFile, st.Size(), cp.ResultsBytes)
		}
		if err == nil {
			err = f.Truncate(cp.ResultsBytes)
		}
		if err == nil {
			_, err = f.Seek(cp.ResultsBytes, io.SeekStart)
		}
	}
	var o *outputs
	if err == nil {
		o, err = newOutputs(f, cp.ResultsBytes)
	}
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		return nil, fmt.Errorf("resume results: %w", err)
	}
	return o, nil
}

// write appends stored records.
func (o *outputs) write(p []byte) error {
	if _, err := o.enc.Write(p); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// checkpoint ends the current zstd frame, makes the results durable and
// then records them; the next rows start a new frame.
func (o *outputs) checkpoint(dir string, cp *checkpoint) error {
	if err := o.enc.Close(); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := o.buf.Flush(); err != nil {
		return fmt.Errorf("flush results: %w", err)
	}
	if err := o.file.Sync(); err != nil {
		return fmt.Errorf("sync results: %w", err)
	}
	o.enc.Reset(o.buf)
	cp.ResultsBytes = o.size
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(dir, checkpointFile, b); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

func (o *outputs) close() {
	if o.file != nil {
		_ = o.file.Close()
	}
}

func readCheckpoint(dir string) (*checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	return &cp, nil
}
