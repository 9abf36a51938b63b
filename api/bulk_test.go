package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/leadcheck/leadcheck"
	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/apitest"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
)

// bulkEnv is the real API server with a real bulk service, over a DNS
// server on loopback, reached through the generated client with every
// response checked against openapi.yaml.
type bulkEnv struct {
	t      *testing.T
	dns    *dnstest.Server
	dir    string
	svc    *bulk.Service
	url    string
	client *client.ClientWithResponses
	cancel context.CancelFunc
	ran    chan error
}

type bulkEnvOptions struct {
	api     api.Options
	dns     dnstest.Config
	bulk    func(*bulk.Config)
	noRun   bool
	headers map[string]string
	// timeout, when set, is the server's ReadTimeout and WriteTimeout.
	timeout time.Duration
	// logger, when set, gets the server's log.
	logger *slog.Logger
}

func newBulkEnv(t *testing.T, o bulkEnvOptions) *bulkEnv {
	t.Helper()
	o.dns.Behaviours = map[string]dnstest.Behaviour{"broken.test": dnstest.Servfail()}
	fx := testenv.NewFixture(t, o.dns, time.Second)
	cfg := bulk.Config{
		Dir:             t.TempDir(),
		Lists:           fx.Lists,
		Domains:         fx.Checker,
		Workers:         8,
		ChunkRows:       4,
		CheckpointEvery: 20 * time.Millisecond,
		WebhookBackoff:  20 * time.Millisecond,
		// broken.test fails for good: its rows are retried this long.
		DNSRetryBudget:  100 * time.Millisecond,
		DNSRetryBackoff: 10 * time.Millisecond,
	}
	if o.bulk != nil {
		o.bulk(&cfg)
	}
	svc, err := bulk.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := api.NewServer(o.api, api.Deps{
		Engine: fx.Engine(),
		Bulk:   svc,
		Logger: logger,
		Spec:   leadcheck.OpenAPISpec,
	})
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ReadTimeout, hs.Config.WriteTimeout = o.timeout, o.timeout
	hs.Start()
	t.Cleanup(hs.Close)
	c, err := client.NewClientWithResponses(hs.URL,
		client.WithHTTPClient(&http.Client{Transport: apitest.Transport{Reporter: t}, Timeout: 20 * time.Second}),
		client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			for k, v := range o.headers {
				req.Header.Set(k, v)
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	e := &bulkEnv{t: t, dns: fx.DNS, dir: cfg.Dir, svc: svc, url: hs.URL, client: c}
	if !o.noRun {
		e.start()
	}
	return e
}

// start runs the bulk service until the test ends.
func (e *bulkEnv) start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.ran = cancel, make(chan error, 1)
	go func() { e.ran <- e.svc.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-e.ran; err != nil {
			e.t.Errorf("bulk Run: %v", err)
		}
	})
}

// upload is one multipart file part plus form fields; fieldsAfter puts
// the fields after the file, as some clients do.
type upload struct {
	filename    string
	content     []byte
	fields      map[string]string
	fieldsAfter bool
	noFile      bool
}

func (u upload) body() (string, *bytes.Buffer) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	writeFields := func() {
		for k, v := range u.fields {
			_ = mw.WriteField(k, v)
		}
	}
	if !u.fieldsAfter {
		writeFields()
	}
	if !u.noFile {
		part, _ := mw.CreateFormFile("file", u.filename)
		_, _ = part.Write(u.content)
	}
	if u.fieldsAfter {
		writeFields()
	}
	_ = mw.Close()
	return mw.FormDataContentType(), &b
}

func (e *bulkEnv) create(u upload) *client.CreateBulkJobResponse {
	e.t.Helper()
	ct, body := u.body()
	resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// mustCreate uploads and expects a 202 with a Location.
func (e *bulkEnv) mustCreate(u upload) client.BulkJob {
	e.t.Helper()
	resp := e.create(u)
	if resp.JSON202 == nil {
		e.t.Fatalf("create: got %d %s", resp.StatusCode(), resp.Body)
	}
	if loc := resp.HTTPResponse.Header.Get("Location"); loc != "/v1/bulk/"+resp.JSON202.Id {
		e.t.Errorf("Location: got %q, want /v1/bulk/%s", loc, resp.JSON202.Id)
	}
	return *resp.JSON202
}

// wait polls GET /v1/bulk/{id} until the job is final.
func (e *bulkEnv) wait(id string) client.BulkJob {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := e.client.GetBulkJobWithResponse(context.Background(), id)
		if err != nil || resp.JSON200 == nil {
			e.t.Fatalf("get %s: %v %v", id, err, resp)
		}
		switch resp.JSON200.Status {
		case client.BulkStatusCompleted, client.BulkStatusFailed, client.BulkStatusCanceled:
			return *resp.JSON200
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s still %s after 30s", id, resp.JSON200.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *bulkEnv) results(id, format, verdict string) *client.GetBulkResultsResponse {
	e.t.Helper()
	p := &client.GetBulkResultsParams{}
	if format != "" {
		f := client.GetBulkResultsParamsFormat(format)
		p.Format = &f
	}
	if verdict != "" {
		p.Verdict = &verdict
	}
	resp, err := e.client.GetBulkResultsWithResponse(context.Background(), id, p)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// errorCode reads the code of an error response.
func errorCode(t *testing.T, body []byte) (code, field, message string) {
	t.Helper()
	var er client.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil {
		t.Fatalf("not an error body: %s", body)
	}
	if er.Error.Field != nil {
		field = *er.Error.Field
	}
	return er.Error.Code, field, er.Error.Message
}

// nothingLeft asserts that no job and no upload remains.
func (e *bulkEnv) nothingLeft() {
	e.t.Helper()
	for _, sub := range []string{"tmp", "jobs"} {
		entries, err := os.ReadDir(filepath.Join(e.dir, sub))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			e.t.Fatal(err)
		}
		if len(entries) != 0 {
			e.t.Errorf("%s/ holds %d entries, want none", sub, len(entries))
		}
	}
	list, err := e.client.ListBulkJobsWithResponse(context.Background(), &client.ListBulkJobsParams{})
	if err != nil || list.JSON200 == nil || len(list.JSON200.Jobs) != 0 {
		e.t.Errorf("jobs listed: %v %s", err, list.Body)
	}
}

// leadRows are the rows of the end-to-end file: every verdict, national
// and international phones, a formula cell.
var leadRows = [][]string{
	{"jane@acme.test", "+1 415 555 0100", "US", "hello"},
	{"joe@nullmx.test", "", "", "=1+1"},
	{"ann@implicit.test", "020 7946 0958", "GB", ""},
	{"bob@nomail.test", "", "", "-2"},
	{"kim@missing.test", "", "", ""},
	{"lee@broken.test", "", "", ""},
	{"info@acme.test", "", "", ""},
	{"max@mailinator.com", "", "", "@x"},
	{"jane+news@gmail.com", "(415) 555-0100", "", ""},
	{"jane@gmial.com", "", "", ""},
	{"not-an-email", "12", "", ""},
}

func delimited(sep string) []byte {
	var b strings.Builder
	b.WriteString(strings.Join([]string{"Email", "Phone", "Country", "Notes"}, sep) + "\r\n")
	for _, r := range leadRows {
		b.WriteString(strings.Join(r, sep) + "\r\n")
	}
	return []byte(b.String())
}

func ndjsonRows() []byte {
	var b bytes.Buffer
	for _, r := range leadRows {
		line, _ := json.Marshal(map[string]string{"email": r[0], "phone": r[1], "country": r[2], "notes": r[3]})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func jsonArray() []byte {
	var objs []map[string]string
	for _, r := range leadRows {
		objs = append(objs, map[string]string{"email": r[0], "phone": r[1], "country": r[2], "notes": r[3]})
	}
	b, _ := json.Marshal(objs)
	return b
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

// TestBulkEndToEnd uploads the same leads in every format, polls to the
// end, downloads CSV and NDJSON, and checks every row's verdict against
// POST /v1/validate on the same values.
func TestBulkEndToEnd(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{})
	tests := []struct {
		name   string
		submit func() client.BulkJob
		format string
	}{
		{"csv", func() client.BulkJob {
			return e.mustCreate(upload{filename: "leads.csv", content: delimited(","), fields: map[string]string{"default_country": "US", "name": "crm export"}})
		}, "csv"},
		{"tsv with fields after the file", func() client.BulkJob {
			return e.mustCreate(upload{filename: "leads.tsv", content: delimited("\t"), fields: map[string]string{"default_country": "US"}, fieldsAfter: true})
		}, "tsv"},
		{"semicolon gzip", func() client.BulkJob {
			return e.mustCreate(upload{filename: "leads.csv.gz", content: gzipped(delimited(";")), fields: map[string]string{"default_country": "US", "delimiter": ";"}})
		}, "csv"},
		{"ndjson", func() client.BulkJob {
			return e.mustCreate(upload{filename: "leads.ndjson", content: ndjsonRows(), fields: map[string]string{"default_country": "US"}})
		}, "ndjson"},
		{"json array", func() client.BulkJob {
			return e.mustCreate(upload{filename: "leads.json", content: jsonArray(), fields: map[string]string{"default_country": "US"}})
		}, "json"},
		{"json records body", func() client.BulkJob {
			var records []map[string]string
			for _, r := range leadRows {
				records = append(records, map[string]string{"email": r[0], "phone": r[1], "country": r[2], "notes": r[3]})
			}
			us := "US"
			resp, err := e.client.CreateBulkJobWithResponse(context.Background(), client.BulkRecords{Records: records, DefaultCountry: &us})
			if err != nil || resp.JSON202 == nil {
				t.Fatalf("create: %v %s", err, resp.Body)
			}
			return *resp.JSON202
		}, "ndjson"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := tt.submit()
			if job.Status != client.BulkStatusQueued && job.Status != client.BulkStatusRunning {
				t.Errorf("created: got status %s", job.Status)
			}
			if job.TotalRows == nil || *job.TotalRows != len(leadRows) || job.Format == nil || *job.Format != tt.format {
				t.Errorf("created: got total %v format %v, want %d %s", job.TotalRows, job.Format, len(leadRows), tt.format)
			}
			done := e.wait(job.Id)
			if done.Status != client.BulkStatusCompleted || done.ProcessedRows != len(leadRows) {
				t.Fatalf("got %s with %d rows, want completed with %d", done.Status, done.ProcessedRows, len(leadRows))
			}
			checkNDJSON(t, e, done)
			checkCSV(t, e, done)
		})
	}
}

func checkNDJSON(t *testing.T, e *bulkEnv, job client.BulkJob) {
	t.Helper()
	resp := e.results(job.Id, "ndjson", "")
	if resp.StatusCode() != http.StatusOK {
		t.Fatalf("ndjson: got %d %s", resp.StatusCode(), resp.Body)
	}
	if ct := resp.HTTPResponse.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("ndjson Content-Type: got %q", ct)
	}
	if cd := resp.HTTPResponse.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") || !strings.Contains(cd, ".ndjson") {
		t.Errorf("ndjson Content-Disposition: got %q", cd)
	}
	dec := json.NewDecoder(bytes.NewReader(resp.Body))
	counts := map[client.Verdict]int{}
	for i := 0; ; i++ {
		var row struct {
			Row    int                     `json:"row"`
			Record map[string]string       `json:"record"`
			Result client.ValidateResponse `json:"result"`
		}
		if err := dec.Decode(&row); errors.Is(err, io.EOF) {
			if i != len(leadRows) {
				t.Errorf("ndjson: got %d rows, want %d", i, len(leadRows))
			}
			break
		} else if err != nil {
			t.Fatal(err)
		}
		src := leadRows[i]
		get := func(keys ...string) string {
			for _, k := range keys {
				if v, ok := row.Record[k]; ok {
					return v
				}
			}
			return ""
		}
		if row.Row != i+1 || get("Email", "email") != src[0] {
			t.Fatalf("ndjson row %d: got row %d email %q, want %q", i+1, row.Row, get("Email", "email"), src[0])
		}
		want := validateLike(t, e, src)
		if row.Result.Verdict != want.Verdict || row.Result.Score != want.Score {
			t.Errorf("row %d %v: got %s/%d, /v1/validate says %s/%d", i+1, src, row.Result.Verdict, row.Result.Score, want.Verdict, want.Score)
		}
		counts[row.Result.Verdict]++
	}
	got := map[client.Verdict]int{"valid": job.Counts.Valid, "invalid": job.Counts.Invalid, "risky": job.Counts.Risky, "unknown": job.Counts.Unknown}
	for v, n := range counts {
		if got[v] != n {
			t.Errorf("counts[%s]: got %d in the job, want %d from the rows", v, got[v], n)
		}
	}
}

// validateLike asks /v1/validate what bulk should have said about a row:
// the country cell when it is a region code, else the job's default (US).
func validateLike(t *testing.T, e *bulkEnv, row []string) client.ValidateResponse {
	t.Helper()
	req := client.ValidateRequest{Email: &row[0]}
	if row[1] != "" {
		req.Phone = &row[1]
	}
	country := "US"
	if row[2] != "" {
		country = row[2]
	}
	req.Country = &country
	resp, err := e.client.ValidateLeadWithResponse(context.Background(), req)
	if err != nil || resp.JSON200 == nil {
		t.Fatalf("validate %v: %v %s", row, err, resp.Body)
	}
	return *resp.JSON200
}

func checkCSV(t *testing.T, e *bulkEnv, job client.BulkJob) {
	t.Helper()
	resp := e.results(job.Id, "", "")
	if resp.StatusCode() != http.StatusOK {
		t.Fatalf("csv: got %d %s", resp.StatusCode(), resp.Body)
	}
	if ct := resp.HTTPResponse.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("csv Content-Type: got %q", ct)
	}
	body, ok := bytes.CutPrefix(resp.Body, []byte("\xef\xbb\xbf"))
	if !ok {
		t.Fatal("csv does not start with a UTF-8 BOM")
	}
	// The results keep the upload's delimiter: the first one of the
	// header line (column names hold none).
	delim := ','
	if i := bytes.IndexAny(body, ",;\t"); i >= 0 {
		delim = rune(body[i])
	}
	if want := map[string]rune{"tsv": '\t'}[*job.Format]; want != 0 && delim != want {
		t.Errorf("a %s upload came back with %q as delimiter", *job.Format, delim)
	}
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord, r.Comma = -1, delim
	table, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(table) != len(leadRows)+1 {
		t.Fatalf("csv: got %d lines, want %d", len(table), len(leadRows)+1)
	}
	header := table[0]
	idx := map[string]int{}
	for i, h := range header {
		idx[strings.ToLower(h)] = i
	}
	for _, name := range []string{"email", "phone", "country", "notes", "leadcheck_verdict", "leadcheck_reason", "leadcheck_email_normalized", "leadcheck_did_you_mean", "leadcheck_phone_e164", "leadcheck_phone_type"} {
		if _, ok := idx[name]; !ok {
			t.Errorf("csv header %q lacks %s", header, name)
		}
	}
	if *job.Format == "csv" || *job.Format == "tsv" {
		if idx["email"] != 0 || idx["notes"] != 3 {
			t.Errorf("original columns not first and in order: %q", header)
		}
	} else if idx["email"] > 3 || idx["phone"] > 3 || idx["country"] > 3 || idx["notes"] > 3 {
		// JSON objects from a Go map arrive with sorted keys; the
		// original columns still come first.
		t.Errorf("original columns not first: %q", header)
	}
	for i, row := range table[1:] {
		src := leadRows[i]
		if row[idx["email"]] != src[0] {
			t.Errorf("csv row %d: got email %q, want %q", i+1, row[idx["email"]], src[0])
		}
		want := validateLike(t, e, src)
		if row[idx["leadcheck_verdict"]] != string(want.Verdict) {
			t.Errorf("csv row %d: got %s, /v1/validate says %s", i+1, row[idx["leadcheck_verdict"]], want.Verdict)
		}
		notes := row[idx["notes"]]
		if src[3] != "" && strings.ContainsAny(src[3][:1], "=+-@") {
			if notes != "'"+src[3] {
				t.Errorf("csv row %d: formula cell %q came out as %q, want it neutralised", i+1, src[3], notes)
			}
		} else if notes != src[3] {
			t.Errorf("csv row %d: notes %q came out as %q", i+1, src[3], notes)
		}
		if e164 := row[idx["leadcheck_phone_e164"]]; e164 != "" && !strings.HasPrefix(e164, "'+") {
			t.Errorf("csv row %d: e164 %q not neutralised", i+1, e164)
		}
	}
	// excel_safe=false: the same rows, every cell as it was.
	no := false
	raw, err := e.client.GetBulkResultsWithResponse(context.Background(), job.Id, &client.GetBulkResultsParams{ExcelSafe: &no})
	if err != nil || raw.StatusCode() != http.StatusOK {
		t.Fatalf("excel_safe=false: got %v %v", raw.StatusCode(), err)
	}
	r = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw.Body, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord, r.Comma = -1, delim
	rawTable, err := r.ReadAll()
	if err != nil || len(rawTable) != len(table) {
		t.Fatalf("excel_safe=false: %d lines (%v), want %d", len(rawTable), err, len(table))
	}
	for i, row := range rawTable[1:] {
		if notes := row[idx["notes"]]; notes != leadRows[i][3] {
			t.Errorf("excel_safe=false row %d: notes %q came out as %q", i+1, leadRows[i][3], notes)
		}
		if e164 := row[idx["leadcheck_phone_e164"]]; e164 != "" && !strings.HasPrefix(e164, "+") {
			t.Errorf("excel_safe=false row %d: e164 %q altered", i+1, e164)
		}
	}
	// A verdict filter keeps only those rows.
	filtered := e.results(job.Id, "csv", "valid,risky")
	if filtered.StatusCode() != http.StatusOK {
		t.Fatalf("filtered: got %d", filtered.StatusCode())
	}
	r = csv.NewReader(bytes.NewReader(bytes.TrimPrefix(filtered.Body, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord, r.Comma = -1, delim
	ftable, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + job.Counts.Valid + job.Counts.Risky; len(ftable) != want {
		t.Errorf("filtered: got %d lines, want %d", len(ftable), want)
	}
}

// TestBulkBadInput: each bad upload or request is a clear 4xx JSON error,
// and leaves no job and no file behind.
func TestBulkBadInput(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{api: api.Options{MaxUploadBytes: 4096}})
	tests := []struct {
		name      string
		upload    upload
		status    int
		code      string
		field     string
		msgSubstr string
	}{
		{name: "no file", upload: upload{noFile: true, fields: map[string]string{"name": "x"}}, status: 400, code: "missing_file", field: "file"},
		{name: "empty file", upload: upload{filename: "a.csv"}, status: 400, code: "empty_file"},
		{name: "binary file", upload: upload{filename: "a.csv", content: []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00binary\x00\x01\x02")}, status: 400, code: "binary_file"},
		{name: "no email or phone column", upload: upload{filename: "a.csv", content: []byte("first,last,city\nJane,Doe,Paris\n")}, status: 400, code: "no_lead_column", msgSubstr: "first, last, city"},
		{name: "unknown column", upload: upload{filename: "a.csv", content: delimited(","), fields: map[string]string{"email_column": "E-Mail Address"}}, status: 400, code: "unknown_column", field: "email_column"},
		{name: "column index out of range", upload: upload{filename: "a.csv", content: delimited(","), fields: map[string]string{"phone_column": "9"}}, status: 400, field: "phone_column"},
		{name: "malformed csv", upload: upload{filename: "a.csv", content: []byte("email,phone\njane@acme.test,1\njoe@acme.test,\"2\n")}, status: 400, code: "malformed_csv", msgSubstr: "line "},
		{name: "unknown country", upload: upload{filename: "a.csv", content: delimited(","), fields: map[string]string{"default_country": "XX"}}, status: 400, code: "unknown_country", field: "default_country"},
		{name: "bad webhook", upload: upload{filename: "a.csv", content: delimited(","), fields: map[string]string{"webhook_url": "not a url"}}, status: 400, code: "invalid_webhook_url", field: "webhook_url"},
		{name: "enrich not configured", upload: upload{filename: "a.csv", content: delimited(","), fields: map[string]string{"enrich": "true"}}, status: 400, code: "enrich_unavailable", field: "enrich"},
		{name: "unknown form field", upload: upload{filename: "a.csv", content: delimited(","), fields: map[string]string{"colour": "red"}}, status: 400, code: "unknown_field", field: "colour"},
		{name: "oversize", upload: upload{filename: "a.csv", content: bytes.Repeat([]byte("jane@acme.test\n"), 1000)}, status: 413, code: "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.create(tt.upload)
			if resp.StatusCode() != tt.status {
				t.Fatalf("got %d %s, want %d", resp.StatusCode(), resp.Body, tt.status)
			}
			code, field, msg := errorCode(t, resp.Body)
			if (tt.code != "" && code != tt.code) || (tt.field != "" && field != tt.field) || !strings.Contains(msg, tt.msgSubstr) {
				t.Errorf("got %s/%s %q, want %s/%s mentioning %q", code, field, msg, tt.code, tt.field, tt.msgSubstr)
			}
		})
	}
	t.Run("oversize without a length", func(t *testing.T) {
		// A chunked body passes the Content-Length check and is cut off
		// mid-file by the reader: the partial upload must go too.
		ct, body := upload{filename: "a.csv", content: bytes.Repeat([]byte("jane@acme.test\n"), 1000)}.body()
		pr, pw := io.Pipe()
		go func() { _, _ = io.Copy(pw, body); pw.Close() }()
		resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, pr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != http.StatusRequestEntityTooLarge {
			t.Errorf("got %d %s, want 413", resp.StatusCode(), resp.Body)
		}
	})
	t.Run("not multipart", func(t *testing.T) {
		resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), "text/csv", bytes.NewReader(delimited(",")))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode() != http.StatusUnsupportedMediaType {
			t.Errorf("got %d, want 415", resp.StatusCode())
		}
	})
	t.Run("empty records", func(t *testing.T) {
		resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(`{"records": []}`))
		if err != nil {
			t.Fatal(err)
		}
		if code, _, _ := errorCode(t, resp.Body); resp.StatusCode() != 400 || code != "empty_records" {
			t.Errorf("got %d %s, want 400 empty_records", resp.StatusCode(), resp.Body)
		}
	})
	t.Run("unknown job", func(t *testing.T) {
		id := strings.Repeat("0", 32)
		get, _ := e.client.GetBulkJobWithResponse(context.Background(), id)
		res, _ := e.client.GetBulkResultsWithResponse(context.Background(), id, nil)
		del, _ := e.client.DeleteBulkJobWithResponse(context.Background(), id)
		bad, _ := e.client.GetBulkJobWithResponse(context.Background(), "../../etc")
		for name, code := range map[string]int{"get": get.StatusCode(), "results": res.StatusCode(), "delete": del.StatusCode(), "bad id": bad.StatusCode()} {
			if code != http.StatusNotFound {
				t.Errorf("%s: got %d, want 404", name, code)
			}
		}
	})
	t.Run("bad list parameters", func(t *testing.T) {
		for _, p := range []client.ListBulkJobsParams{{Limit: ptrInt(0)}, {Limit: ptrInt(101)}, {Cursor: ptr("bogus")}} {
			resp, err := e.client.ListBulkJobsWithResponse(context.Background(), &p)
			if err != nil || resp.StatusCode() != http.StatusBadRequest {
				t.Errorf("%+v: got %v %v, want 400", p, resp.StatusCode(), err)
			}
		}
	})
	e.nothingLeft()
}

func ptrInt(i int) *int { return &i }

// TestBulkSlowUpload: an upload that takes longer than the server's read
// and write timeouts (sized for small JSON requests) still gets its 202.
func TestBulkSlowUpload(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{noRun: true, timeout: 300 * time.Millisecond})
	ct, body := upload{filename: "a.csv", content: delimited(",")}.body()
	pr, pw := io.Pipe()
	go func() {
		// Dribble the body out over about a second.
		b := body.Bytes()
		for i := 0; i < len(b); i += len(b)/10 + 1 {
			_, _ = pw.Write(b[i:min(i+len(b)/10+1, len(b))])
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, pr)
	if err != nil || resp.JSON202 == nil {
		t.Fatalf("slow upload: got %v %v, want 202", err, resp)
	}
}

// TestBulkResultsConflict: results of a queued, running or failed job are
// a 409 that says why; bad format and verdict values are 400s.
func TestBulkResultsConflict(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{noRun: true})
	job := e.mustCreate(upload{filename: "a.csv", content: []byte("email,n\njane@acme.test,1\n")})
	resp := e.results(job.Id, "", "")
	if code, _, msg := errorCode(t, resp.Body); resp.StatusCode() != http.StatusConflict || code != "job_not_finished" || !strings.Contains(msg, "poll GET /v1/bulk/"+job.Id) {
		t.Errorf("queued: got %d %s", resp.StatusCode(), resp.Body)
	}
	for _, q := range [][2]string{{"xml", ""}, {"csv", "great"}} {
		if resp := e.results(job.Id, q[0], q[1]); resp.StatusCode() != http.StatusBadRequest {
			t.Errorf("format %q verdict %q: got %d, want 400", q[0], q[1], resp.StatusCode())
		}
	}
	// The upload goes bad on disk before the job runs: the job fails.
	if err := os.WriteFile(filepath.Join(e.dir, "jobs", job.Id, "upload"), []byte("email,n\n\"jane@acme.test,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.start()
	done := e.wait(job.Id)
	if done.Status != client.BulkStatusFailed || done.Error == nil {
		t.Fatalf("got %s %v, want failed with an error", done.Status, done.Error)
	}
	resp = e.results(job.Id, "ndjson", "")
	if code, _, msg := errorCode(t, resp.Body); resp.StatusCode() != http.StatusConflict || code != "job_failed" || !strings.Contains(msg, *done.Error) {
		t.Errorf("failed: got %d %s, want 409 job_failed with %q", resp.StatusCode(), resp.Body, *done.Error)
	}
}

// TestBulkCancel: DELETE on a running job (slowed by DNS latency) stops it
// promptly, marks it canceled and deletes its files.
func TestBulkCancel(t *testing.T) {
	t.Parallel()
	zone, file := testenv.ManyDomains(3000)
	e := newBulkEnv(t, bulkEnvOptions{dns: dnstest.Config{Zone: zone, Latency: 50 * time.Millisecond}})
	job := e.mustCreate(upload{filename: "a.csv", content: []byte(file)})
	for {
		resp, _ := e.client.GetBulkJobWithResponse(context.Background(), job.Id)
		if resp.JSON200.ProcessedRows > 0 {
			if resp.JSON200.Status != client.BulkStatusRunning {
				t.Fatalf("got %s, want running", resp.JSON200.Status)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	res := e.results(job.Id, "", "")
	if res.StatusCode() != http.StatusConflict {
		t.Errorf("results while running: got %d, want 409", res.StatusCode())
	}
	start := time.Now()
	del, err := e.client.DeleteBulkJobWithResponse(context.Background(), job.Id)
	if err != nil || del.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: got %v %v, want 204", del.StatusCode(), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("delete took %s, want it prompt", d)
	}
	got, _ := e.client.GetBulkJobWithResponse(context.Background(), job.Id)
	if got.JSON200 == nil || got.JSON200.Status != client.BulkStatusCanceled || got.JSON200.ProcessedRows >= 3000 {
		t.Errorf("after delete: got %s", got.Body)
	}
	entries, _ := os.ReadDir(filepath.Join(e.dir, "jobs", job.Id))
	if len(entries) != 1 || entries[0].Name() != "job.json" {
		t.Errorf("files left: %v, want only job.json", entries)
	}
	if res := e.results(job.Id, "", ""); res.StatusCode() != http.StatusConflict {
		t.Errorf("results of a canceled job: got %d, want 409", res.StatusCode())
	}
}

// TestBulkListPagination: jobs are listed newest first, per caller, and
// the cursor walks every page once.
func TestBulkListPagination(t *testing.T) {
	t.Parallel()
	keys := api.Options{APIKeys: []string{"key-a", "key-b"}}
	a := newBulkEnv(t, bulkEnvOptions{api: keys, noRun: true, headers: map[string]string{"X-API-Key": "key-a"}})
	b, err := client.NewClientWithResponses(a.url,
		client.WithHTTPClient(&http.Client{Transport: apitest.Transport{Reporter: t}}),
		client.WithRequestEditorFn(func(_ context.Context, req *http.Request) error { req.Header.Set("X-API-Key", "key-b"); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	var created []string
	for i := range 5 {
		job := a.mustCreate(upload{filename: "a.csv", content: []byte(fmt.Sprintf("email\njane%d@acme.test\n", i))})
		created = append([]string{job.Id}, created...) // newest first
	}
	var seen []string
	var cursor *string
	for page := 0; ; page++ {
		resp, err := a.client.ListBulkJobsWithResponse(context.Background(), &client.ListBulkJobsParams{Limit: ptrInt(2), Cursor: cursor})
		if err != nil || resp.JSON200 == nil {
			t.Fatalf("page %d: %v %s", page, err, resp.Body)
		}
		if len(resp.JSON200.Jobs) > 2 || page > 3 {
			t.Fatalf("page %d: %d jobs", page, len(resp.JSON200.Jobs))
		}
		for _, j := range resp.JSON200.Jobs {
			seen = append(seen, j.Id)
		}
		if resp.JSON200.NextCursor == nil {
			break
		}
		cursor = resp.JSON200.NextCursor
	}
	if strings.Join(seen, ",") != strings.Join(created, ",") {
		t.Errorf("listed %v, want %v (newest first)", seen, created)
	}
	other, err := b.ListBulkJobsWithResponse(context.Background(), &client.ListBulkJobsParams{})
	if err != nil || other.JSON200 == nil || len(other.JSON200.Jobs) != 0 {
		t.Errorf("another caller sees %s", other.Body)
	}
	if got, _ := b.GetBulkJobWithResponse(context.Background(), created[0]); got.StatusCode() != http.StatusNotFound {
		t.Errorf("another caller's GET: got %d, want 404", got.StatusCode())
	}
}

// TestBulkWebhook: the receiver verifies every delivery with the Standard
// Webhooks reference library, fails twice, then accepts; the attempts are
// visible in the job's status.
func TestBulkWebhook(t *testing.T) {
	t.Parallel()
	secret := bulk.NewWebhookSecret()
	verifier, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls int
	var verifyErrs []error
	var eventType string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if err := verifier.Verify(body, r.Header); err != nil {
			verifyErrs = append(verifyErrs, err)
		}
		var ev struct{ Type string }
		_ = json.Unmarshal(body, &ev)
		eventType = ev.Type
		if calls <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rcv.Close)
	e := newBulkEnv(t, bulkEnvOptions{bulk: func(c *bulk.Config) {
		c.WebhookSecret = secret
		c.AllowPrivateWebhooks = true
	}})
	job := e.mustCreate(upload{filename: "a.csv", content: delimited(","), fields: map[string]string{"webhook_url": rcv.URL + "/leadcheck"}})
	e.wait(job.Id)
	deadline := time.Now().Add(20 * time.Second)
	var state *client.WebhookState
	for {
		resp, _ := e.client.GetBulkJobWithResponse(context.Background(), job.Id)
		state = resp.JSON200.Webhook
		if state != nil && state.Delivered != nil && *state.Delivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook not delivered: %s", resp.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(state.Attempts) != 3 || state.NextAttemptAt != nil {
		t.Errorf("got %+v, want 3 attempts and none scheduled", state)
	}
	for i, want := range []int{500, 500, 200} {
		if got := state.Attempts[i].StatusCode; got == nil || *got != want {
			t.Errorf("attempt %d: got status %v, want %d", i+1, got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 || len(verifyErrs) != 0 || eventType != "bulk.completed" {
		t.Errorf("receiver: %d calls, verify errors %v, event %q", calls, verifyErrs, eventType)
	}
}
