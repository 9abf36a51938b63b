package bulk

import (
	"encoding/csv"
	"encoding/json"
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
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a,b", `"a,b"`},
		{`say "hi"`, `"say ""hi"""`},
		{"two\nlines", "\"two\nlines\""},
		{" lead", `" lead"`},
		{"=1+2", "'=1+2"},
		{"+14155550100", "'+14155550100"},
		{"-5", "'-5"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "\"'\rx\""},
		{`=HYPERLINK("x","y")`, `"'=HYPERLINK(""x"",""y"")"`},
		{"a=b", "a=b"},
		{"jane@acme.com", "jane@acme.com"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := string(appendCell(nil, tt.in)); got != tt.want {
				t.Errorf("appendCell(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzAppendCell: a cell reads back (with encoding/csv) as the value, with
// a leading quote exactly when a spreadsheet would run it.
func FuzzAppendCell(f *testing.F) {
	for _, s := range []string{"", "a", "=1", "a,b", "\"", " x", "\r\n", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.ContainsRune(s, '\r') {
			// encoding/csv turns \r\n into \n inside quotes, so a round
			// trip cannot be exact; the quoting itself is tested above.
			t.Skip()
		}
		line := string(appendCell(nil, s)) + ",end\n"
		rec, err := csv.NewReader(strings.NewReader(line)).Read()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		want := s
		if s != "" && formulaLead(s[0]) {
			want = "'" + s
		}
		if len(rec) != 2 || rec[0] != want {
			t.Fatalf("%q read back as %q, want %q", s, rec, want)
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
	header := string(csvHeader(keys, true))
	if !strings.HasPrefix(header, "Email,column_2,Email_2,leadcheck_verdict,") || !strings.HasSuffix(header, "leadcheck_phone_timezone\r\n") {
		t.Errorf("header: got %q", header)
	}
	line := string(enc.appendCSV(nil, &o))
	want := "jane@acme.com,x,y,risky,role_account,40,jane@acme.com,risky,role_account,,'+14155550100,mobile,valid,ok,,,true,,,google,,Acme,America/New_York,z\r\n"
	if line != want {
		t.Errorf("csv:\ngot  %q\nwant %q", line, want)
	}
	nd, err := enc.appendNDJSON(nil, &o)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(nd, &got); err != nil {
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
	if got := string(enc.appendCSV(nil, &bad)); got != ",,,invalid,missing_field,0,,,,,,,,,,,false\r\n" {
		t.Errorf("invalid row csv: got %q", got)
	}
	nd, _ = enc.appendNDJSON(nil, &bad)
	var row ndjsonRow
	if err := json.Unmarshal(nd, &row); err != nil || row.Result.Verdict != validate.Invalid || row.Error == nil || row.Error.Code != "missing_field" {
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
