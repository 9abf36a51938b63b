package bulk

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/enrich"
	"github.com/leadcheck/leadcheck/validate"
)

func TestAppendCell(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, safe, raw string }{
		{"", "", ""},
		{"plain", "plain", "plain"},
		{"a,b", `"a,b"`, `"a,b"`},
		{"a;b", `"a;b"`, "a;b"},
		{"a\tb", "\"a\tb\"", "a\tb"},
		{`say "hi"`, `"say ""hi"""`, `"say ""hi"""`},
		{"two\nlines", "\"two\nlines\"", "\"two\nlines\""},
		{" lead", `" lead"`, `" lead"`},
		{"=1+2", "'=1+2", "=1+2"},
		{"+14155550100", "'+14155550100", "+14155550100"},
		{"+44 20 7946 0001", "'+44 20 7946 0001", "+44 20 7946 0001"},
		{"-5", "'-5", "-5"},
		{"@SUM(A1)", "'@SUM(A1)", "@SUM(A1)"},
		{" =1+1", `"' =1+1"`, `" =1+1"`},
		{"\tx", "\"'\tx\"", "\tx"},
		{"\rx", "\"'\rx\"", "\"\rx\""},
		{"x;=cmd|' /C calc'!A0", `"x;'=cmd|' /C calc'!A0"`, "x;=cmd|' /C calc'!A0"},
		{"x,+1", `"x,'+1"`, `"x,+1"`},
		{"x; @a", `"x;' @a"`, "x; @a"},
		{`=HYPERLINK("x","y")`, `"'=HYPERLINK(""x"",""y"")"`, `"=HYPERLINK(""x"",""y"")"`},
		{"a=b", "a=b", "a=b"},
		{"a-b", "a-b", "a-b"},
		{"jane@acme.com", "jane@acme.com", "jane@acme.com"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := string(cellWriter{delimiter: ',', safe: true}.appendCell(nil, []byte(tt.in))); got != tt.safe {
				t.Errorf("safe %q: got %q, want %q", tt.in, got, tt.safe)
			}
			if got := string(cellWriter{delimiter: ',', safe: false}.appendCell(nil, []byte(tt.in))); got != tt.raw {
				t.Errorf("unsafe %q: got %q, want %q", tt.in, got, tt.raw)
			}
		})
	}
}

// formulaCells are cells a spreadsheet could run, in one locale or other.
var formulaCells = []string{
	"=1+1", " =1+1", "  @SUM(A1)", "+1 415 555 0100", "-2+3", "\t=1",
	"x;=cmd|' /C calc'!A0", "x,=cmd|' /C calc'!A0", "x\t=cmd", "a; -1", "a,;=1",
	`=HYPERLINK("http://x","y")`, "ok;fine", "plain", "jane@acme.com",
}

// TestFormulaGuardLocales writes formulaCells as one line with each
// delimiter and reads it back with encoding/csv in the ',' and the ';'
// locale, as a spreadsheet of either would: with the file's own delimiter
// every cell reads back as written (plus the neutralising quote), and with
// either delimiter no cell starts, after spaces, with = + - or @.
func TestFormulaGuardLocales(t *testing.T) {
	t.Parallel()
	for _, delim := range []byte{',', ';', '\t'} {
		w := cellWriter{delimiter: delim, safe: true}
		var line []byte
		for i, c := range formulaCells {
			if i > 0 {
				line = append(line, delim)
			}
			line = w.appendCell(line, []byte(c))
		}
		line = append(line, '\r', '\n')
		for _, locale := range []rune{',', ';', '\t'} {
			r := csv.NewReader(strings.NewReader(string(line)))
			r.Comma, r.LazyQuotes, r.FieldsPerRecord = locale, true, -1
			rec, err := r.Read()
			if err != nil {
				t.Fatalf("delimiter %q read as %q: %v\n%q", delim, locale, err, line)
			}
			for _, cell := range rec {
				if tr := strings.TrimLeft(cell, " "); tr != "" && formulaLead(tr[0]) {
					t.Errorf("delimiter %q read as %q: cell %q would run as a formula (line %q)", delim, locale, cell, line)
				}
			}
			if locale != rune(delim) {
				continue
			}
			if len(rec) != len(formulaCells) {
				t.Fatalf("delimiter %q: got %d cells, want %d: %q", delim, len(rec), len(formulaCells), rec)
			}
			for i, cell := range rec {
				if unneutral := strings.ReplaceAll(cell, "'", ""); unneutral != strings.ReplaceAll(formulaCells[i], "'", "") {
					t.Errorf("delimiter %q: cell %d read back as %q, want %q with quotes added only", delim, i, cell, formulaCells[i])
				}
			}
		}
		// Unsafe cells read back exactly.
		w.safe = false
		line = line[:0]
		for i, c := range formulaCells {
			if i > 0 {
				line = append(line, delim)
			}
			line = w.appendCell(line, []byte(c))
		}
		r := csv.NewReader(strings.NewReader(string(line) + "\n"))
		r.Comma = rune(delim)
		rec, err := r.Read()
		if err != nil || !slices.Equal(rec, formulaCells) {
			t.Errorf("unsafe, delimiter %q: got %q (%v), want %q", delim, rec, err, formulaCells)
		}
	}
}

// FuzzAppendCell: a cell reads back (with encoding/csv) as the value when
// unsafe, and with quotes added only, none of its parts a formula, when
// safe.
func FuzzAppendCell(f *testing.F) {
	for _, s := range []string{"", "a", "=1", "a,b", "\"", " x", "\r\n", "-", "x;=1", " @"} {
		f.Add(s, byte(','))
	}
	f.Fuzz(func(t *testing.T, s string, d byte) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, '\r') {
			// encoding/csv turns \r\n into \n inside quotes, so a round
			// trip cannot be exact; the quoting itself is tested above.
			t.Skip()
		}
		delim := []byte{',', ';', '\t'}[int(d)%3]
		for _, safe := range []bool{false, true} {
			line := string(cellWriter{delimiter: delim, safe: safe}.appendCell(nil, []byte(s))) + string(delim) + "end\n"
			r := csv.NewReader(strings.NewReader(line))
			r.Comma = rune(delim)
			rec, err := r.Read()
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if len(rec) != 2 {
				t.Fatalf("%q read back as %q", s, rec)
			}
			if !safe && rec[0] != s {
				t.Fatalf("unsafe %q read back as %q", s, rec[0])
			}
			if safe {
				if strings.ReplaceAll(rec[0], "'", "") != strings.ReplaceAll(s, "'", "") {
					t.Fatalf("safe %q read back as %q", s, rec[0])
				}
				for _, part := range strings.FieldsFunc(rec[0], func(r rune) bool { return r == ',' || r == ';' || r == '\t' }) {
					if tr := strings.TrimLeft(part, " "); tr != "" && formulaLead(tr[0]) {
						t.Fatalf("safe %q read back as %q: part %q is a formula", s, rec[0], part)
					}
				}
				if tr := strings.TrimLeft(rec[0], " "); tr != "" && formulaLead(tr[0]) {
					t.Fatalf("safe %q read back as %q", s, rec[0])
				}
			}
		}
	})
}

// FuzzAppendJSONString: the output is a JSON string that decodes to the
// input, with invalid UTF-8 replaced as encoding/json does.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f", "\u2028", "\xff", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q gave %s: %v", s, out, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && strings.ReplaceAll(got, "\ufffd", "") != strings.ReplaceAll(want, "\ufffd", "") {
			t.Fatalf("%q decoded as %q, want %q", s, got, want)
		}
		std, _ := json.Marshal(s)
		if utf8.ValidString(s) && !strings.ContainsAny(s, "<>&") && string(out) != string(std) {
			t.Fatalf("%q: got %s, encoding/json gives %s", s, out, std)
		}
	})
}

// storeAndRender stores o as a job does and renders it as a download
// would: its CSV line and its NDJSON line.
func storeAndRender(t *testing.T, enc *rowEncoder, o *rowOutcome, w cellWriter) (csvLine, ndLine string) {
	t.Helper()
	b, err := enc.appendRow(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	sr := newStoredReader(bytes.NewReader(b))
	body, err := sr.next()
	if err != nil {
		t.Fatal(err)
	}
	r, err := sr.decodeRow(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.verdict != verdictByte(o.verdict()) {
		t.Errorf("stored verdict %c, want %c", r.verdict, verdictByte(o.verdict()))
	}
	csvLine = string(appendCSVRow(nil, len(enc.keys), r, w))
	ndLine = string(appendNDJSONRow(nil, enc.keys, r))
	if _, err := sr.next(); err != io.EOF {
		t.Errorf("after the row: got %v, want EOF", err)
	}
	return csvLine, ndLine
}

func TestRowEncoding(t *testing.T) {
	t.Parallel()
	keys := layoutKeys(ingest.Layout{HasHeader: true, Header: []string{"Email", "", "Email"}}, 3)
	if diff := cmp.Diff([]string{"Email", "column_2", "Email_2"}, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	enc := newRowEncoder(keys, true)
	o := rowOutcome{
		number: 3,
		record: ingest.Record{Line: 4, Fields: []string{"jane@acme.com", "x", "y", "z"}, Ragged: true},
		result: validate.Result{Verdict: validate.Risky, Score: 40,
			Email: &validate.EmailResult{Verdict: validate.Risky, Reason: validate.ReasonRoleAccount, Score: 40, Normalized: "jane@acme.com"},
			Phone: &validate.PhoneResult{Verdict: validate.Valid, Reason: validate.ReasonOK, Score: 100, E164: "+14155550100", Type: "mobile"},
		},
		enrichment: &enrich.Enrichment{Mail: &enrich.Mail{Provider: "google"}, Phone: &enrich.Phone{Carrier: "Acme", TimeZones: []string{"America/New_York"}}, Missing: []enrich.Gap{}},
	}
	safe := cellWriter{delimiter: ',', safe: true}
	header := string(appendCSVHeader(nil, keys, true, safe))
	if !strings.HasPrefix(header, "Email,column_2,Email_2,leadcheck_verdict,") || !strings.HasSuffix(header, "leadcheck_phone_timezone\r\n") {
		t.Errorf("header: got %q", header)
	}
	line, nd := storeAndRender(t, enc, &o, safe)
	want := "jane@acme.com,x,y,risky,role_account,40,jane@acme.com,risky,role_account,,'+14155550100,mobile,valid,ok,,,true,,,google,,Acme,America/New_York,z\r\n"
	if line != want {
		t.Errorf("csv:\ngot  %q\nwant %q", line, want)
	}
	semi, _ := storeAndRender(t, enc, &o, cellWriter{delimiter: ';'})
	if want := strings.ReplaceAll(strings.Replace(want, "'+", "+", 1), ",", ";"); semi != want {
		t.Errorf("unsafe csv with ';':\ngot  %q\nwant %q", semi, want)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(nd), &got); err != nil {
		t.Fatalf("%s: %v", nd, err)
	}
	if got["row"] != 3.0 || got["line"] != 4.0 || got["ragged"] != true {
		t.Errorf("ndjson: got %s", nd)
	}
	if diff := cmp.Diff(map[string]any{"Email": "jane@acme.com", "column_2": "x", "Email_2": "y", "column_4": "z"}, got["record"]); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if _, ok := got["enrichment"]; !ok {
		t.Errorf("ndjson lacks enrichment: %s", nd)
	}

	bad := rowOutcome{number: 1, record: ingest.Record{Line: 2, Fields: []string{"", "", ""}},
		inputErr: &validate.InputError{Field: "email", Code: "missing_field", Message: "give at least one"}}
	enc = newRowEncoder(keys, false)
	line, nd = storeAndRender(t, enc, &bad, safe)
	if line != ",,,invalid,missing_field,0,,,,,,,,,,,false\r\n" {
		t.Errorf("invalid row csv: got %q", line)
	}
	var row ndjsonRow
	if err := json.Unmarshal([]byte(nd), &row); err != nil || row.Result.Verdict != validate.Invalid || row.Error == nil || row.Error.Code != "missing_field" {
		t.Errorf("invalid row ndjson: got %s (%v)", nd, err)
	}
}

func TestLeadReason(t *testing.T) {
	t.Parallel()
	res := validate.Result{Verdict: validate.Invalid,
		Email: &validate.EmailResult{Verdict: validate.Valid, Reason: validate.ReasonOK, Score: 100},
		Phone: &validate.PhoneResult{Verdict: validate.Invalid, Reason: validate.ReasonTooShort, Score: 0},
	}
	if got := leadReason(res); got != validate.ReasonTooShort {
		t.Errorf("got %s, want too_short", got)
	}
	if got := leadReason(validate.Result{Verdict: validate.Valid}); got != validate.ReasonOK {
		t.Errorf("no fields: got %s, want ok", got)
	}
}

func TestParseVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want verdictSet
		bad  bool
	}{
		{"", allVerdicts, false},
		{"valid", 1, false},
		{"valid,risky", 5, false},
		{" Invalid , unknown ", 10, false},
		{"valid,valid", 1, false},
		{"good", 0, true},
		{"valid,", 0, true},
		{",", 0, true},
	}
	for _, tt := range tests {
		got, err := parseVerdicts(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseVerdicts(%q): got %b %v, want %b bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func FuzzParseVerdicts(f *testing.F) {
	for _, s := range []string{"", "valid", "valid,risky", "x", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := parseVerdicts(s)
		if err != nil {
			return
		}
		if set == 0 || set > allVerdicts {
			t.Fatalf("%q gave set %b", s, set)
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	p := cursorPos{created: time.Date(2026, 3, 1, 12, 0, 0, 123, time.UTC), id: newID()}
	got, err := decodeCursor(encodeCursor(p))
	if err != nil || !got.created.Equal(p.created) || got.id != p.id {
		t.Errorf("got %+v %v, want %+v", got, err, p)
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(cursorPos{created: time.Unix(1_700_000_000, 5), id: strings.Repeat("ab", 16)}))
	f.Add("")
	f.Add("djEuMS4x")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := decodeCursor(s)
		if err != nil {
			return
		}
		if !validID(p.id) {
			t.Fatalf("%q gave id %q", s, p.id)
		}
		if again := encodeCursor(p); again != s {
			t.Fatalf("%q decoded and encoded as %q", s, again)
		}
	})
}
