package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/client"
)

// bulkFlags are the choices of `leadcheck bulk`.
type bulkFlags struct {
	server, apiKey string
	out, format    string
	verdicts       string
	excelSafe      bool
	opts           bulk.Options
	poll           time.Duration
}

// bulkCommand validates a whole file: in-process by default (no server
// needed; the job runs in a temporary directory that is removed at the
// end), or through a server with --server (uploaded with the generated
// client, polled, downloaded). A progress bar goes to stdout, then one
// summary line. It ends with errSomeInvalid when a row's lead is invalid
// (exit status 2).
func bulkCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bulk", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: leadcheck bulk [flags] FILE

Example: leadcheck bulk leads.csv -o clean.csv --default-country US

The results keep the file's columns and delimiter and add leadcheck_*
columns; by default they are safe to open in a spreadsheet (formulas
neutralised); --excel-safe=false writes every cell unchanged, for a CRM
import. Exit status: 0 nothing invalid, 2 some rows invalid, 1 error.

Flags:
`)
		printFlags(fs, fs.Output())
	}
	var f bulkFlags
	fs.StringVar(&f.server, "server", "", "run the job on a leadcheck server at this URL instead of in-process")
	fs.StringVar(&f.apiKey, "api-key", "", "API key for --server (default: LEADCHECK_API_KEY)")
	fs.StringVar(&f.out, "o", "", "results file (default: next to FILE, leads.csv gives leads.leadcheck.csv or .ndjson)")
	fs.StringVar(&f.format, "format", "csv", "results format: csv or ndjson")
	fs.StringVar(&f.verdicts, "verdict", "", "keep only rows with these verdicts, e.g. valid,risky")
	fs.BoolVar(&f.excelSafe, "excel-safe", true, "neutralise formulas in CSV cells for spreadsheets; --excel-safe=false writes cells unchanged, for CRM imports")
	fs.StringVar(&f.opts.EmailColumn, "email-column", "", "email column: header name or 1-based index (default: found from the header)")
	fs.StringVar(&f.opts.PhoneColumn, "phone-column", "", "phone column: header name or 1-based index")
	fs.StringVar(&f.opts.CountryColumn, "country-column", "", "country column: header name or 1-based index")
	fs.StringVar(&f.opts.DomainColumn, "domain-column", "", "domain column: header name or 1-based index")
	fs.StringVar(&f.opts.DefaultCountry, "default-country", "", "region of national phone numbers without a country cell, e.g. US")
	fs.StringVar(&f.opts.HasHeader, "has-header", "auto", "whether the first row is a header: auto, true or false")
	fs.StringVar(&f.opts.Delimiter, "delimiter", "", `field delimiter: "," ";" "|" or "tab" (default: sniffed)`)
	fs.StringVar(&f.opts.Name, "name", "", "job name (default: the file's name)")
	fs.DurationVar(&f.poll, "poll", 500*time.Millisecond, "how often progress is read")
	cfg, files, err := loadCommandConfig(fs, args, getenv, stdout)
	if err != nil {
		return flagError(err)
	}
	if f.apiKey == "" {
		f.apiKey = cfg.APIKey
	}
	if len(files) != 1 {
		return fmt.Errorf("give exactly one FILE, not %d (see leadcheck bulk --help)", len(files))
	}
	if f.format != bulk.FormatCSV && f.format != bulk.FormatNDJSON {
		return fmt.Errorf("--format %q is not csv or ndjson", f.format)
	}
	if f.poll <= 0 {
		f.poll = 500 * time.Millisecond
	}
	file := files[0]
	if f.out == "" {
		f.out = resultsName(file, f.format)
	}
	if f.opts.Name == "" {
		f.opts.Name = filepath.Base(file)
	}
	var st bulk.Status
	if f.server != "" {
		st, err = bulkRemote(ctx, f, file, stdout)
	} else {
		st, err = bulkLocal(ctx, cfg, f, file, stdout)
	}
	if err != nil {
		return err
	}
	took := ""
	if st.StartedAt != nil && st.FinishedAt != nil {
		if d := st.FinishedAt.Sub(*st.StartedAt); d > 0 {
			took = fmt.Sprintf(" in %s (%.0f rows/s)", d.Round(time.Millisecond), float64(st.ProcessedRows)/d.Seconds())
		}
	}
	fmt.Fprintf(stdout, "%d rows%s: %d valid, %d invalid, %d risky, %d unknown; results in %s\n",
		st.ProcessedRows, took, st.Counts.Valid, st.Counts.Invalid, st.Counts.Risky, st.Counts.Unknown, f.out)
	if st.Counts.Invalid > 0 {
		return errSomeInvalid
	}
	return nil
}

// resultsName is the default results file of input: next to it, with
// ".leadcheck" before the extension (leads.csv.gz gives leads.leadcheck.csv;
// a .tsv or .tab file, whose results keep the tab, gives .tsv).
func resultsName(input, format string) string {
	stem := strings.TrimSuffix(input, filepath.Ext(input))
	if strings.EqualFold(filepath.Ext(input), ".gz") {
		input = stem
		stem = strings.TrimSuffix(stem, filepath.Ext(stem))
	}
	if stem == "" || strings.HasSuffix(stem, string(filepath.Separator)) {
		stem = input
	}
	ext := format
	if e := strings.ToLower(filepath.Ext(input)); format == bulk.FormatCSV && (e == ".tsv" || e == ".tab") {
		ext = "tsv"
	}
	return stem + ".leadcheck." + ext
}

// bulkLocal runs the job in-process with the same service the server uses,
// over a temporary directory.
func bulkLocal(ctx context.Context, cfg config, f bulkFlags, file string, stdout io.Writer) (bulk.Status, error) {
	cfg.RedisURL = "" // a one-shot command has no use for a shared cache
	p := &parts{cfg: cfg}
	if err := p.newEngine(); err != nil {
		return bulk.Status{}, err
	}
	defer p.domains.Close()
	dir, err := os.MkdirTemp("", "leadcheck-bulk-")
	if err != nil {
		return bulk.Status{}, err
	}
	defer os.RemoveAll(dir)
	svc, err := bulk.Open(bulk.Config{
		Dir:            dir,
		Lists:          p.lists,
		Domains:        p.domains,
		Workers:        cfg.Bulk.Workers,
		LookupsAhead:   cfg.Bulk.LookupsAhead,
		ConcurrentJobs: 1,
		MaxRows:        cfg.Bulk.MaxRows,
		DNSRetryBudget: cfg.Verdicts.BulkDNSRetryBudget,
		// No real-time path runs in this process: every core is the job's.
		RealTimeIdle: func() bool { return true },
	})
	if err != nil {
		return bulk.Status{}, err
	}
	up, err := svc.NewUpload()
	if err != nil {
		return bulk.Status{}, err
	}
	defer up.Discard()
	in, err := os.Open(file)
	if err != nil {
		return bulk.Status{}, err
	}
	_, err = up.ReadFrom(in)
	in.Close()
	if err != nil {
		return bulk.Status{}, fmt.Errorf("read %s: %w", file, err)
	}
	st, err := svc.Submit(ctx, "", up, f.opts)
	if err != nil {
		return st, describeBulkError(file, err)
	}

	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(runCtx) }()
	defer func() { stop(); <-ran }()

	bar := newProgress(stdout, st.TotalRows, st.ProcessedRows)
	tick := time.NewTicker(f.poll)
	defer tick.Stop()
	for !st.Status.Final() {
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
		if st, err = svc.Get(ctx, "", st.ID); err != nil {
			return st, err
		}
		bar.set(st.ProcessedRows)
	}
	bar.finish()
	fmt.Fprintln(stdout)
	if st.Status != bulk.StatusCompleted {
		return st, fmt.Errorf("the job %s: %s", st.Status, orEmpty(st.Error))
	}
	d, err := svc.Results(ctx, "", st.ID, bulk.DownloadOptions{Format: f.format, Verdicts: f.verdicts, Unsafe: !f.excelSafe})
	if err != nil {
		return st, describeBulkError(file, err)
	}
	defer d.Close()
	return st, writeResults(f.out, file, d.WriteTo)
}

// bulkRemote uploads through the generated client, polls, and downloads.
func bulkRemote(ctx context.Context, f bulkFlags, file string, stdout io.Writer) (bulk.Status, error) {
	var st bulk.Status
	c, err := newAPIClient(f.server, f.apiKey)
	if err != nil {
		return st, err
	}
	in, err := os.Open(file)
	if err != nil {
		return st, err
	}
	defer in.Close()

	// The multipart body is written while it is sent: the file is never
	// held in memory.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	written := make(chan struct{})
	go func() {
		defer close(written)
		pw.CloseWithError(writeBulkForm(mw, f.opts, filepath.Base(file), in))
	}()
	created, err := c.CreateBulkJobWithBodyWithResponse(ctx, mw.FormDataContentType(), pr)
	pr.Close()
	<-written
	if err != nil {
		return st, fmt.Errorf("upload: %w", err)
	}
	if created.JSON202 == nil {
		return st, serverError("upload", created.StatusCode(), created.Status(), created.Body)
	}
	id := created.JSON202.Id
	st = statusOf(created.JSON202)

	bar := newProgress(stdout, st.TotalRows, st.ProcessedRows)
	tick := time.NewTicker(f.poll)
	defer tick.Stop()
	for !st.Status.Final() {
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
		got, err := c.GetBulkJobWithResponse(ctx, id)
		if err != nil {
			return st, fmt.Errorf("poll: %w", err)
		}
		if got.JSON200 == nil {
			return st, serverError("poll", got.StatusCode(), got.Status(), got.Body)
		}
		st = statusOf(got.JSON200)
		bar.set(st.ProcessedRows)
	}
	bar.finish()
	fmt.Fprintln(stdout)
	if st.Status != bulk.StatusCompleted {
		return st, fmt.Errorf("the job %s: %s", st.Status, orEmpty(st.Error))
	}
	format := client.GetBulkResultsParamsFormat(f.format)
	params := &client.GetBulkResultsParams{Format: &format, ExcelSafe: &f.excelSafe}
	if f.verdicts != "" {
		params.Verdict = &f.verdicts
	}
	resp, err := c.GetBulkResults(ctx, id, params)
	if err != nil {
		return st, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return st, serverError("download", resp.StatusCode, resp.Status, body)
	}
	return st, writeResults(f.out, file, func(w io.Writer) (int64, error) { return io.Copy(w, resp.Body) })
}

// writeBulkForm writes the options and then the file part.
func writeBulkForm(mw *multipart.Writer, o bulk.Options, filename string, file io.Reader) error {
	for _, field := range []struct{ name, value string }{
		{"name", o.Name}, {"email_column", o.EmailColumn}, {"phone_column", o.PhoneColumn},
		{"country_column", o.CountryColumn}, {"domain_column", o.DomainColumn},
		{"default_country", o.DefaultCountry}, {"has_header", o.HasHeader}, {"delimiter", o.Delimiter},
	} {
		if field.value == "" {
			continue
		}
		if err := mw.WriteField(field.name, field.value); err != nil {
			return err
		}
	}
	part, err := mw.CreateFormFile("file", filename)
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, file); err != nil {
		return err
	}
	return mw.Close()
}

// statusOf converts the client's job to bulk's (same JSON).
func statusOf(j *client.BulkJob) bulk.Status {
	var st bulk.Status
	b, err := json.Marshal(j)
	if err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// writeResults writes the results to a temporary file next to path and
// renames it into place, so a failure leaves no half-written file. The
// file gets the input's permission bits (a 0644 export gives 0644
// results), never an execute bit.
func writeResults(path, input string, write func(io.Writer) (int64, error)) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	_, err = write(tmp)
	if err == nil {
		mode := os.FileMode(0o644)
		if fi, serr := os.Stat(input); serr == nil {
			mode = fi.Mode().Perm() &^ 0o111
		}
		err = tmp.Chmod(mode)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// progress is the bar of a running job. Its rate is ours (rateMeter), from
// the job's own progress, not progressbar's, which counted rows done
// before it saw them as done at once.
type progress struct {
	bar   *progressbar.ProgressBar
	meter rateMeter
	now   func() time.Time
}

func newProgress(w io.Writer, total, done int) *progress {
	p := &progress{now: time.Now}
	p.bar = progressbar.NewOptions(max(total, 1),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("validating"),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
		// Its time left comes from its own rate, as wrong as the rate was.
		progressbar.OptionSetPredictTime(false),
	)
	p.meter.add(p.now(), done)
	_ = p.bar.Set(done)
	return p
}

func (p *progress) set(done int) {
	if rate := p.meter.add(p.now(), done); rate > 0 {
		p.bar.Describe(fmt.Sprintf("validating, %.0f rows/s", rate))
	}
	_ = p.bar.Set(done)
}

func (p *progress) finish() { _ = p.bar.Finish() }

// describeBulkError puts the file name in front of a refusal.
func describeBulkError(file string, err error) error {
	var be *bulk.Error
	if errors.As(err, &be) {
		return fmt.Errorf("%s: %s (%s)", file, be.Message, be.Code)
	}
	return err
}

func serverError(step string, code int, status string, body []byte) error {
	var e client.ErrorResponse
	if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
		return fmt.Errorf("%s: server said %d %s: %s (request id %s)", step, code, e.Error.Code, e.Error.Message, e.Error.RequestId)
	}
	return fmt.Errorf("%s: server answered %s", step, status)
}

func orEmpty(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
