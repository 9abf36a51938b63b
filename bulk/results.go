package bulk

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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

// Download streams a completed job's rows. Its files are open from the
// moment Results returns, so a DELETE racing with it does not cut it
// short. Close it when done.
type Download struct {
	// Filename suits a Content-Disposition header.
	Filename string
	// ContentType is the media type of the body.
	ContentType string

	format string
	data   *os.File
	index  *os.File // nil when every row is kept
	header int64    // bytes before the first row (the CSV header line)
	keep   verdictSet
}

// Results opens caller's completed job for download in format (csv, the
// default, or ndjson), keeping the rows whose verdict is in verdicts
// (comma-separated; empty keeps all). A job that is not completed is an
// *Error of KindConflict that says why.
func (s *Service) Results(_ context.Context, caller, id, format, verdicts string) (*Download, error) {
	switch format {
	case "":
		format = FormatCSV
	case FormatCSV, FormatNDJSON:
	default:
		return nil, invalid("format", "invalid_format", "format %q is not csv or ndjson", format)
	}
	keep, err := parseVerdicts(verdicts)
	if err != nil {
		return nil, invalid("verdict", "invalid_verdict", "%s; send e.g. verdict=valid,risky", err.Error())
	}
	s.mu.Lock()
	j := s.lookup(caller, id)
	if j == nil {
		s.mu.Unlock()
		return nil, errNotFound
	}
	rec := &j.rec
	var conflict *Error
	switch rec.Status {
	case StatusQueued, StatusRunning:
		conflict = &Error{Kind: KindConflict, Code: "job_not_finished",
			Message: fmt.Sprintf("the job is %s (%d of %d rows done) and its results are not ready; poll GET /v1/bulk/%s until status is completed",
				rec.Status, rec.ProcessedRows, rec.TotalRows, rec.ID)}
	case StatusFailed:
		conflict = &Error{Kind: KindConflict, Code: "job_failed",
			Message: fmt.Sprintf("the job failed and has no results: %s", rec.Error)}
	case StatusCanceled:
		conflict = &Error{Kind: KindConflict, Code: "job_canceled",
			Message: "the job was canceled and its results deleted; submit the file again"}
	}
	s.mu.Unlock()
	if conflict != nil {
		return nil, conflict
	}

	dir := s.jobDir(id)
	d := &Download{format: format, keep: keep, Filename: "leadcheck-" + id + "." + format}
	name := csvFile
	d.ContentType = "text/csv; charset=utf-8"
	if format == FormatNDJSON {
		name = ndjsonFile
		d.ContentType = "application/x-ndjson"
	}
	if d.data, err = os.Open(filepath.Join(dir, name)); err != nil {
		return nil, notFoundIfGone(err)
	}
	if format == FormatCSV && keep != allVerdicts {
		cp, err := readCheckpoint(dir)
		if err == nil && cp == nil {
			err = os.ErrNotExist
		}
		if err != nil {
			d.Close()
			return nil, notFoundIfGone(err)
		}
		d.header = cp.HeaderBytes
	}
	if keep != allVerdicts {
		if d.index, err = os.Open(filepath.Join(dir, indexFile)); err != nil {
			d.Close()
			return nil, notFoundIfGone(err)
		}
	}
	return d, nil
}

func notFoundIfGone(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return errNotFound
	}
	return fmt.Errorf("open results: %w", err)
}

// WriteTo writes the body: for CSV a UTF-8 BOM, the header line and the
// rows; for NDJSON the rows. With a verdict filter it walks the index and
// copies or skips each row by its recorded length.
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
	if d.format == FormatCSV {
		if _, err := io.WriteString(w, utf8BOM); err != nil {
			return err
		}
	}
	if d.index == nil {
		_, err := io.Copy(w, d.data)
		return err
	}
	data := bufio.NewReaderSize(d.data, 256<<10)
	if _, err := io.CopyN(w, data, d.header); err != nil {
		return fmt.Errorf("copy header: %w", err)
	}
	index := bufio.NewReaderSize(d.index, 64<<10)
	var e [indexEntrySize]byte
	for {
		if _, err := io.ReadFull(index, e[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read index: %w", err)
		}
		n := int64(binary.LittleEndian.Uint32(e[1:5]))
		if d.format == FormatNDJSON {
			n = int64(binary.LittleEndian.Uint32(e[5:9]))
		}
		if d.keep&verdictBit(e[0]) != 0 {
			if _, err := io.CopyN(w, data, n); err != nil {
				return fmt.Errorf("copy row: %w", err)
			}
		} else if _, err := data.Discard(int(n)); err != nil {
			return fmt.Errorf("skip row: %w", err)
		}
	}
}

// Close releases the files.
func (d *Download) Close() error {
	var err error
	for _, f := range []*os.File{d.data, d.index} {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
	}
	return err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
