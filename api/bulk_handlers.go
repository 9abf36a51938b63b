package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/leadcheck/leadcheck/api/apigen"
	"github.com/leadcheck/leadcheck/bulk"
)

// errNotImplemented answers routes whose service is not wired in.
var errNotImplemented = &Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "not available on this server"}

// BulkService is what the API needs from the bulk job service;
// *bulk.Service is the implementation.
type BulkService interface {
	StartUpload(caller string) (*bulk.Upload, error)
	Submit(ctx context.Context, caller string, u *bulk.Upload, o bulk.Options) (bulk.Status, error)
	Get(ctx context.Context, caller, id string) (bulk.Status, error)
	List(ctx context.Context, caller string, limit int, cursor string) (bulk.Page, error)
	Delete(ctx context.Context, caller, id string) error
	Results(ctx context.Context, caller, id string, opt bulk.DownloadOptions) (*bulk.Download, error)
}

var _ BulkService = (*bulk.Service)(nil)

// transferTimeout replaces the server's read or write timeout for uploads
// and downloads: they move up to a gigabyte, while the server-wide
// timeouts are sized for small JSON requests.
const transferTimeout = time.Hour

// maxFormValue bounds a form field other than the file.
const maxFormValue = 4096

func (h handlers) CreateBulkJob(c echo.Context) error {
	svc := h.s.deps.Bulk
	if svc == nil {
		return errNotImplemented
	}
	r := c.Request()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
	if !isJSON && (err != nil || mt != "multipart/form-data") {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: `send the file as multipart/form-data (field "file"), or records as application/json {"records": [...]}`}
	}
	release, refused := h.s.uploads.acquire(callerOf(c))
	if refused != nil {
		refuseUpload(c.Response())
		loggerOf(c, h.s.logger).Info("bulk upload refused", "status", refused.Status, "cause", refused.Code)
		return refused
	}
	defer release()
	// The answer comes after the whole file is received and scanned. The
	// read deadline moves with the upload's progress (rateBody); the write
	// deadline covers the receiving and the scan.
	rc := http.NewResponseController(c.Response())
	_ = rc.SetWriteDeadline(time.Now().Add(transferTimeout))
	up, err := svc.StartUpload(callerOf(c))
	if err != nil {
		return err
	}
	defer up.Discard() // no-op once the job owns the upload
	body := &bodyWatch{ReadCloser: newRateBody(r.Body, rc, h.s.opts.MinUploadRate, h.s.opts.UploadRateWindow)}
	r.Body = body
	err = h.receiveBulk(c, rc, svc, up, isJSON)
	switch {
	case err == nil:
		return nil
	case body.err != nil && errors.Is(body.err, os.ErrDeadlineExceeded):
		refuseUpload(c.Response())
		return &Error{Status: http.StatusRequestTimeout, Code: "upload_too_slow",
			Message: fmt.Sprintf("the upload brought less than %d bytes in %s, the minimum rate (the server's LEADCHECK_BULK_MIN_UPLOAD_RATE over LEADCHECK_BULK_UPLOAD_RATE_WINDOW); send the body without pauses",
				h.s.opts.MinUploadRate*int64(h.s.opts.UploadRateWindow/time.Second), h.s.opts.UploadRateWindow)}
	case clientGone(r, body, err):
		return errClientClosed
	}
	return err
}

// receiveBulk reads the upload or the records of a CreateBulkJob request
// and submits the job.
func (h handlers) receiveBulk(c echo.Context, rc *http.ResponseController, svc BulkService, up *bulk.Upload, isJSON bool) error {
	r := c.Request()
	var err error
	var opts bulk.Options
	if isJSON {
		limit := h.s.opts.MaxBulkJSONBytes
		if r.ContentLength > limit {
			return errJSONTooLarge(limit)
		}
		opts, err = up.ReadRecords(http.MaxBytesReader(c.Response(), r.Body, limit))
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return errJSONTooLarge(limit)
		}
	} else {
		opts, err = readBulkForm(r, up)
	}
	if err != nil {
		return err
	}
	if k := keyOf(c); k != nil {
		opts.Admit = func(ctx context.Context, rows int) error { return h.s.admitBulkRows(ctx, k, rows) }
	}
	// The body is in: no read deadline while the upload is checked, so
	// the server's watch for a closed connection does not take the scan
	// for an idle client.
	_ = rc.SetReadDeadline(time.Time{})
	st, err := svc.Submit(r.Context(), callerOf(c), up, opts)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/v1/bulk/"+st.ID)
	return c.JSON(http.StatusAccepted, st)
}

// errClientClosed stands for a request whose client went away before the
// answer (it closed or reset the connection while sending the body, or
// while the upload was checked). It is no error of ours: handleError logs
// it as a client close at info level and answers nothing useful, since no
// one is listening. 499 is the status proxies use for it.
var errClientClosed = &Error{Status: statusClientClosed, Code: "client_closed_request", Message: "the client closed the connection before the answer"}

const statusClientClosed = 499

// bodyWatch remembers the first failure reading the request body, so a
// client that went away can be told from a bad body.
type bodyWatch struct {
	io.ReadCloser
	err error
}

func (b *bodyWatch) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// clientGone reports whether err comes from the client going away: the
// request's context ended (the server saw the connection close), or the
// body could not be read for a reason other than its size limit or its
// deadline (a reset, a connection closed mid-body).
func clientGone(r *http.Request, body *bodyWatch, err error) bool {
	if r.Context().Err() != nil {
		return true
	}
	if body.err == nil {
		return false
	}
	var tooBig *http.MaxBytesError
	if errors.As(body.err, &tooBig) || errors.Is(body.err, os.ErrDeadlineExceeded) {
		return false
	}
	return true
}

// errJSONTooLarge refuses a records body past MaxBulkJSONBytes.
func errJSONTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("the JSON body is larger than %d bytes, the limit for records (the server's LEADCHECK_BULK_MAX_JSON_BYTES); send fewer records, or upload them as a file (multipart field \"file\")", limit)}
}

// bodyReaders buffer multipart bodies (see multipartReader).
var bodyReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// multipartReader is r.MultipartReader over a pooled 64 KiB buffer: the
// multipart reader reads 4 KiB at a time, which straight from the
// connection is a system call per 4 KiB of upload. release returns the
// buffer once the body is read.
func multipartReader(r *http.Request) (mr *multipart.Reader, release func(), err error) {
	d, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (d != "multipart/form-data" && d != "multipart/mixed") || params["boundary"] == "" {
		return nil, nil, http.ErrNotMultipart
	}
	br := bodyReaders.Get().(*bufio.Reader)
	br.Reset(r.Body)
	return multipart.NewReader(br, params["boundary"]), func() { br.Reset(nil); bodyReaders.Put(br) }, nil
}

// readBulkForm streams the multipart form: the file part goes straight to
// the upload on disk, the other fields (before or after it) become
// options.
func readBulkForm(r *http.Request, up *bulk.Upload) (bulk.Options, error) {
	var o bulk.Options
	mr, release, err := multipartReader(r)
	if err != nil {
		return o, &Error{Status: http.StatusBadRequest, Code: "invalid_multipart", Message: "the multipart body cannot be read; send multipart/form-data with a boundary"}
	}
	defer release()
	fields := map[string]*string{
		"name": &o.Name, "email_column": &o.EmailColumn, "phone_column": &o.PhoneColumn,
		"country_column": &o.CountryColumn, "domain_column": &o.DomainColumn,
		"default_country": &o.DefaultCountry, "has_header": &o.HasHeader,
		"delimiter": &o.Delimiter, "webhook_url": &o.WebhookURL,
	}
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return o, nil
		}
		if err != nil {
			return o, multipartError(err)
		}
		name := part.FormName()
		if seen[name] {
			part.Close()
			return o, &Error{Status: http.StatusBadRequest, Code: "duplicate_field", Field: name, Message: fmt.Sprintf("%s appears twice; send it once", name)}
		}
		seen[name] = true
		if name == "file" {
			_, err := up.ReadFrom(part)
			part.Close()
			if err != nil {
				return o, multipartError(err)
			}
			continue
		}
		value, err := readFormValue(part, name)
		part.Close()
		if err != nil {
			return o, err
		}
		switch dst := fields[name]; {
		case dst != nil:
			*dst = value
		case name == "enrich":
			b, err := strconv.ParseBool(strings.TrimSpace(value))
			if err != nil {
				return o, &Error{Status: http.StatusBadRequest, Code: "invalid_field_type", Field: "enrich", Message: "enrich must be true or false"}
			}
			o.Enrich = b
		case name == "smtp":
			b, err := strconv.ParseBool(strings.TrimSpace(value))
			if err != nil {
				return o, &Error{Status: http.StatusBadRequest, Code: "invalid_field_type", Field: "smtp", Message: "smtp must be true or false"}
			}
			o.SMTP = b
		default:
			return o, &Error{Status: http.StatusBadRequest, Code: "unknown_field", Field: name,
				Message: fmt.Sprintf("unknown form field %q; see BulkUpload in /openapi.yaml for the fields", name)}
		}
	}
}

func readFormValue(part *multipart.Part, name string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxFormValue+1))
	if err != nil {
		return "", multipartError(err)
	}
	if len(b) > maxFormValue {
		return "", &Error{Status: http.StatusBadRequest, Code: "field_too_long", Field: name,
			Message: fmt.Sprintf("%s is longer than %d bytes", name, maxFormValue)}
	}
	return string(b), nil
}

// multipartError keeps the body-size error (a 413) and the bulk package's
// own refusals, and turns any other read failure into a 400.
func multipartError(err error) error {
	var tooBig *http.MaxBytesError
	var bulkErr *bulk.Error
	if errors.As(err, &tooBig) || errors.As(err, &bulkErr) {
		return err
	}
	return &Error{Status: http.StatusBadRequest, Code: "invalid_multipart",
		Message: "the multipart body is malformed or was cut short; send it again"}
}

func (h handlers) ListBulkJobs(c echo.Context, p apigen.ListBulkJobsParams) error {
	svc := h.s.deps.Bulk
	if svc == nil {
		return errNotImplemented
	}
	limit := 0
	if p.Limit != nil {
		limit = *p.Limit
		if limit == 0 {
			limit = -1 // an explicit 0 is out of range, not "default"
		}
	}
	page, err := svc.List(c.Request().Context(), callerOf(c), limit, deref(p.Cursor))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, page)
}

func (h handlers) GetBulkJob(c echo.Context, id apigen.JobID) error {
	svc := h.s.deps.Bulk
	if svc == nil {
		return errNotImplemented
	}
	st, err := svc.Get(c.Request().Context(), callerOf(c), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (h handlers) DeleteBulkJob(c echo.Context, id apigen.JobID) error {
	svc := h.s.deps.Bulk
	if svc == nil {
		return errNotImplemented
	}
	if err := svc.Delete(c.Request().Context(), callerOf(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h handlers) GetBulkResults(c echo.Context, id apigen.JobID, p apigen.GetBulkResultsParams) error {
	svc := h.s.deps.Bulk
	if svc == nil {
		return errNotImplemented
	}
	opt := bulk.DownloadOptions{Verdicts: deref(p.Verdict), Unsafe: p.ExcelSafe != nil && !*p.ExcelSafe}
	if p.Format != nil {
		opt.Format = string(*p.Format)
	}
	d, err := svc.Results(c.Request().Context(), callerOf(c), id, opt)
	if err != nil {
		return err
	}
	defer d.Close()
	rc := http.NewResponseController(c.Response())
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, d.ContentType)
	hdr.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": d.Filename}))
	c.Response().WriteHeader(http.StatusOK)
	if _, err := d.WriteTo(stallWriter{w: c.Response(), rc: rc, timeout: h.s.opts.DownloadStallTimeout}); err != nil {
		// The status is sent; all that is left is to say so in the log.
		loggerOf(c, h.s.logger).Warn("bulk results download cut short", "job", id, "err", err)
	}
	return nil
}
