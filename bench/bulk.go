package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/validate"
)

// errBulkUnavailable means the service answers 501 on the bulk routes: the
// feature is not built yet, so B3-B5 are reported as not available.
var errBulkUnavailable = errors.New("bulk API not available (501)")

// bulkDefaultCountry is the upload's default_country, for the national
// phone numbers of the generated files; the naive floor uses it too.
const bulkDefaultCountry = "US"

// bulkAvailable probes the bulk routes with a job id that cannot exist: a
// 501 means not implemented, anything else (404, 400) means the routes
// work.
func bulkAvailable(ctx context.Context, c *client.ClientWithResponses) (bool, error) {
	resp, err := c.GetBulkJobWithResponse(ctx, "bench-probe-no-such-job")
	if err != nil {
		return false, fmt.Errorf("probe bulk: %w", err)
	}
	return resp.StatusCode() != http.StatusNotImplemented, nil
}

// bulkRun is one bulk job measured end to end.
type bulkRun struct {
	Rows      int           // result rows read back
	Upload    time.Duration // until POST /v1/bulk answered
	Done      time.Duration // until the status said completed
	Wall      time.Duration // until the last result row was read
	RowsPerS  float64       // Rows / Wall
	PeakRSS   int64
	Status    string
	TimedOut  bool
	Processed int // processed_rows at the end (for a timeout)
	// Disk is what the server's data directory took once the results
	// were read (allocated blocks), Upload bytes the file's size; 0 when
	// not measured (the PostgreSQL store keeps its jobs elsewhere).
	Disk, UploadBytes int64
}

func (b bulkRun) String() string {
	if b.TimedOut {
		return fmt.Sprintf("timed out after %v with %d rows processed (status %s) → %.0f rows/s so far, peak RSS %s",
			b.Wall.Round(time.Second), b.Processed, b.Status, b.RowsPerS, mb(b.PeakRSS))
	}
	disk := ""
	if b.Disk > 0 && b.UploadBytes > 0 {
		disk = fmt.Sprintf(", data dir %s on disk for a %s upload (%.2f×)", mb(b.Disk), mb(b.UploadBytes), b.DiskRatio())
	}
	return fmt.Sprintf("%d rows: upload %v, completed at %v, last result row at %v → %.0f rows/s, peak RSS %s%s",
		b.Rows, b.Upload.Round(time.Millisecond), b.Done.Round(time.Millisecond), b.Wall.Round(time.Millisecond),
		b.RowsPerS, mb(b.PeakRSS), disk)
}

// DiskRatio is Disk ÷ UploadBytes.
func (b bulkRun) DiskRatio() float64 { return float64(b.Disk) / float64(max(b.UploadBytes, 1)) }

// diskUsage is the allocated size of every file under dir.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		} else {
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// runBulk uploads file as multipart/form-data, streamed from disk through a
// pipe, waits for the job to end, and reads every result row back as CSV.
// The clock runs from the start of the upload to the last result row. A job
// still running at timeout is reported with TimedOut, not as an error: it
// is a speed, and speeds never fail the run.
func runBulk(ctx context.Context, c *client.ClientWithResponses, file dataset, poll, timeout time.Duration) (bulkRun, error) {
	return runBulkOn(ctx, c, c, c, file, poll, timeout)
}

// runBulkOn is runBulk with the upload, the polling and the download each
// through its own server (instances of one cluster).
func runBulkOn(ctx context.Context, c, pollC, dlC *client.ClientWithResponses, file dataset, poll, timeout time.Duration) (bulkRun, error) {
	var run bulkRun
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()

	body, contentType := multipartUpload(file.Path, map[string]string{
		"name":            "bench " + file.Path,
		"default_country": bulkDefaultCountry,
		"email_column":    "email",
		"phone_column":    "phone",
	})
	defer body.Close()
	created, err := c.CreateBulkJobWithBodyWithResponse(ctx, contentType, body)
	if err != nil {
		return run, fmt.Errorf("create bulk job: %w", err)
	}
	run.Upload = time.Since(start)
	switch {
	case created.StatusCode() == http.StatusNotImplemented:
		return run, errBulkUnavailable
	case created.JSON202 == nil:
		return run, fmt.Errorf("create bulk job: got %s, want 202: %.300s", created.Status(), created.Body)
	}
	id := created.JSON202.Id

	for {
		st, err := pollC.GetBulkJobWithResponse(ctx, id)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			run.TimedOut = true
			run.Wall = time.Since(start)
			if run.Wall > 0 {
				run.RowsPerS = float64(run.Processed) / run.Wall.Seconds()
			}
			return run, nil
		}
		if err != nil {
			return run, fmt.Errorf("bulk job %s status: %w", id, err)
		}
		if st.JSON200 == nil {
			return run, fmt.Errorf("bulk job %s status: got %s, want 200: %.300s", id, st.Status(), st.Body)
		}
		job := st.JSON200
		run.Status, run.Processed = string(job.Status), job.ProcessedRows
		switch job.Status {
		case client.BulkStatusCompleted:
			run.Done = time.Since(start)
		case client.BulkStatusFailed, client.BulkStatusCanceled:
			msg := ""
			if job.Error != nil {
				msg = *job.Error
			}
			return run, fmt.Errorf("bulk job %s ended %s: %s", id, job.Status, msg)
		default:
			sleepCtx(ctx, poll)
			continue
		}
		break
	}

	n, err := countResultRows(ctx, dlC, id)
	if err != nil {
		return run, err
	}
	run.Rows = n
	run.Wall = time.Since(start)
	run.RowsPerS = float64(n) / run.Wall.Seconds()
	if n != file.Rows {
		return run, fmt.Errorf("bulk job %s: got %d result rows, want %d (one per input row)", id, n, file.Rows)
	}
	return run, nil
}

// multipartUpload streams fields and then the file as a multipart body; the
// file is copied from disk as the request is sent, never held in memory.
func multipartUpload(path string, fields map[string]string) (io.ReadCloser, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeMultipart(mw, path, fields))
	}()
	return pr, mw.FormDataContentType()
}

func writeMultipart(mw *multipart.Writer, path string, fields map[string]string) error {
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			return fmt.Errorf("multipart field %s: %w", k, err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("multipart file: %w", err)
	}
	defer f.Close()
	fw, err := mw.CreateFormFile("file", "leads.csv")
	if err != nil {
		return fmt.Errorf("multipart file: %w", err)
	}
	if _, err := io.Copy(fw, f); err != nil {
		return fmt.Errorf("multipart file: %w", err)
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("multipart close: %w", err)
	}
	return nil
}

// countResultRows streams GET /v1/bulk/{id}/results?format=csv and counts
// the data rows (the header is not one).
func countResultRows(ctx context.Context, c *client.ClientWithResponses, id string) (int, error) {
	format := client.GetBulkResultsParamsFormatCsv
	resp, err := c.ClientInterface.GetBulkResults(ctx, id, &client.GetBulkResultsParams{Format: &format})
	if err != nil {
		return 0, fmt.Errorf("bulk results %s: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, fmt.Errorf("bulk results %s: got %s, want 200: %s", id, resp.Status, b)
	}
	r := csv.NewReader(bufio.NewReaderSize(resp.Body, 1<<16))
	r.ReuseRecord, r.FieldsPerRecord, r.LazyQuotes = true, -1, true
	n := -1
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("bulk results %s: row %d: %w", id, n+1, err)
		}
		n++
	}
	return max(n, 0), nil
}

// naiveRun is the naive bulk floor: rows validated one by one, each with
// its own DNS lookups.
type naiveRun struct {
	Sampled int
	Elapsed time.Duration
	PerRow  time.Duration
	// Extrapolated is PerRow times the rows of the file the sample came
	// from: what validating the whole file this way would take.
	Extrapolated time.Duration
	FileRows     int
}

func (n naiveRun) String() string {
	return fmt.Sprintf("%d of %d rows one by one in %v (%v/row) → %v for all %d rows (extrapolated)",
		n.Sampled, n.FileRows, n.Elapsed.Round(time.Millisecond), n.PerRow.Round(time.Microsecond),
		n.Extrapolated.Round(time.Second), n.FileRows)
}

// runNaive validates the first sample rows of file in this process, one
// after the other, with an engine over the uncached DNS checker: no cache,
// no sharing between rows, as a loop over /v1/validate with no cache would.
// Validating every row this way would take minutes, so the time of the
// sample is extrapolated to the whole file.
func runNaive(ctx context.Context, dnsAddr string, file dataset, sample int) (naiveRun, error) {
	resolver, err := validate.NewDNSResolver([]string{dnsAddr}, 2*time.Second)
	if err != nil {
		return naiveRun{}, fmt.Errorf("naive bulk: %w", err)
	}
	lists, err := validate.LoadLists(validate.ListsConfig{})
	if err != nil {
		return naiveRun{}, fmt.Errorf("naive bulk: %w", err)
	}
	engine := validate.NewEngine(lists, validate.DNSChecker{Resolver: resolver})
	f, err := os.Open(file.Path)
	if err != nil {
		return naiveRun{}, fmt.Errorf("naive bulk: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReader(f))
	r.ReuseRecord = true
	if _, err := r.Read(); err != nil { // header
		return naiveRun{}, fmt.Errorf("naive bulk: header: %w", err)
	}
	out := naiveRun{FileRows: file.Rows}
	start := time.Now()
	for out.Sampled < sample {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("naive bulk: row %d: %w", out.Sampled+1, err)
		}
		req := validate.Request{Email: rec[0], Phone: rec[1], Name: rec[2], Country: bulkDefaultCountry}
		if _, err := engine.Validate(ctx, req); err != nil {
			var ie *validate.InputError
			if !errors.As(err, &ie) {
				return out, fmt.Errorf("naive bulk: row %d: %w", out.Sampled+1, err)
			}
		}
		out.Sampled++
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	if out.Sampled == 0 {
		return out, errors.New("naive bulk: the file has no rows")
	}
	out.Elapsed = time.Since(start)
	out.PerRow = out.Elapsed / time.Duration(out.Sampled)
	out.Extrapolated = out.PerRow * time.Duration(file.Rows)
	return out, nil
}
