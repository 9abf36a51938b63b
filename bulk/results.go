package bulk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/leadcheck/leadcheck/validate"
)

// Download formats.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
)

// utf8BOM starts every CSV download so Excel reads it as UTF-8.
const utf8BOM = "\xef\xbb\xbf"

// verdictSet is a filter on lead verdicts; the zero value keeps nothing,
// allVerdicts keeps everything.
type verdictSet uint8

const allVerdicts verdictSet = 0b1111

func verdictBit(b byte) verdictSet {
	switch b {
	case idxValid:
		return 1
	case idxInvalid:
		return 2
	case idxRisky:
		return 4
	default:
		return 8
	}
}

// parseVerdicts reads a comma-separated list of verdicts ("valid,risky");
// empty means all. Unknown or empty items are refused.
func parseVerdicts(s string) (verdictSet, error) {
	if strings.TrimSpace(s) == "" {
		return allVerdicts, nil
	}
	var set verdictSet
	for _, item := range strings.Split(s, ",") {
		switch validate.Verdict(strings.ToLower(strings.TrimSpace(item))) {
		case validate.Valid:
			set |= verdictBit(idxValid)
		case validate.Invalid:
			set |= verdictBit(idxInvalid)
		case validate.Risky:
			set |= verdictBit(idxRisky)
		case validate.Unknown:
			set |= verdictBit(idxUnknown)
		default:
			return 0, fmt.Errorf("verdict %q is not one of valid, invalid, risky, unknown", strings.TrimSpace(item))
		}
	}
	return set, nil
}

// DownloadOptions choose what a download holds and how it is written.
type DownloadOptions struct {
	// Format is csv (the default) or ndjson.
	Format string
	// Verdicts keeps the rows whose lead verdict is listed
	// (comma-separated, e.g. "valid,risky"); empty keeps all.
	Verdicts string
	// Unsafe writes CSV cells exactly as they are, for CRM imports and
	// programs. By default (false) the CSV is spreadsheet-safe: cells a
	// spreadsheet could run as a formula are neutralised (see
	// cellWriter.appendCell).
	Unsafe bool
}

// Download streams a completed job's rows. Its file is open from the
// moment Results returns, so a DELETE racing with it does not cut it
// short. Close it when done.
type Download struct {
	// Filename suits a Content-Disposition header.
	Filename string
	// ContentType is the media type of the body.
	ContentType string

	format string
	unsafe bool
	data   io.ReadCloser // the stored rows, zstd-compressed
	keep   verdictSet
	id     string
}

// Results opens caller's completed job for download. A job that is not
// completed is an *Error of KindConflict that says why.
func (s *Service) Results(_ context.Context, caller, id string, opt DownloadOptions) (*Download, error) {
	d, err := s.newDownload(opt, id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	j := s.lookup(caller, id)
	if j == nil {
		s.mu.Unlock()
		return nil, errNotFound
	}
	conflict := resultsConflict(&j.rec)
	delimiter := outputDelimiter(j.rec.Layout)
	s.mu.Unlock()
	if conflict != nil {
		return nil, conflict
	}
	d.setDelimiter(delimiter)
	if d.data, err = os.Open(filepath.Join(s.jobDir(id), resultsFile)); err != nil {
		return nil, notFoundIfGone(err)
	}
	return d, nil
}

// newDownload checks the options of a download of job id.
func (s *Service) newDownload(opt DownloadOptions, id string) (*Download, error) {
	format := opt.Format
	switch format {
	case "":
		format = FormatCSV
	case FormatCSV, FormatNDJSON:
	default:
		return nil, invalid("format", "invalid_format", "format %q is not csv or ndjson", format)
	}
	keep, err := parseVerdicts(opt.Verdicts)
	if err != nil {
		return nil, invalid("verdict", "invalid_verdict", "%s; send e.g. verdict=valid,risky", err.Error())
	}
	return &Download{format: format, unsafe: opt.Unsafe, keep: keep, id: id}, nil
}

// setDelimiter sets the media type and file name, which depend on the
// results' delimiter.
func (d *Download) setDelimiter(delimiter byte) {
	ext := d.format
	d.ContentType = "text/csv; charset=utf-8"
	switch {
	case d.format == FormatNDJSON:
		d.ContentType = "application/x-ndjson"
	case delimiter == '\t':
		ext = "tsv"
	}
	d.Filename = "leadcheck-" + d.id + "." + ext
}

// resultsConflict says why a job has no results to download, or nil.
func resultsConflict(rec *record) *Error {
	switch rec.Status {
	case StatusQueued, StatusRunning:
		return &Error{Kind: KindConflict, Code: "job_not_finished",
			Message: fmt.Sprintf("the job is %s (%d of %d rows done) and its results are not ready; poll GET /v1/bulk/%s until status is completed",
				rec.Status, rec.ProcessedRows, rec.TotalRows, rec.ID)}
	case StatusFailed:
		return &Error{Kind: KindConflict, Code: "job_failed",
			Message: fmt.Sprintf("the job failed and has no results: %s", rec.Error)}
	case StatusCanceled:
		return &Error{Kind: KindConflict, Code: "job_canceled",
			Message: "the job was canceled and its results deleted; submit the file again"}
	}
	return nil
}

func notFoundIfGone(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return errNotFound
	}
	return fmt.Errorf("open results: %w", err)
}

// WriteTo writes the body: for CSV a UTF-8 BOM, the header line and the
// rows, with the input's delimiter; for NDJSON the rows. It decompresses
// the stored rows as it goes, so memory stays flat whatever the job.
func (d *Download) WriteTo(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := &countingWriter{w: bw}
	err := d.write(cw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return cw.n, err
}

func (d *Download) write(w io.Writer) error {
	zr, err := zstd.NewReader(d.data, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	defer zr.Close()
	sr := newStoredReader(zr)
	h, err := sr.header()
	if err != nil {
		return err
	}
	cells := cellWriter{delimiter: h.delimiter, safe: !d.unsafe}
	line := make([]byte, 0, 4096)
	if d.format == FormatCSV {
		line = appendCSVHeader(append(line, utf8BOM...), h.keys, h.enrich, cells)
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	for {
		b, err := sr.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(b) == 0 || d.keep&verdictBit(b[0]) == 0 {
			continue
		}
		r, err := sr.decodeRow(b)
		if err != nil {
			return err
		}
		if d.format == FormatCSV {
			line = appendCSVRow(line[:0], len(h.keys), r, cells)
		} else {
			line = appendNDJSONRow(line[:0], h.keys, r)
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
}

// Close releases the stored rows (a file, or a database transaction).
func (d *Download) Close() error { return d.data.Close() }

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
