package bulk

import (
	"context"
	"encoding/csv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// TestDelimiterRoundTrip: results keep the input's delimiter, and read
// back with it (as a spreadsheet of that locale reads them) they hold every
// original cell, the neutralised ones with a quote in front.
func TestDelimiterRoundTrip(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	e.run(e.svc)
	for _, tt := range []struct {
		name  string
		delim rune
	}{{"comma", ','}, {"semicolon", ';'}, {"tab", '\t'}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := string(tt.delim)
			rows := [][]string{
				{"Name", "E-Mail", "Telefon", "Notiz"},
				{"Ann Lee", "ann@acme.test", "+44 20 7946 0001", "=1+1"},
				{"Bob", "bob@acme.test", "", "x;=cmd|' /C calc'!A0"},
			}
			var file strings.Builder
			for _, r := range rows {
				file.WriteString(strings.Join(r, d) + "\n")
			}
			st := e.mustSubmit("", csvQuote(file.String(), tt.delim), Options{})
			done := e.wait("", st.ID)
			if done.Status != StatusCompleted {
				t.Fatalf("job: %+v", done)
			}
			for _, unsafe := range []bool{false, true} {
				d, err := e.svc.Results(context.Background(), "", st.ID, DownloadOptions{Unsafe: unsafe})
				if err != nil {
					t.Fatal(err)
				}
				if wantExt := map[rune]string{',': ".csv", ';': ".csv", '\t': ".tsv"}[tt.delim]; !strings.HasSuffix(d.Filename, wantExt) {
					t.Errorf("filename %q, want %s", d.Filename, wantExt)
				}
				var b strings.Builder
				if _, err := d.WriteTo(&b); err != nil {
					t.Fatal(err)
				}
				d.Close()
				body := strings.TrimPrefix(b.String(), utf8BOM)
				r := csv.NewReader(strings.NewReader(body))
				r.Comma, r.FieldsPerRecord = tt.delim, -1
				got, err := r.ReadAll()
				if err != nil {
					t.Fatalf("unsafe=%v: read back with %q: %v\n%s", unsafe, tt.delim, err, body)
				}
				if len(got) != len(rows) {
					t.Fatalf("unsafe=%v: got %d lines, want %d\n%s", unsafe, len(got), len(rows), body)
				}
				if got[0][len(rows[0])] != "leadcheck_verdict" {
					t.Errorf("header: got %q", got[0])
				}
				for i, row := range rows {
					for j, want := range row {
						if !unsafe && i > 0 && (j == 2 && want != "" || j == 3) {
							want = neutralised(want)
						}
						if got[i][j] != want {
							t.Errorf("unsafe=%v: line %d cell %d: got %q, want %q", unsafe, i+1, j+1, got[i][j], want)
						}
					}
				}
				e164 := slices.Index(got[0], "leadcheck_phone_e164")
				if want := map[bool]string{false: "'+442079460001", true: "+442079460001"}[unsafe]; got[1][e164] != want {
					t.Errorf("unsafe=%v: e164 %q, want %q", unsafe, got[1][e164], want)
				}
			}
		})
	}
}

// neutralised is what the safe download makes of the test's cells.
func neutralised(s string) string {
	switch s {
	case "=1+1":
		return "'=1+1"
	case "+44 20 7946 0001":
		return "'+44 20 7946 0001"
	case "x;=cmd|' /C calc'!A0":
		return "x;'=cmd|' /C calc'!A0"
	}
	return s
}

// csvQuote quotes the test's cell that holds a ';' in the semicolon file
// (in a ',' or tab file it is plain text).
func csvQuote(file string, delim rune) string {
	if delim == ';' {
		return strings.Replace(file, "x;=cmd|' /C calc'!A0", `"x;=cmd|' /C calc'!A0"`, 1)
	}
	return file
}

// TestResultsStoredCompressed: a job keeps one compressed results file,
// much smaller than the rows it yields.
func TestResultsStoredCompressed(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	e.run(e.svc)
	var file strings.Builder
	file.WriteString("email,phone,name\n")
	for i := range 2000 {
		file.WriteString("p" + strings.Repeat("x", i%7) + "@acme.test,+1 415 555 0100,Person Name\n")
	}
	st := e.mustSubmit("", file.String(), Options{})
	if done := e.wait("", st.ID); done.Status != StatusCompleted {
		t.Fatalf("job: %+v", done)
	}
	files := e.jobFiles(st.ID)
	for _, legacy := range legacyResultFiles {
		if slices.Contains(files, legacy) {
			t.Errorf("job has %s: %v", legacy, files)
		}
	}
	fi, err := os.Stat(filepath.Join(e.cfg.Dir, "jobs", st.ID, resultsFile))
	if err != nil {
		t.Fatal(err)
	}
	nd := e.download("", st.ID, FormatNDJSON, "")
	if n := strings.Count(nd, "\n"); n != 2000 {
		t.Fatalf("ndjson: %d lines", n)
	}
	if fi.Size()*5 > int64(len(nd)) {
		t.Errorf("results.zst is %d bytes for %d bytes of NDJSON: want at least 5x smaller", fi.Size(), len(nd))
	}
	if fi.Size() > int64(file.Len()) {
		t.Errorf("results.zst is %d bytes for a %d-byte upload", fi.Size(), file.Len())
	}
}

// TestControlCharacterRow: a row whose email holds a control character is
// invalid with the reason the README gives, control_character, and the
// job goes on.
func TestControlCharacterRow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	e.run(e.svc)
	st := e.mustSubmit("", "email\njane@acme.test\n\"jo\x01e@acme.test\"\n", Options{})
	if done := e.wait("", st.ID); done.Status != StatusCompleted || done.Counts.Invalid != 1 || done.Counts.Valid != 1 {
		t.Fatalf("job: %+v", done)
	}
	rows := parseNDJSON(t, e.download("", st.ID, FormatNDJSON, ""))
	if len(rows) != 2 || rows[1].Error == nil || rows[1].Error.Code != "control_character" || rows[1].Result.Verdict != "invalid" {
		t.Fatalf("got %+v", rows)
	}
	table := parseCSV(t, e.download("", st.ID, FormatCSV, ""))
	if reason := table[2][slices.Index(table[0], "leadcheck_reason")]; reason != "control_character" {
		t.Errorf("csv reason %q, want control_character", reason)
	}
}

// TestDiskBound: whatever the shape of an accepted file, its job (upload,
// results, record, checkpoint) takes at most 10 times the file's size on
// disk; the rows here are as short as a lead can be, where the verdict
// columns and the validation object weigh most against the row.
func TestDiskBound(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	e.run(e.svc)
	rng := rand.New(rand.NewPCG(1, 2))
	letters := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	const rows = 5000
	shapes := map[string]struct {
		value  func() string
		column Options
	}{
		"short emails":       {func() string { return letters(2) + "@" + letters(1) + ".test" }, Options{}},
		"emails at one host": {func() string { return letters(3) + "@acme.test" }, Options{}},
		"short phones":       {func() string { return "+1 415 555 " + strconv.Itoa(1000+rng.IntN(9000)) }, Options{}},
		"bad phones":         {func() string { return strconv.Itoa(rng.IntN(1000)) }, Options{PhoneColumn: "1"}},
		"one digit":          {func() string { return strconv.Itoa(rng.IntN(10)) }, Options{PhoneColumn: "1"}},
		"bare domains":       {func() string { return letters(3) + ".test" }, Options{DomainColumn: "1"}},
	}
	for name, shape := range shapes {
		var file strings.Builder
		for range rows {
			file.WriteString(shape.value() + "\n")
		}
		o := shape.column
		o.HasHeader, o.DefaultCountry = "false", "US"
		st := e.mustSubmit("", file.String(), o)
		if done := e.wait("", st.ID); done.Status != StatusCompleted || done.ProcessedRows != rows {
			t.Fatalf("%s: %+v", name, done)
		}
		var size int64
		dir := filepath.Join(e.cfg.Dir, "jobs", st.ID)
		for _, f := range e.jobFiles(st.ID) {
			fi, err := os.Stat(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			size += fi.Size()
		}
		ratio := float64(size) / float64(file.Len())
		t.Logf("%s: %d bytes of file, %d on disk (%.1fx)", name, file.Len(), size, ratio)
		if ratio > 10 {
			t.Errorf("%s: %d bytes of file take %d on disk, %.1f times", name, file.Len(), size, ratio)
		}
	}
}
