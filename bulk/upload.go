package bulk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/validate"
)

// Options are what a submission may choose. Empty values mean "detect" or
// "none".
type Options struct {
	// Name labels the job for people; at most 200 characters.
	Name string
	// The columns to read, by header name or 1-based index; empty finds
	// them from common header names.
	EmailColumn, PhoneColumn, CountryColumn, DomainColumn, NameColumn, CompanyColumn string
	// DefaultCountry (ISO 3166-1 alpha-2) reads national phone numbers of
	// rows whose country cell is empty or not a known region.
	DefaultCountry string
	// HasHeader is "auto" (or empty), "true" or "false".
	HasHeader string
	// Delimiter is "," ";" "|" or "tab"; empty sniffs it.
	Delimiter string
	// WebhookURL gets a signed POST when the job ends.
	WebhookURL string
	// Enrich adds enrichment to every row (slower: it may fetch web sites).
	Enrich bool
	// Admit, when set, is asked with the file's row count once the file
	// is scanned and before the job exists; its error refuses the upload
	// (a quota the file would pass). It is not a form field.
	Admit func(ctx context.Context, rows int) error
	// SMTP verifies every address over SMTP (needs Config.Mailbox).
	SMTP bool
}

// checked is Options after checkOptions: what the job keeps.
type checked struct {
	ingest         ingest.Options
	name           string
	defaultCountry string
	webhookURL     string
	enrich         bool
	smtp           bool
}

// checkOptions refuses options that would only fail later, naming the
// form field at fault.
func (s *Service) checkOptions(o Options) (checked, error) {
	c := checked{
		name:   strings.TrimSpace(o.Name),
		enrich: o.Enrich,
		smtp:   o.SMTP,
		ingest: ingest.Options{
			EmailColumn:     strings.TrimSpace(o.EmailColumn),
			PhoneColumn:     strings.TrimSpace(o.PhoneColumn),
			CountryColumn:   strings.TrimSpace(o.CountryColumn),
			DomainColumn:    strings.TrimSpace(o.DomainColumn),
			NameColumn:      strings.TrimSpace(o.NameColumn),
			CompanyColumn:   strings.TrimSpace(o.CompanyColumn),
			MaxRows:         s.cfg.MaxRows,
			MaxFieldBytes:   s.cfg.MaxFieldBytes,
			MaxColumns:      s.cfg.MaxColumns,
			MaxHeaderBytes:  s.cfg.MaxHeaderBytes,
			MaxRecordBytes:  s.cfg.MaxRecordBytes,
			MaxDecodedBytes: s.cfg.MaxDecodedBytes,
			MaxExpansion:    s.cfg.MaxExpansionRatio,
			// A scan is pure CPU: give the real-time path's goroutines a
			// turn after every piece of text.
			Yield: runtime.Gosched,
		},
	}
	if utf8.RuneCountInString(c.name) > 200 || !utf8.ValidString(c.name) {
		return c, invalid("name", "invalid_name", "name must be valid UTF-8 of at most 200 characters")
	}
	for _, col := range []struct{ field, v string }{
		{"email_column", c.ingest.EmailColumn}, {"phone_column", c.ingest.PhoneColumn},
		{"country_column", c.ingest.CountryColumn}, {"domain_column", c.ingest.DomainColumn},
		{"name_column", c.ingest.NameColumn}, {"company_column", c.ingest.CompanyColumn},
	} {
		if len(col.v) > 200 {
			return c, invalid(col.field, "field_too_long", "%s is longer than 200 bytes; send a header name or a 1-based column number", col.field)
		}
	}
	if dc := strings.TrimSpace(o.DefaultCountry); dc != "" {
		if !validate.KnownRegion(dc) {
			return c, invalid("default_country", "unknown_country",
				"default_country %q is not an ISO 3166-1 alpha-2 code we know; send a code such as US, GB or DE", dc)
		}
		c.defaultCountry = strings.ToUpper(dc)
	}
	switch strings.ToLower(strings.TrimSpace(o.HasHeader)) {
	case "", "auto":
	case "true":
		t := true
		c.ingest.HasHeader = &t
	case "false":
		f := false
		c.ingest.HasHeader = &f
	default:
		return c, invalid("has_header", "invalid_option", "has_header %q is not auto, true or false", o.HasHeader)
	}
	switch o.Delimiter {
	case "":
	case ",", ";", "|":
		c.ingest.Delimiter = rune(o.Delimiter[0])
	case "tab", "\t", `\t`:
		c.ingest.Delimiter = '\t'
	default:
		return c, invalid("delimiter", "invalid_option", `delimiter %q is not one of "," ";" "|" or "tab"`, o.Delimiter)
	}
	if u := strings.TrimSpace(o.WebhookURL); u != "" {
		if err := s.checkWebhookURL(u); err != nil {
			return c, err
		}
		c.webhookURL = u
	}
	if c.smtp && s.cfg.Mailbox == nil {
		return c, invalid("smtp", "smtp_disabled", "mailbox verification over SMTP is not enabled on this server; send smtp=false, or ask the operator to set LEADCHECK_SMTP=on")
	}
	if c.enrich && s.cfg.Enricher == nil {
		return c, invalid("enrich", "enrich_unavailable", "enrichment is not configured on this server; send enrich=false")
	}
	return c, nil
}

// checkWebhookURL accepts absolute http(s) URLs. Hosts that are IP
// literals of loopback, private or link-local networks (and "localhost")
// are refused at once for a clear 400; names that resolve to such
// addresses are caught by the client's dial guard at delivery.
func (s *Service) checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 2048 {
		return invalid("webhook_url", "invalid_webhook_url", "webhook_url must be an absolute http or https URL of at most 2048 bytes, such as https://example.com/hooks/leadcheck")
	}
	if s.cfg.AllowPrivateWebhooks {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return invalid("webhook_url", "webhook_url_blocked", "webhook_url points to this machine; use a public address")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			return invalid("webhook_url", "webhook_url_blocked", "webhook_url is not a public address; use one the internet can reach")
		}
	} else if net.ParseIP(host) != nil {
		return invalid("webhook_url", "webhook_url_blocked", "webhook_url is not a public address; use one the internet can reach")
	}
	return nil
}

// An upload's write buffer and its scan's file reader are pooled: uploads
// refused after a few megabytes (bombs, wrong files) would otherwise leave
// half a MiB of garbage each, and a stream of them keeps the garbage
// collector running while the real-time path waits.
var (
	uploadWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 256<<10) }}
	fileReaders   = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 256<<10) }}
)

// Upload is a file being received for a new job. It lives in its own
// temporary directory until Submit moves it into place; Discard removes it
// (call it deferred: it does nothing after a successful Submit).
type Upload struct {
	svc       *Service
	caller    string
	id, dir   string
	maxRecord int // bound of one JSON record (ReadRecords)
	f         *os.File
	size      int64
	written   bool
	done      bool // submitted or discarded
}

// NewUpload starts an upload of the caller "" (open mode, the CLI).
func (s *Service) NewUpload() (*Upload, error) { return s.StartUpload("") }

// StartUpload starts an upload for caller. It refuses, with an *Error of
// KindInsufficientStorage, when the disk is already at its reserve (once
// accepted jobs have their results) or caller at its budget; while the
// file arrives the same checks run every few megabytes.
func (s *Service) StartUpload(caller string) (*Upload, error) {
	if err := s.admitDisk(caller, 0, 0); err != nil {
		return nil, err
	}
	id := newID()
	dir := filepath.Join(s.tmpDir, id)
	s.mu.Lock()
	s.uploads[id] = true // before the folder exists, so no sweep takes it
	s.mu.Unlock()
	if err := os.Mkdir(dir, 0o700); err != nil {
		s.endUpload(id)
		return nil, fmt.Errorf("new upload: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, uploadFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		_ = os.RemoveAll(dir)
		s.endUpload(id)
		return nil, fmt.Errorf("new upload: %w", err)
	}
	return &Upload{svc: s, caller: caller, id: id, dir: dir, f: f, maxRecord: s.cfg.MaxRecordBytes}, nil
}

// Size is the number of bytes received so far.
func (u *Upload) Size() int64 { return u.size }

// ReadFrom streams the file to disk. A body-size error (such as
// *http.MaxBytesError) is returned wrapped, so the caller can still match
// it; the upload must then be discarded.
func (u *Upload) ReadFrom(r io.Reader) (int64, error) {
	if u.written {
		return 0, invalid("file", "duplicate_file", "the form has more than one file part; send one file per job")
	}
	u.written = true
	w := &uploadWriter{u: u, f: u.f}
	// A multipart part gives a few KiB a read: the file gets them in
	// writes of the whole buffer.
	bw := uploadWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	defer func() { bw.Reset(nil); uploadWriters.Put(bw) }()
	n, err := bw.ReadFrom(r)
	if err == nil {
		err = bw.Flush()
	}
	u.size += n
	if w.err != nil {
		return n, u.writeFailure(w.err)
	}
	if err != nil {
		return n, fmt.Errorf("receive upload: %w", err)
	}
	return n, nil
}

// writeFailure is the error of a failed write of the upload: a refusal
// (disk reserve, budget, a full disk) as is, anything else wrapped.
func (u *Upload) writeFailure(err error) error {
	var be *Error
	if errors.As(err, &be) {
		return be
	}
	return fmt.Errorf("write upload: %w", err)
}

// Received reports whether a file (possibly empty) has been read.
func (u *Upload) Received() bool { return u.written }

// ReadRecords reads a JSON body {"records": [...], "name", ...} and writes
// the records to the upload as NDJSON, one compacted object per line, so
// the job treats them like an uploaded NDJSON file. It streams: the body is
// never held in memory. It returns the options found in the body.
func (u *Upload) ReadRecords(r io.Reader) (Options, error) {
	if u.written {
		return Options{}, invalid("records", "duplicate_file", "records were already read")
	}
	u.written = true
	cr := &countingReader{r: r}
	uw := &uploadWriter{u: u, f: u.f}
	w := bufio.NewWriterSize(uw, 256<<10)
	opts, err := decodeRecords(cr, w, u.maxRecord)
	if err == nil {
		err = w.Flush()
	}
	if uw.err != nil {
		return opts, u.writeFailure(uw.err)
	}
	if err != nil {
		return opts, err
	}
	u.size = cr.n
	return opts, nil
}

// decodeRecords is ReadRecords over any reader and writer. It reads token
// by token, so memory stays flat whatever the body: a record longer than
// maxRecord bytes is refused as soon as that many bytes of it are read.
func decodeRecords(r io.Reader, w io.Writer, maxRecord int) (Options, error) {
	var opts Options
	bound := &recordBound{r: r, max: int64(maxRecord)}
	dec := json.NewDecoder(bound)
	// Numbers stay text: as float64 a number past its range is a decoding
	// error of its own, not a refusal of the body.
	dec.UseNumber()
	var line bytes.Buffer
	if err := expectDelim(dec, '{', "the body must be a JSON object such as {\"records\": [{\"email\": \"jane@acme.com\"}]}"); err != nil {
		return opts, err
	}
	seen := map[string]bool{}
	records := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return opts, jsonFailure(dec, err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return opts, invalid(key, "duplicate_field", "%s appears twice; send it once", key)
		}
		seen[key] = true
		switch key {
		case "records":
			if err := expectDelim(dec, '[', "records must be an array of objects"); err != nil {
				return opts, err
			}
			for dec.More() {
				field := fmt.Sprintf("records[%d]", records)
				bound.mark(dec.InputOffset(), field)
				line.Reset()
				if err := copyRecord(dec, &line, field); err != nil {
					return opts, err
				}
				line.WriteByte('\n')
				if _, err := w.Write(line.Bytes()); err != nil {
					return opts, fmt.Errorf("write records: %w", err)
				}
				records++
			}
			bound.mark(-1, "")
			if _, err := dec.Token(); err != nil {
				return opts, jsonFailure(dec, err)
			}
		case "name", "default_country", "webhook_url":
			var v string
			if err := dec.Decode(&v); err != nil {
				return opts, fieldFailure(dec, key, "a string", err)
			}
			switch key {
			case "name":
				opts.Name = v
			case "default_country":
				opts.DefaultCountry = v
			default:
				opts.WebhookURL = v
			}
		case "enrich":
			if err := dec.Decode(&opts.Enrich); err != nil {
				return opts, fieldFailure(dec, key, "true or false", err)
			}
		case "smtp":
			if err := dec.Decode(&opts.SMTP); err != nil {
				return opts, fieldFailure(dec, key, "true or false", err)
			}
		default:
			return opts, invalid(key, "unknown_field", "unknown field %q; the fields are records, name, default_country, webhook_url, enrich and smtp", key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return opts, jsonFailure(dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil && !isSyntax(err) {
			return opts, jsonFailure(dec, err)
		}
		return opts, invalid("", "invalid_json", "the body holds more than one JSON value; send exactly one object")
	}
	if !seen["records"] {
		return opts, invalid("records", "missing_field", `records is missing; send {"records": [{"email": "jane@acme.com"}]}`)
	}
	if records == 0 {
		return opts, invalid("records", "empty_records", "records is empty; send at least one record")
	}
	return opts, nil
}

// copyRecord copies one record, an object whose values are strings, to
// line as compact JSON, a token at a time.
func copyRecord(dec *json.Decoder, line *bytes.Buffer, field string) error {
	notObject := func() error {
		return invalid(field, "invalid_record", "%s must be an object whose values are strings, such as {\"email\": \"jane@acme.com\"}", field)
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonFailure(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return notObject()
	}
	line.WriteByte('{')
	for n := 0; dec.More(); n++ {
		key, err := dec.Token()
		if err != nil {
			return jsonFailure(dec, err)
		}
		val, err := dec.Token()
		if err != nil {
			return jsonFailure(dec, err)
		}
		k, _ := key.(string)
		v, ok := val.(string)
		if !ok {
			return notObject()
		}
		if n > 0 {
			line.WriteByte(',')
		}
		kb, _ := json.Marshal(k) // a string always encodes
		vb, _ := json.Marshal(v)
		line.Write(kb)
		line.WriteByte(':')
		line.Write(vb)
	}
	if _, err := dec.Token(); err != nil {
		return jsonFailure(dec, err)
	}
	line.WriteByte('}')
	return nil
}

// recordBound sits under the JSON decoder of a records body and refuses a
// record (from mark on) that runs past max bytes, so one huge record or
// value cannot grow the decoder's buffer without end. The decoder reads
// ahead, so the count allows for one read past the record.
type recordBound struct {
	r     io.Reader
	max   int64
	read  int64 // bytes handed to the decoder
	from  int64 // offset the current record starts at; -1 outside records
	field string
}

func (b *recordBound) mark(from int64, field string) { b.from, b.field = from, field }

func (b *recordBound) Read(p []byte) (int, error) {
	const chunk = 32 << 10
	if len(p) > chunk {
		p = p[:chunk]
	}
	if b.from >= 0 && b.field != "" && b.read-b.from > b.max+chunk {
		return 0, invalid(b.field, "record_too_long",
			"%s is longer than %d bytes, the limit (the server's LEADCHECK_BULK_MAX_RECORD_BYTES); shorten its values", b.field, b.max)
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

func expectDelim(dec *json.Decoder, want json.Delim, msg string) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonFailure(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return invalid("", "invalid_json", "%s", msg)
	}
	return nil
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF)
}

// jsonFailure explains a decoding error; read errors (a body over the size
// limit, a dropped connection) pass through wrapped.
func jsonFailure(dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	var own *Error
	switch {
	case errors.As(err, &own):
		return own
	case errors.As(err, &se):
		return invalid("", "invalid_json", "malformed JSON at byte %d: %s; send a valid JSON object", se.Offset, se.Error())
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalid("", "invalid_json", "the JSON ends early (at byte %d); send a complete JSON object", dec.InputOffset())
	default:
		return fmt.Errorf("read records: %w", err)
	}
}

func fieldFailure(dec *json.Decoder, field, want string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return invalid(field, "invalid_field_type", "%s must be %s, not a JSON %s", field, want, te.Value)
	}
	return jsonFailure(dec, err)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Discard removes the upload unless it was submitted. It is safe to call
// more than once.
func (u *Upload) Discard() {
	if u.done {
		return
	}
	u.done = true
	_ = u.f.Close()
	if err := os.RemoveAll(u.dir); err != nil {
		// Out of file handles, say; the sweep removes it later.
		u.svc.cfg.Logger.Warn("bulk: removing an upload folder; the next sweep retries", "err", err)
	}
	u.svc.endUpload(u.id)
}

// endUpload forgets an upload folder: the sweep may remove it from now on
// (it is gone, or it became a job).
func (s *Service) endUpload(id string) {
	s.mu.Lock()
	delete(s.uploads, id)
	s.mu.Unlock()
}

// accepted is an upload that passed the checks every store makes: its
// options, the caller's queued cap, the scan of the file, and Admit.
type accepted struct {
	opts   checked
	layout ingest.Layout
	stats  ingest.Stats
}

// checkUpload runs those checks; checkQueued refuses a caller at its cap
// of queued jobs.
func (s *Service) checkUpload(ctx context.Context, u *Upload, o Options, checkQueued func() error) (accepted, error) {
	var acc accepted
	if u.done {
		return acc, errors.New("submit: upload already used")
	}
	if !u.written {
		return acc, invalid("file", "missing_file", "no file was sent; send it as the multipart field \"file\"")
	}
	opts, err := s.checkOptions(o)
	if err != nil {
		return acc, err
	}
	if err := checkQueued(); err != nil {
		return acc, err
	}
	// Closed now, made durable only once the scan accepts it: a refused
	// upload costs no fsync.
	if err := u.f.Close(); err != nil {
		return acc, s.submitFailure(err)
	}
	// The scan is CPU work: it takes a slot, as job rows do.
	if err := s.cpu.acquire(ctx); err != nil {
		return acc, fmt.Errorf("submit: %w", err)
	}
	opts.ingest.Yield = s.cpu.scanPacer()
	layout, stats, err := scanUpload(ctx, filepath.Join(u.dir, uploadFile), opts.ingest)
	s.cpu.release()
	if err != nil {
		return acc, err
	}
	if stats.Rows == 0 {
		return acc, invalid("file", "no_rows", "the file has no data rows; send a file with at least one lead")
	}
	if o.Admit != nil {
		if err := o.Admit(ctx, stats.Rows); err != nil {
			return acc, err
		}
	}
	return accepted{opts: opts, layout: layout, stats: stats}, nil
}

// Submit checks the upload and the options, and queues a job for caller.
// Bad input (options, an unreadable or empty file, a missing column) is an
// *Error of KindInvalid and creates nothing; the caller still owns the
// upload and must Discard it. On success the upload belongs to the job.
func (s *Service) Submit(ctx context.Context, caller string, u *Upload, o Options) (Status, error) {
	acc, err := s.checkUpload(ctx, u, o, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.checkQueuedLocked(caller)
	})
	if err != nil {
		return Status{}, err
	}
	opts, layout, stats := acc.opts, acc.layout, acc.stats
	if err := syncFile(filepath.Join(u.dir, uploadFile)); err != nil {
		return Status{}, s.submitFailure(err)
	}
	// Admission: the results this job will write are reserved now, so no
	// later upload can take the disk they need.
	s.admitMu.Lock()
	defer s.admitMu.Unlock()
	estimate := ResultsPerInputByte * stats.TextBytes
	if err := s.admitDisk(caller, u.size, estimate); err != nil {
		return Status{}, err
	}
	now := s.cfg.Now().UTC()
	rec := record{
		UploadBytes:     u.size,
		ResultsEstimate: estimate,
		ID:              u.id,
		Caller:          caller,
		Name:            opts.name,
		Status:          StatusQueued,
		CreatedAt:       now,
		ExpiresAt:       now.Add(s.cfg.Retention),
		TotalRows:       stats.Rows,
		RaggedRows:      stats.RaggedRows,
		Layout:          layout,
		ColumnNames:     columnNames(layout),
		DefaultCountry:  opts.defaultCountry,
		Enrich:          opts.enrich,
		SMTP:            opts.smtp,
	}
	if opts.webhookURL != "" {
		rec.Webhook = &webhookRecord{URL: opts.webhookURL, Attempts: []WebhookAttempt{}}
	}
	rec.Layout.Header = nil
	hb, err := json.Marshal(layout.Header)
	if err == nil {
		err = writeFileAtomic(u.dir, headerFile, hb)
	}
	var b []byte
	if err == nil {
		b, err = json.MarshalIndent(&rec, "", "  ")
	}
	if err == nil {
		err = writeFileAtomic(u.dir, recordFile, b)
	}
	if err == nil {
		err = os.Rename(u.dir, s.jobDir(u.id))
	}
	if err == nil {
		err = syncDir(s.jobsDir)
	}
	if err != nil {
		return Status{}, s.submitFailure(err)
	}
	u.done = true
	// The queued cap was checked before the scan; a burst of uploads of
	// one caller may pass it by the few that were scanned at once.
	s.endUpload(u.id)
	j := &job{rec: rec}
	s.mu.Lock()
	s.jobs[rec.ID] = j
	s.queue = append(s.queue, rec.ID)
	st := j.status()
	s.mu.Unlock()
	s.signal(s.queued)
	s.cfg.Logger.Info("bulk: job queued", "job", rec.ID, "rows", rec.TotalRows, "format", layout.Format, "bytes", u.size)
	return st, nil
}

// syncFile makes a written file durable.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// submitFailure explains a failure to store a new job: a full disk is a
// refusal (507), anything else ours.
func (s *Service) submitFailure(err error) error {
	if isNoSpace(err) {
		return s.diskFull(err)
	}
	return fmt.Errorf("submit: create job: %w", err)
}

// scanUpload runs ingest's validating pass over the stored upload. It
// gives up when ctx ends (the client went away).
func scanUpload(ctx context.Context, path string, opts ingest.Options) (ingest.Layout, ingest.Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return ingest.Layout{}, ingest.Stats{}, fmt.Errorf("scan upload: %w", err)
	}
	defer f.Close()
	br := fileReaders.Get().(*bufio.Reader)
	br.Reset(ctxReader{ctx: ctx, r: f})
	defer func() { br.Reset(nil); fileReaders.Put(br) }()
	layout, stats, err := ingest.Scan(br, opts)
	if err != nil {
		if ctx.Err() != nil {
			return layout, stats, fmt.Errorf("scan upload: %w", ctx.Err())
		}
		return layout, stats, fromIngest(err)
	}
	return layout, stats, nil
}

// fromIngest turns ingest's bad-input error into an *Error (its message
// already starts with the line when there is one).
func fromIngest(err error) error {
	var ie *ingest.Error
	if !errors.As(err, &ie) {
		return fmt.Errorf("scan upload: %w", err)
	}
	code := ie.Code
	if code == "" {
		code = "invalid_file"
	}
	field := ie.Field
	if field == "" {
		field = "file"
	}
	msg := ie.Message
	if env := LimitSettings[ie.Limit]; env != "" {
		msg += " (the server's " + env + ")"
	}
	return &Error{Kind: KindInvalid, Code: code, Field: field, Message: msg}
}

// LimitSettings names the server setting behind each bound of ingest, so a
// refusal tells the uploader which limit it met and the operator which
// setting raises it. cmd/leadcheck defines these settings; a test there
// checks that every name here is one of them.
var LimitSettings = map[string]string{
	ingest.LimitRows:           "LEADCHECK_BULK_MAX_ROWS",
	ingest.LimitColumns:        "LEADCHECK_BULK_MAX_COLUMNS",
	ingest.LimitHeaderBytes:    "LEADCHECK_BULK_MAX_HEADER_BYTES",
	ingest.LimitCellBytes:      "LEADCHECK_BULK_MAX_CELL_BYTES",
	ingest.LimitRecordBytes:    "LEADCHECK_BULK_MAX_RECORD_BYTES",
	ingest.LimitDecodedBytes:   "LEADCHECK_BULK_MAX_DECOMPRESSED_BYTES",
	ingest.LimitExpansionRatio: "LEADCHECK_BULK_MAX_EXPANSION_RATIO",
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
