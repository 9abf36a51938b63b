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

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/validate"
)

// errAborted reports a job that stopped before its last row because of a
// shutdown or a cancel; what was written up to the checkpoint stays valid.
var errAborted = errors.New("job aborted")

// checkpoint is the durable progress of a running job: the first RowsDone
// rows are in the results files, which are exactly the given lengths. It
// is written only after those bytes are fsynced.
type checkpoint struct {
	RowsDone    int    `json:"rows_done"`
	Width       int    `json:"width"`
	HeaderBytes int64  `json:"header_bytes"`
	CSVBytes    int64  `json:"csv_bytes"`
	NDJSONBytes int64  `json:"ndjson_bytes"`
	IndexBytes  int64  `json:"index_bytes"`
	Counts      Counts `json:"counts"`
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

// endJob records how a runner stopped and releases the job.
func (s *Service) endJob(stop context.Context, j *job, err error) {
	now := s.cfg.Now().UTC()
	s.mu.Lock()
	id := j.rec.ID
	removed, canceled := j.removed, j.cancelRequested
	var outcome State
	switch {
	case removed:
	case canceled:
		outcome = StatusCanceled
		j.rec.Status = StatusCanceled
		if j.rec.FinishedAt == nil {
			j.rec.FinishedAt = &now
		}
	case errors.Is(err, errAborted) || (err != nil && stop.Err() != nil):
		// Shutdown: stays running for the next start.
	case err != nil:
		outcome = StatusFailed
		j.rec.Status = StatusFailed
		j.rec.FinishedAt = &now
		j.rec.Error = publicError(err)
	default:
		outcome = StatusCompleted
		j.rec.Status = StatusCompleted
		j.rec.FinishedAt = &now
	}
	j.etaSeconds = nil
	s.mu.Unlock()

	if outcome != "" {
		s.newWebhookEvent(j, outcome)
	}
	if !removed {
		s.persist(j)
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

// chunkOutput holds a chunk's encoded rows. The buffers are recycled
// through a pool once written, so a job does not allocate (and grow) fresh
// buffers for every chunk.
type chunkOutput struct {
	csv, nd, idx []byte
}

func (o *chunkOutput) reset() {
	o.csv, o.nd, o.idx = o.csv[:0], o.nd[:0], o.idx[:0]
}

// jobSpec is what the workers of one job share, read-only.
type jobSpec struct {
	engine         *validate.Engine
	columns        ingest.Columns
	defaultCountry string
	enrich         Enricher // nil unless the job asked for enrichment
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
	s.mu.Unlock()
	if wantEnrich {
		spec.enrich = s.cfg.Enricher
	}
	if wantEnrich && spec.enrich == nil {
		return errors.New("the job asks for enrichment and this server has none configured")
	}
	dir := s.jobDir(id)
	spec.engine = validate.NewEngine(s.cfg.Lists, offCPU{gate: s.cpu, next: newDomainMemo(s.cfg.Domains, s.cfg.MemoMaxDomains)})

	header, err := readHeader(dir)
	if err != nil {
		return err
	}
	layout.Header = header
	cp, err := readCheckpoint(dir)
	if err != nil {
		return err
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
		header := csvHeader(spec.keys, spec.enrich != nil)
		if err := out.writeHeader(header); err != nil {
			return err
		}
		cp.HeaderBytes = int64(len(header))
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
	wg.Go(func() {
		defer close(ordered)
		defer close(tasks)
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
					if !c.aborted.Load() && s.cpu.acquire(work) == nil {
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
			if err := out.writeChunk(c); err != nil {
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
	res, err := spec.engine.Validate(ctx, req)
	if err != nil {
		if !errors.As(err, &o.inputErr) {
			o.err = fmt.Errorf("validate row %d: %w", o.number, err)
		}
		return
	}
	o.result = res
	if spec.enrich != nil {
		// Enrichment waits on the network: off the CPU slot meanwhile.
		s.cpu.release()
		en := spec.enrich.EnrichResult(ctx, req, res)
		s.cpu <- struct{}{}
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
		csvStart, ndStart := len(out.csv), len(out.nd)
		out.csv = enc.appendCSV(out.csv, o)
		var err error
		if out.nd, err = enc.appendNDJSON(out.nd, o); err != nil {
			return fmt.Errorf("encode row %d: %w", o.number, err)
		}
		v := o.verdict()
		out.idx = appendIndex(out.idx, v, len(out.csv)-csvStart, len(out.nd)-ndStart)
		c.counts.add(v, 1)
	}
	return nil
}

// outputs are the three results files of a job, appended to through
// buffers; sizes are the bytes written so far (buffered ones included).
type outputs struct {
	files [3]*os.File
	bufs  [3]*bufio.Writer
	sizes [3]int64
}

var outputNames = [3]string{csvFile, ndjsonFile, indexFile}

func createOutputs(dir string) (*outputs, error) {
	o := &outputs{}
	for i, name := range outputNames {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			o.close()
			return nil, fmt.Errorf("create results: %w", err)
		}
		o.files[i], o.bufs[i] = f, bufio.NewWriterSize(f, 256<<10)
	}
	return o, nil
}

// openOutputs reopens the results files of a resumed job and cuts them
// back to the checkpoint, dropping rows written after it.
func openOutputs(dir string, cp *checkpoint) (*outputs, error) {
	o := &outputs{sizes: [3]int64{cp.CSVBytes, cp.NDJSONBytes, cp.IndexBytes}}
	for i, name := range outputNames {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY, 0o600)
		if err == nil {
			var st os.FileInfo
			if st, err = f.Stat(); err == nil && st.Size() < o.sizes[i] {
				err = fmt.Errorf("%s is %d bytes, shorter than its checkpoint (%d)", name, st.Size(), o.sizes[i])
			}
		}
		if err == nil {
			err = f.Truncate(o.sizes[i])
		}
		if err == nil {
			_, err = f.Seek(o.sizes[i], io.SeekStart)
		}
		if err != nil {
			if f != nil {
				_ = f.Close()
			}
			o.close()
			return nil, fmt.Errorf("resume results: %w", err)
		}
		o.files[i], o.bufs[i] = f, bufio.NewWriterSize(f, 256<<10)
	}
	return o, nil
}

// writeHeader starts results.csv.
func (o *outputs) writeHeader(header []byte) error {
	return o.append([3][]byte{header, nil, nil})
}

// writeChunk appends a chunk's rows to the three files.
func (o *outputs) writeChunk(c *chunk) error {
	return o.append([3][]byte{c.out.csv, c.out.nd, c.out.idx})
}

func (o *outputs) append(parts [3][]byte) error {
	for i, p := range parts {
		if len(p) == 0 {
			continue
		}
		n, err := o.bufs[i].Write(p)
		o.sizes[i] += int64(n)
		if err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	return nil
}

// checkpoint makes the results durable and then records them.
func (o *outputs) checkpoint(dir string, cp *checkpoint) error {
	for i := range o.files {
		if err := o.bufs[i].Flush(); err != nil {
			return fmt.Errorf("flush results: %w", err)
		}
		if err := o.files[i].Sync(); err != nil {
			return fmt.Errorf("sync results: %w", err)
		}
	}
	cp.CSVBytes, cp.NDJSONBytes, cp.IndexBytes = o.sizes[0], o.sizes[1], o.sizes[2]
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
	for _, f := range o.files {
		if f != nil {
			_ = f.Close()
		}
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
