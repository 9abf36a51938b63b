package bulk

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// TestSubmitRefusals: every bad upload is an *Error that names the problem,
// and leaves no job and no file behind.
func TestSubmitRefusals(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, nil)
		tests := []struct {
			name      string
			body      string
			noFile    bool
			opts      Options
			field     string
			code      string
			msgSubstr string
		}{
			{name: "no file", noFile: true, field: "file", code: "missing_file"},
			{name: "empty file", body: "", code: "empty_file"},
			{name: "blank file", body: "\n\n  \n", code: "empty_file"},
			{name: "binary file", body: "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", code: "binary_file"},
			{name: "no lead column", body: "first,last,city\nJane,Doe,Paris\n", code: "no_lead_column", msgSubstr: "first, last, city"},
			{name: "unknown column", body: "email,phone\njane@acme.test,\n", opts: Options{EmailColumn: "mail"}, field: "email_column", code: "unknown_column"},
			{name: "malformed csv", body: "email,phone\njane@acme.test,1\n\"joe@acme.test,2\n", code: "malformed_csv", msgSubstr: "line 3"},
			{name: "header only", body: "email,phone\n", code: "empty_file", msgSubstr: "no data rows"},
			{name: "unknown country", body: "email\njane@acme.test\n", opts: Options{DefaultCountry: "UK"}, field: "default_country", code: "unknown_country"},
			{name: "bad has_header", body: "email\njane@acme.test\n", opts: Options{HasHeader: "maybe"}, field: "has_header", code: "invalid_option"},
			{name: "bad delimiter", body: "email\njane@acme.test\n", opts: Options{Delimiter: "#"}, field: "delimiter", code: "invalid_option"},
			{name: "relative webhook", body: "email\njane@acme.test\n", opts: Options{WebhookURL: "/hooks"}, field: "webhook_url", code: "invalid_webhook_url"},
			{name: "ftp webhook", body: "email\njane@acme.test\n", opts: Options{WebhookURL: "ftp://example.com/x"}, field: "webhook_url", code: "invalid_webhook_url"},
			{name: "loopback webhook", body: "email\njane@acme.test\n", opts: Options{WebhookURL: "http://127.0.0.1:9/x"}, field: "webhook_url", code: "webhook_url_blocked"},
			{name: "private webhook", body: "email\njane@acme.test\n", opts: Options{WebhookURL: "http://[::ffff:10.0.0.1]/x"}, field: "webhook_url", code: "webhook_url_blocked"},
			{name: "localhost webhook", body: "email\njane@acme.test\n", opts: Options{WebhookURL: "https://localhost/x"}, field: "webhook_url", code: "webhook_url_blocked"},
			{name: "enrich unavailable", body: "email\njane@acme.test\n", opts: Options{Enrich: true}, field: "enrich", code: "enrich_unavailable"},
			{name: "long name", body: "email\njane@acme.test\n", opts: Options{Name: strings.Repeat("n", 201)}, field: "name", code: "invalid_name"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				up, err := e.store.StartUpload("")
				if err != nil {
					t.Fatal(err)
				}
				if !tt.noFile {
					if _, err := up.ReadFrom(strings.NewReader(tt.body)); err != nil {
						t.Fatal(err)
					}
				}
				_, err = e.store.Submit(context.Background(), "", up, tt.opts)
				up.Discard()
				var be *Error
				if !errors.As(err, &be) {
					t.Fatalf("got %v, want an *Error", err)
				}
				if be.Kind != KindInvalid || be.Code != tt.code || (tt.field != "" && be.Field != tt.field) {
					t.Errorf("got %+v, want kind invalid, code %s, field %q", be, tt.code, tt.field)
				}
				if !strings.Contains(be.Message, tt.msgSubstr) {
					t.Errorf("message %q does not mention %q", be.Message, tt.msgSubstr)
				}
			})
		}
		for _, dir := range []string{"tmp", "jobs"} {
			if left := dirEntries(t, filepath.Join(e.cfg.Dir, dir)); len(left) != 0 {
				t.Errorf("%s: left behind %v", dir, left)
			}
		}
		if page, _ := e.store.List(context.Background(), "", 100, ""); len(page.Jobs) != 0 {
			t.Errorf("jobs created: %d", len(page.Jobs))
		}
	})
}

func TestGzipUpload(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, nil)
		e.start()
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte("Email Address,Tel\njane@acme.test,+14155550100\nkim@missing.test,\n"))
		zw.Close()
		st := e.mustSubmit("", b.String(), Options{})
		e.wait("", st.ID)
		rows := parseNDJSON(t, e.download("", st.ID, FormatNDJSON, ""))
		if len(rows) != 2 || rows[0].Result.Verdict != "valid" || rows[1].Result.Verdict != "invalid" || rows[0].Result.Phone == nil {
			t.Errorf("got %+v", rows)
		}
	})
}

func TestReadRecords(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{}, nil)
		e.start()
		body := `{"name": "batch 1", "records": [
		{"email": "jane@acme.test", "phone": "+14155550100", "crm_id": "7"},
		{"email": "kim@missing.test"}
	], "default_country": "US", "enrich": false}`
		up, err := e.store.StartUpload("")
		if err != nil {
			t.Fatal(err)
		}
		defer up.Discard()
		opts, err := up.ReadRecords(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if opts.Name != "batch 1" || opts.DefaultCountry != "US" {
			t.Errorf("options: got %+v", opts)
		}
		st, err := e.store.Submit(context.Background(), "", up, opts)
		if err != nil {
			t.Fatal(err)
		}
		if st.Format != "ndjson" || st.TotalRows != 2 || st.Name != "batch 1" {
			t.Errorf("got %+v", st)
		}
		e.wait("", st.ID)
		rows := parseNDJSON(t, e.download("", st.ID, FormatNDJSON, ""))
		if len(rows) != 2 || rows[0].Record["crm_id"] != "7" || rows[0].Result.Verdict != "valid" || rows[1].Result.Verdict != "invalid" {
			t.Errorf("got %+v", rows)
		}
	})
}

func TestReadRecordsRefusals(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	tests := []struct {
		name, body, field, code string
	}{
		{"not an object", `[1,2]`, "", "invalid_json"},
		{"malformed", `{"records": [{"email": "a@b.c"`, "", "invalid_json"},
		{"syntax", `{"records": [{"email" "a@b.c"}]}`, "", "invalid_json"},
		{"missing records", `{"name": "x"}`, "records", "missing_field"},
		{"empty records", `{"records": []}`, "records", "empty_records"},
		{"records not array", `{"records": {"email": "x"}}`, "", "invalid_json"},
		{"record not object", `{"records": ["jane@acme.test"]}`, "records[0]", "invalid_record"},
		{"null record", `{"records": [{"email":"a@b.c"}, null]}`, "records[1]", "invalid_record"},
		{"number value", `{"records": [{"phone": 14155550100}]}`, "records[0]", "invalid_record"},
		{"number past float64", `{"records": [{"phone": 1e999}]}`, "records[0]", "invalid_record"},
		{"a body of a huge number", `1e999`, "", "invalid_json"},
		{"name a huge number", `{"records": [{"email":"a@b.c"}], "name": 1e999}`, "name", "invalid_field_type"},
		{"unknown field", `{"records": [{"email":"a@b.c"}], "emial": "x"}`, "emial", "unknown_field"},
		{"duplicate field", `{"records": [{"email":"a@b.c"}], "records": []}`, "records", "duplicate_field"},
		{"name not string", `{"records": [{"email":"a@b.c"}], "name": 3}`, "name", "invalid_field_type"},
		{"enrich not bool", `{"records": [{"email":"a@b.c"}], "enrich": "yes"}`, "enrich", "invalid_field_type"},
		{"two values", `{"records": [{"email":"a@b.c"}]} {}`, "", "invalid_json"},
		{"trailing garbage", `{"records": [{"email":"a@b.c"}]} x`, "", "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := e.svc.NewUpload()
			if err != nil {
				t.Fatal(err)
			}
			defer up.Discard()
			_, err = up.ReadRecords(strings.NewReader(tt.body))
			var be *Error
			if !errors.As(err, &be) || be.Code != tt.code || be.Field != tt.field || be.Kind != KindInvalid {
				t.Errorf("got %v (%+v), want code %s field %q", err, be, tt.code, tt.field)
			}
		})
	}
	if left := dirEntries(t, filepath.Join(e.cfg.Dir, "tmp")); len(left) != 0 {
		t.Errorf("uploads left behind: %v", left)
	}
}

// TestReadRecordsBodyTooLarge: the body-size error passes through, so the
// API can answer 413.
func TestReadRecordsBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	up, err := e.svc.NewUpload()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Discard()
	body := `{"records": [` + strings.Repeat(`{"email": "jane@acme.test"},`, 100) + `{}]}`
	limited := http.MaxBytesReader(nil, readCloser{strings.NewReader(body)}, 200)
	_, err = up.ReadRecords(limited)
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		t.Errorf("got %v, want a *http.MaxBytesError", err)
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// FuzzReadRecords: any body either is refused with an *Error (or a read
// error) or gives one JSON object per line.
func FuzzReadRecords(f *testing.F) {
	f.Add(`{"records": [{"email": "jane@acme.test"}], "name": "x"}`)
	f.Add(`{"records": [{"a": "b\nc"}, {"\u2028": "\\"}]}`)
	f.Add(`{"records": []}`)
	f.Add(`[]`)
	f.Add(`{"records": [{"email": 1}]}`)
	f.Add(`{"records": [{"email": 1e999}], "name": 1e999}`)
	f.Add(`1e999`)
	f.Fuzz(func(t *testing.T, body string) {
		var out bytes.Buffer
		_, err := decodeRecords(strings.NewReader(body), &out, 1<<20)
		if err != nil {
			var be *Error
			if !errors.As(err, &be) {
				t.Fatalf("got %v, want an *Error", err)
			}
			return
		}
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		for _, line := range lines {
			var obj map[string]string
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				t.Fatalf("line %q is not an object of strings: %v", line, err)
			}
		}
	})
}
