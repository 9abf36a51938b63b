package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
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
	NewUpload() (*bulk.Upload, error)
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
	// The answer comes after the whole file is received and scanned, so
	// both deadlines move.
	rc := http.NewResponseController(c.Response())
	_ = rc.SetReadDeadline(time.Now().Add(transferTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(transferTimeout))
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
	if !isJSON && (err != nil || mt != "multipart/form-data") {
		return &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type",
			Message: `send the file as multipart/form-data (field "file"), or records as application/json {"records": [...]}`}
	}
	up, err := svc.NewUpload()
	if err != nil {
		return err
	}
	defer up.Discard() // no-op once the job owns the upload
	var opts bulk.Options
	if isJSON {
		opts, err = up.ReadRecords(r.Body)
	} else {
		opts, err = readBulkForm(r, up)
	}
	if err != nil {
		return err
	}
	st, err := svc.Submit(r.Context(), callerOf(c), up, opts)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/v1/bulk/"+st.ID)
	return c.JSON(http.StatusAccepted, st)
}

// readBulkForm streams the multipart form: the file part goes straight to
// the upload on disk, the other fields (before or after it) become
// options.
func readBulkForm(r *http.Request, up *bulk.Upload) (bulk.Options, error) {
	var o bulk.Options
	mr, err := r.MultipartReader()
	if err != nil {
		return o, &Error{Status: http.StatusBadRequest, Code: "invalid_multipart", Message: "the multipart body cannot be read; send multipart/form-data with a boundary"}
	}
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
	_ = http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(transferTimeout))
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, d.ContentType)
	hdr.Set(echo.HeaderContentDisposition, mime.FormatMediaType("attachment", map[string]string{"filename": d.Filename}))
	c.Response().WriteHeader(http.StatusOK)
	if _, err := d.WriteTo(c.Response()); err != nil {
		// The status is sent; all that is left is to say so in the log.
		loggerOf(c, h.s.logger).Warn("bulk results download cut short", "job", id, "err", err)
	}
	return nil
}
