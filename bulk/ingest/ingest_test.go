package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// cols builds Columns in the order email, phone, country, domain, name,
// company.
func cols(email, phone, country, domain, name, company int) Columns {
	return Columns{Email: email, Phone: phone, Country: country, Domain: domain, Name: name, Company: company}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// utf16Bytes encodes s as UTF-16 in the given byte order, with a byte
// order mark when bom is set.
func utf16Bytes(s string, order binary.AppendByteOrder, bom bool) []byte {
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		out = order.AppendUint16(out, u)
	}
	return out
}

func boolPtr(b bool) *bool { return &b }

// readAll reads every record of in with layout l.
func readAll(t testing.TB, in []byte, l Layout) []Record {
	t.Helper()
	r, err := NewReader(bytes.NewReader(in), l)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var out []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(out), err)
		}
		out = append(out, rec)
	}
}

var ignoreLimits = cmpopts.IgnoreFields(Layout{}, "MaxRecordBytes")

type okCase struct {
	name  string
	in    []byte
	opts  Options
	want  Layout
	stats Stats
	rows  [][]string
	lines []int // optional
}

func okCases(t testing.TB) []okCase {
	crm := fixture(t, "crm-export.csv")
	crmHeader := []string{"Record ID", "First Name", "Last Name", "Email", "Phone Number", "Company Name", "Website URL", "Country/Region", "Notes"}
	crmRows := [][]string{
		{"101", "Ann", "Lee", "ann@acme.com", "+1 415 555 0100", "Acme", "https://acme.com", "United States", "Met at the fair,\nwants a demo"},
		{"102", "Bob", "Ray", "bob@globex.de", "+49 30 1234567", "Globex", "globex.de", "Germany", ""},
		{"103", "Cid", "Moe", "cid@initech.fr", "", "Initech", "", "France", `said "hi"`},
		{"104", "Dee", "Fox", "dee@umbrella.co.uk", "+44 20 7946 0958", "Umbrella"},
	}
	crmLayout := Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true, Header: crmHeader, Columns: cols(3, 4, 7, 6, -1, 5)}
	crmStats := Stats{Rows: 4, RaggedRows: 1, BlankRows: 1}
	crmLines := []int{2, 4, 6, 7}
	crmText := string(crm)

	twoLeads := [][]string{{"ann@acme.com", "+1 415 555 0100"}, {"bob@globex.de", "+49 30 1234567"}}

	return []okCase{
		{name: "csv crm export", in: crm, want: crmLayout, stats: crmStats, rows: crmRows, lines: crmLines},
		// Inside a quoted field encoding/csv reads \r\n as \n, so the rows
		// are the same.
		{name: "csv crlf", in: []byte(strings.ReplaceAll(crmText, "\n", "\r\n")), want: crmLayout, stats: crmStats, rows: crmRows, lines: crmLines},
		{name: "csv utf-8 bom", in: append([]byte("\xEF\xBB\xBF"), crm...), want: crmLayout, stats: crmStats, rows: crmRows, lines: crmLines},
		{name: "csv utf-16le bom", in: utf16Bytes(crmText, binary.LittleEndian, true),
			want: withEncoding(crmLayout, "utf-16le"), stats: crmStats, rows: crmRows, lines: crmLines},
		{name: "csv utf-16be bom", in: utf16Bytes(crmText, binary.BigEndian, true),
			want: withEncoding(crmLayout, "utf-16be"), stats: crmStats, rows: crmRows, lines: crmLines},
		{name: "csv utf-16le without bom", in: utf16Bytes(crmText, binary.LittleEndian, false),
			want: withEncoding(crmLayout, "utf-16le"), stats: crmStats, rows: crmRows, lines: crmLines},
		{name: "csv cr line ends", in: []byte("Email,Phone\rann@acme.com,+1 415 555 0100\rbob@globex.de,+49 30 1234567\r"),
			want:  Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true, Newline: "cr", Header: []string{"Email", "Phone"}, Columns: cols(0, 1, -1, -1, -1, -1)},
			stats: Stats{Rows: 2}, rows: twoLeads, lines: []int{2, 3}},
		{name: "semicolon excel export", in: fixture(t, "excel-semicolon.csv"),
			want: Layout{Format: CSV, Encoding: "utf-8", Delimiter: ";", HasHeader: true,
				Header: []string{"Name", "E-Mail", "Telefon", "Land"}, Columns: cols(1, 2, 3, -1, 0, -1)},
			stats: Stats{Rows: 2},
			rows:  [][]string{{"Anna Schmidt", "anna@beispiel.de", "030 1234567", "DE"}, {"Jörg Weiß", "joerg@firma.at", "+43 1 5322000", "AT"}}},
		{name: "tsv", in: []byte("Full Name\tWork Email\tMobile\tCompany\nAnn Lee\tann@acme.com\t+1 415 555 0100\tAcme, Inc.\n"),
			want: Layout{Format: TSV, Encoding: "utf-8", Delimiter: "\t", HasHeader: true,
				Header: []string{"Full Name", "Work Email", "Mobile", "Company"}, Columns: cols(1, 2, -1, -1, 0, 3)},
			stats: Stats{Rows: 1}, rows: [][]string{{"Ann Lee", "ann@acme.com", "+1 415 555 0100", "Acme, Inc."}}},
		{name: "pipe", in: []byte("contact email|tel|site\nann@acme.com|+1 415 555 0100|acme.com\nbob@globex.de||globex.de\n"),
			want: Layout{Format: CSV, Encoding: "utf-8", Delimiter: "|", HasHeader: true,
				Header: []string{"contact email", "tel", "site"}, Columns: cols(0, 1, -1, 2, -1, -1)},
			stats: Stats{Rows: 2}, rows: [][]string{{"ann@acme.com", "+1 415 555 0100", "acme.com"}, {"bob@globex.de", "", "globex.de"}}},
		{name: "headerless csv", in: []byte("ann@acme.com,+1 415 555 0100\nbob@globex.de,+49 30 1234567\n"),
			want:  Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", Header: []string{"column_1", "column_2"}, Columns: cols(0, 1, -1, -1, -1, -1)},
			stats: Stats{Rows: 2}, rows: twoLeads},
		{name: "headerless csv prefers a formatted phone column over ids", in: []byte(
			"10012345,Ann,ann@acme.com,+1 415 555 0100\n10012346,Bob,bob@globex.de,+49 30 1234567\n10012347,Cid,,(212) 555-0199\n"),
			want:  Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", Header: syntheticHeader(4), Columns: cols(2, 3, -1, -1, -1, -1)},
			stats: Stats{Rows: 3}, rows: [][]string{
				{"10012345", "Ann", "ann@acme.com", "+1 415 555 0100"},
				{"10012346", "Bob", "bob@globex.de", "+49 30 1234567"},
				{"10012347", "Cid", "", "(212) 555-0199"}}},
		{name: "unknown header names detected by content", in: []byte("Kontakt,Rufnummer,Angelegt\nann@acme.com,030 1234567,2024-01-15\nbob@globex.de,030 7654321,2024-02-01\n"),
			want: Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true,
				Header: []string{"Kontakt", "Rufnummer", "Angelegt"}, Columns: cols(0, 1, -1, -1, -1, -1)},
			stats: Stats{Rows: 2}, rows: [][]string{{"ann@acme.com", "030 1234567", "2024-01-15"}, {"bob@globex.de", "030 7654321", "2024-02-01"}}},
		{name: "blank rows and ragged rows", in: []byte("email,phone,company\n,,\nann@acme.com,+1 415 555 0100\n  ,\t, \nbob@globex.de,,Globex,extra\n\n"),
			want: Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true,
				Header: []string{"email", "phone", "company"}, Columns: cols(0, 1, -1, -1, -1, 2)},
			stats: Stats{Rows: 2, RaggedRows: 2, BlankRows: 2},
			rows:  [][]string{{"ann@acme.com", "+1 415 555 0100"}, {"bob@globex.de", "", "Globex", "extra"}}, lines: []int{3, 5}},
		{name: "txt without header", in: []byte("ann@acme.com\nbob@globex.de\n"),
			want:  Layout{Format: TXT, Encoding: "utf-8", Header: []string{"column_1"}, Columns: cols(0, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 2}, rows: [][]string{{"ann@acme.com"}, {"bob@globex.de"}}},
		{name: "txt with header, quotes, spaces and blank line", in: fixture(t, "emails.txt"),
			want:  Layout{Format: TXT, Encoding: "utf-8", HasHeader: true, Header: []string{"Email"}, Columns: cols(0, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 3, BlankRows: 1}, rows: [][]string{{"ann@acme.com"}, {"bob@globex.de"}, {"cid@initech.fr"}}, lines: []int{2, 4, 5}},
		// Runs of empty lines are passed over a buffer at a time: the count
		// and the line numbers must be the same as one line at a time,
		// across the 64 KiB read buffer and with CRLF split over it.
		{name: "txt with long runs of empty lines", in: []byte("\n\r\n\nemail\r\nann@acme.com\n" + strings.Repeat("\n", 70000) +
			"bob@globex.de\r\n\r\n  \n" + strings.Repeat("\r\n", 40000) + "cid@initech.fr" + strings.Repeat("\r\n", 3)),
			want:  Layout{Format: TXT, Encoding: "utf-8", HasHeader: true, Header: []string{"email"}, Columns: cols(0, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 3, BlankRows: 3 + 70000 + 1 + 1 + 40000 + 2},
			rows:  [][]string{{"ann@acme.com"}, {"bob@globex.de"}, {"cid@initech.fr"}}, lines: []int{5, 70006, 110009}},
		{name: "ndjson with long runs of empty lines", in: []byte(`{"email":"ann@acme.com"}` + strings.Repeat("\n", 70001) + `{"email":"bob@globex.de"}` + "\r\n\r\n"),
			want:  Layout{Format: NDJSON, Encoding: "utf-8", HasHeader: true, Header: []string{"email"}, Columns: cols(0, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 2, BlankRows: 70000 + 1},
			rows:  [][]string{{"ann@acme.com"}, {"bob@globex.de"}}, lines: []int{1, 70002}},
		{name: "txt phones", in: []byte("+1 415 555 0100\n+49 30 1234567\n"),
			want:  Layout{Format: TXT, Encoding: "utf-8", Header: []string{"column_1"}, Columns: cols(-1, 0, -1, -1, -1, -1)},
			stats: Stats{Rows: 2}, rows: [][]string{{"+1 415 555 0100"}, {"+49 30 1234567"}}},
		{name: "txt domains", in: []byte("acme.com\nhttps://www.globex.de/about\n"),
			want:  Layout{Format: TXT, Encoding: "utf-8", Header: []string{"column_1"}, Columns: cols(-1, -1, -1, 0, -1, -1)},
			stats: Stats{Rows: 2}, rows: [][]string{{"acme.com"}, {"https://www.globex.de/about"}}},
		{name: "ndjson", in: fixture(t, "leads.ndjson"),
			want: Layout{Format: NDJSON, Encoding: "utf-8", HasHeader: true,
				Header: []string{"email", "phone", "score", "vip", "tags", "address", "name"}, Columns: cols(0, 1, -1, -1, 6, -1)},
			stats: Stats{Rows: 3, BlankRows: 2},
			rows: [][]string{
				{"ann@acme.com", "+1 415 555 0100", "7", "true", `["a","b"]`, "", ""},
				{"bob@globex.de", "", "", "", "", `{"city":"Berlin"}`, ""},
				{"cid@initech.fr", "", "", "", "", "", `Cid "C" Moe`},
			}, lines: []int{1, 3, 5}},
		{name: "json array", in: fixture(t, "leads.json"),
			want: Layout{Format: JSON, Encoding: "utf-8", HasHeader: true,
				Header: []string{"Email", "Company", "Phone"}, Columns: cols(0, 2, -1, -1, -1, 1)},
			stats: Stats{Rows: 3, BlankRows: 2},
			rows:  [][]string{{"ann@acme.com", "Acme", ""}, {"bob@globex.de", "", "4930123456"}, {"cid@initech.fr", "", ""}},
			lines: []int{2, 6, 9}},
		{name: "json on one line", in: []byte(` [{"email":"ann@acme.com"},{"email":"bob@globex.de","n":1.50}] `),
			want:  Layout{Format: JSON, Encoding: "utf-8", HasHeader: true, Header: []string{"email", "n"}, Columns: cols(0, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 2}, rows: [][]string{{"ann@acme.com", ""}, {"bob@globex.de", "1.50"}}, lines: []int{1, 1}},
		{name: "a bracket in a csv header is not json", in: []byte("[id],email\n1,ann@acme.com\n"),
			want:  Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true, Header: []string{"[id]", "email"}, Columns: cols(1, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 1}, rows: [][]string{{"1", "ann@acme.com"}}},
		{name: "explicit columns by name ignoring case and spaces", in: []byte("Kontakt,Rufnummer,Land\nann@acme.com,030 1234567,DE\n"),
			opts: Options{EmailColumn: "kontakt", PhoneColumn: " RUF_NUMMER ", CountryColumn: "land"},
			want: Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true,
				Header: []string{"Kontakt", "Rufnummer", "Land"}, Columns: cols(0, 1, 2, -1, -1, -1)},
			stats: Stats{Rows: 1}, rows: [][]string{{"ann@acme.com", "030 1234567", "DE"}}},
		{name: "explicit columns by index override names", in: []byte("email,backup,phone\nann@acme.com,ann@home.org,+1 415 555 0100\n"),
			opts: Options{EmailColumn: "2", NameColumn: "1"},
			want: Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true,
				Header: []string{"email", "backup", "phone"}, Columns: cols(1, 2, -1, -1, 0, -1)},
			stats: Stats{Rows: 1}, rows: [][]string{{"ann@acme.com", "ann@home.org", "+1 415 555 0100"}}},
		{name: "explicit no header keeps the first row", in: []byte("email,phone\nann@acme.com,+1 415 555 0100\nbob@globex.de,+49 30 1234567\n"),
			opts:  Options{HasHeader: boolPtr(false), EmailColumn: "1"},
			want:  Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", Header: []string{"column_1", "column_2"}, Columns: cols(0, 1, -1, -1, -1, -1)},
			stats: Stats{Rows: 3}, rows: append([][]string{{"email", "phone"}}, twoLeads...)},
		{name: "explicit header", in: []byte("a,b\nann@acme.com,x\n"),
			opts:  Options{HasHeader: boolPtr(true)},
			want:  Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true, Header: []string{"a", "b"}, Columns: cols(0, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 1}, rows: [][]string{{"ann@acme.com", "x"}}},
		{name: "explicit delimiter", in: []byte("email;x,y\nann@acme.com;1,2\n"),
			opts:  Options{Delimiter: ','},
			want:  Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true, Header: []string{"email;x", "y"}, Columns: cols(0, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 1}, rows: [][]string{{"ann@acme.com;1", "2"}}},
		{name: "first and last name are not a name column", in: []byte("First Name,Last Name,Email\nAnn,Lee,ann@acme.com\n"),
			want: Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true,
				Header: []string{"First Name", "Last Name", "Email"}, Columns: cols(2, -1, -1, -1, -1, -1)},
			stats: Stats{Rows: 1}, rows: [][]string{{"Ann", "Lee", "ann@acme.com"}}},
	}
}

func withEncoding(l Layout, enc string) Layout {
	l.Encoding = enc
	return l
}

func TestScanAndRead(t *testing.T) {
	t.Parallel()
	for _, tc := range okCases(t) {
		for _, compressed := range []bool{false, true} {
			name, in, want := tc.name, tc.in, tc.want
			if compressed {
				name, in, want.Gzip = name+" gzip", gz(t, in), true
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				l, st, err := Scan(bytes.NewReader(in), tc.opts)
				if err != nil {
					t.Fatalf("Scan: got error %v, want none", err)
				}
				if diff := cmp.Diff(want, l, ignoreLimits); diff != "" {
					t.Errorf("layout (-want +got):\n%s", diff)
				}
				if st.TextBytes <= 0 {
					t.Errorf("stats: TextBytes %d, want the decoded size", st.TextBytes)
				}
				if diff := cmp.Diff(tc.stats, st, cmpopts.IgnoreFields(Stats{}, "TextBytes")); diff != "" {
					t.Errorf("stats (-want +got):\n%s", diff)
				}
				// The layout is stored as JSON with the job: read through a
				// copy that went there and back.
				stored, err := json.Marshal(l)
				if err != nil {
					t.Fatal(err)
				}
				var back Layout
				if err := json.Unmarshal(stored, &back); err != nil {
					t.Fatal(err)
				}
				recs := readAll(t, in, back)
				var rows [][]string
				var lines []int
				ragged := 0
				for i, r := range recs {
					rows = append(rows, r.Fields)
					lines = append(lines, r.Line)
					if r.Index != i {
						t.Errorf("record %d: got Index %d, want %d", i, r.Index, i)
					}
					if r.Ragged {
						ragged++
					}
					if (l.Format == JSON || l.Format == NDJSON) && len(r.Fields) != len(l.Header) {
						t.Errorf("record %d: got %d fields, want len(Header) = %d", i, len(r.Fields), len(l.Header))
					}
				}
				if diff := cmp.Diff(tc.rows, rows); diff != "" {
					t.Errorf("rows (-want +got):\n%s", diff)
				}
				if len(recs) != st.Rows {
					t.Errorf("got %d records, want Stats.Rows = %d", len(recs), st.Rows)
				}
				if ragged != st.RaggedRows {
					t.Errorf("got %d ragged records, want Stats.RaggedRows = %d", ragged, st.RaggedRows)
				}
				if tc.lines != nil {
					if diff := cmp.Diff(tc.lines, lines); diff != "" {
						t.Errorf("lines (-want +got):\n%s", diff)
					}
				}
			})
		}
	}
}

func TestKnownHeaderNames(t *testing.T) {
	t.Parallel()
	variants := map[string][]string{
		"email": {"email", "Email", "E-mail", "EMAIL ADDRESS", "e-mail address", "mail", "Work Email", "business email",
			"Contact Email", "courriel", "correo", "e_mail", "EmailAddress", "email_address", "E-Mail-Adresse"},
		"phone": {"phone", "Phone Number", "phone_number", "telephone", "tel", "Tel.", "mobile", "Mobile Phone", "cell", "cellphone",
			"cell phone", "work phone", "business phone", "contact number", "téléphone", "Téléphone", "telefono", "handy", "Mobile Phone Number"},
		"country": {"country", "Country Code", "country_code", "nation", "pays", "país", "land", "ISO Country", "Country/Region"},
		"domain":  {"domain", "website", "Company Domain", "url", "Web Site", "site", "Website URL", "Company Domain Name"},
		"name":    {"name", "Full Name", "full_name", "Contact Name"},
		"company": {"company", "Company Name", "organization", "organisation", "account", "Account Name", "employer"},
	}
	for role, names := range variants {
		for _, h := range names {
			t.Run(role+"/"+h, func(t *testing.T) {
				t.Parallel()
				// An email column keeps the file valid when the role is not
				// a lead column.
				in := "Row," + h + ",Primary E-Mail Address\n1,x,ann@acme.com\n"
				if role == "email" {
					in = "Row," + h + "\n1,ann@acme.com\n"
				}
				l, _, err := Scan(strings.NewReader(in), Options{})
				if err != nil {
					t.Fatalf("Scan: %v", err)
				}
				if !l.HasHeader {
					t.Errorf("got HasHeader false, want true")
				}
				got := l.Columns.Names(l.Header)[role]
				if got != h {
					t.Errorf("got %s column %q, want %q (columns %+v)", role, got, h, l.Columns)
				}
			})
		}
	}
}

func TestColumnsNames(t *testing.T) {
	t.Parallel()
	header := []string{"Name", "E-mail", "Tel"}
	got := cols(1, 2, -1, -1, 0, 7).Names(header)
	want := map[string]string{"email": "E-mail", "phone": "Tel", "name": "Name"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Names (-want +got):\n%s", diff)
	}
}

func TestRecordField(t *testing.T) {
	t.Parallel()
	r := Record{Fields: []string{"a", "b"}}
	for _, tc := range []struct {
		i    int
		want string
	}{{-1, ""}, {0, "a"}, {1, "b"}, {2, ""}} {
		if got := r.Field(tc.i); got != tc.want {
			t.Errorf("Field(%d): got %q, want %q", tc.i, got, tc.want)
		}
	}
}

// TestRecordsAreNotReused checks that records stay intact after later
// calls, so a job can hand them to workers.
func TestRecordsAreNotReused(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("email,phone\n")
	for i := range 3000 {
		b.WriteString("user")
		b.WriteString(strings.Repeat("x", i%7))
		b.WriteString("@acme.com,+1 415 555 0100\n")
	}
	in := []byte(b.String())
	l, _, err := Scan(bytes.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(in), l)
	if err != nil {
		t.Fatal(err)
	}
	var kept []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, rec)
	}
	for i, rec := range kept {
		want := "user" + strings.Repeat("x", i%7) + "@acme.com"
		if rec.Field(0) != want || len(rec.Fields) != 2 {
			t.Fatalf("record %d: got %q, want [%q +1 415 555 0100]", i, rec.Fields, want)
		}
	}
}

type errCase struct {
	name     string
	in       []byte
	opts     Options
	code     string
	line     int
	field    string
	contains []string
}

func errCases(t testing.TB) []errCase {
	bigRows := "email\n" + strings.Repeat("ann@acme.com\n", 10)
	return []errCase{
		{name: "zip", in: []byte("PK\x03\x04\x14\x00\x06\x00rest of an xlsx"), code: CodeBinaryFile, contains: []string{"binary file", "zip", "upload CSV, TSV, TXT, NDJSON or JSON"}},
		{name: "pdf", in: []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), code: CodeBinaryFile, contains: []string{"PDF"}},
		{name: "png", in: []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), code: CodeBinaryFile, contains: []string{"image"}},
		{name: "nul bytes", in: []byte("email\n\x00\x01\x02\x03garbage"), code: CodeBinaryFile, contains: []string{"binary file"}},
		{name: "zip in gzip", in: gz(t, []byte("PK\x03\x04\x14\x00\x06\x00")), code: CodeBinaryFile, contains: []string{"zip"}},
		{name: "utf-32", in: []byte("\xFF\xFE\x00\x00e\x00\x00\x00"), code: CodeInvalidEnc, contains: []string{"UTF-32"}},
		{name: "empty", in: nil, code: CodeEmptyFile, contains: []string{"empty"}},
		{name: "empty gzip", in: gz(t, nil), code: CodeEmptyFile, contains: []string{"empty"}},
		{name: "only spaces", in: []byte(" \n\r\n\t\n"), code: CodeEmptyFile},
		{name: "only a bom", in: []byte("\xEF\xBB\xBF"), code: CodeEmptyFile},
		{name: "only a header", in: []byte("Name,Email,Phone\n"), code: CodeEmptyFile, contains: []string{"header row (Name, Email, Phone) but no data rows"}},
		{name: "only blank rows", in: []byte(",,\n , \n"), code: CodeEmptyFile, contains: []string{"no rows with values"}},
		{name: "empty json array", in: []byte("[ ]"), code: CodeEmptyFile},
		{name: "json of empty objects", in: []byte(`[{}, {"email": null}]`), code: CodeEmptyFile},
		{name: "bare quote", in: []byte("email,note\n\"a@b.com\",\"two\nlines\"\nc@d.com,say \"hi\"\n"), code: CodeMalformedCSV, line: 4,
			contains: []string{`line 4: bare " in non-quoted field`, "quote the whole field"}},
		{name: "extraneous quote", in: []byte("email,note\na@b.com,\"x\"y\"\n"), code: CodeMalformedCSV, line: 2, contains: []string{`extraneous or missing "`}},
		{name: "unclosed quote", in: []byte("email,note\na@b.com,\"open\nc@d.com,x\n"), code: CodeMalformedCSV, line: 3, contains: []string{"starts on line 2"}},
		{name: "bad json", in: []byte("[\n{\"email\":\"a@b.com\"},\n{\"email\": }\n]"), code: CodeMalformedJSON, line: 3, contains: []string{"invalid JSON"}},
		{name: "json element not an object", in: []byte("[\n{\"email\":\"a@b.com\"},\n\"c@d.com\"\n]"), code: CodeMalformedJSON, line: 3, contains: []string{"found a string"}},
		{name: "json cut short", in: []byte("[\n{\"email\":\"a@b.com\"},\n{\"email\":\"c@"), code: CodeMalformedJSON, line: 3, contains: []string{"cut short"}},
		{name: "json after the array", in: []byte("[{\"email\":\"a@b.com\"}]\n[]"), code: CodeMalformedJSON, line: 2, contains: []string{"after the closing ]"}},
		{name: "ndjson bad line", in: []byte("{\"email\":\"a@b.com\"}\n\n{\"email\":\"c@d.com\",}\n"), code: CodeMalformedJSON, line: 3, contains: []string{"line 3: invalid JSON"}},
		{name: "ndjson not an object", in: []byte("{\"email\":\"a@b.com\"}\n[1,2]\n"), code: CodeMalformedJSON, line: 2, contains: []string{"found an array"}},
		{name: "ndjson pretty printed", in: []byte("{\n  \"email\": \"a@b.com\"\n}\n"), code: CodeMalformedJSON, line: 1, contains: []string{"one whole object per line"}},
		{name: "ndjson two objects on a line", in: []byte("{\"email\":\"a@b.com\"} {\"email\":\"c@d.com\"}\n"), code: CodeMalformedJSON, line: 1},
		{name: "unknown column", in: []byte("Name,Email,Phone\nAnn,a@b.com,1\n"), opts: Options{EmailColumn: "Emial"}, code: CodeUnknownColumn, field: "email_column",
			contains: []string{`no column "Emial" in the header; the headers are: Name, Email, Phone`}},
		{name: "column index out of range", in: []byte("Name,Email,Phone\nAnn,a@b.com,1\n"), opts: Options{PhoneColumn: "4"}, code: CodeUnknownColumn, field: "phone_column",
			contains: []string{"no column 4", "Name, Email, Phone"}},
		{name: "column index zero", in: []byte("Name,Email\nAnn,a@b.com\n"), opts: Options{CountryColumn: "0"}, code: CodeUnknownColumn, field: "country_column"},
		{name: "column name without header", in: []byte("a@b.com,x\n"), opts: Options{HasHeader: boolPtr(false), DomainColumn: "Website"}, code: CodeUnknownColumn, field: "domain_column",
			contains: []string{"no header row", "a@b.com, x"}},
		{name: "unknown json key", in: []byte(`[{"mail":"a@b.com"}]`), opts: Options{CompanyColumn: "org"}, code: CodeUnknownColumn, field: "company_column", contains: []string{"mail"}},
		{name: "no lead column", in: []byte("Name,City,Notes\nAnn,Paris,x\n"), code: CodeNoLeadColumn,
			contains: []string{"found no email, phone or domain column; the headers are: Name, City, Notes — name one with email_column or phone_column"}},
		{name: "no lead column without header", in: []byte("a,b,c\n1,2,3\n"), code: CodeNoLeadColumn, contains: []string{"without a header row; its first row is: a, b, c"}},
		{name: "no lead column in json", in: []byte(`{"first":"Ann","city":"Paris"}`), code: CodeNoLeadColumn, contains: []string{"first, city"}},
		{name: "too many rows", in: []byte(bigRows), opts: Options{MaxRows: 3}, code: CodeTooManyRows, line: 5, contains: []string{"more than 3 rows"}},
		{name: "too many rows past the sample", in: []byte("email\n" + strings.Repeat("ann@acme.com\n", 80)), opts: Options{MaxRows: 60}, code: CodeTooManyRows, line: 62},
		{name: "too many rows in json", in: []byte(`[{"email":"a@b.com"},` + "\n" + `{"email":"a@b.com"}]`), opts: Options{MaxRows: 1}, code: CodeTooManyRows, line: 2},
		{name: "field too long", in: []byte("email,note\na@b.com,short\nc@d.com,\"" + strings.Repeat("x", 40) + "\"\n"), opts: Options{MaxFieldBytes: 32},
			code: CodeFieldTooLong, line: 3, contains: []string{"column 2", "limit is 32 bytes"}},
		{name: "field too long in json", in: []byte(`{"email":"` + strings.Repeat("x", 40) + `@b.com"}`), opts: Options{MaxFieldBytes: 32}, code: CodeFieldTooLong, line: 1},
		{name: "row never ends", in: []byte("email,note\na@b.com,\"open\n" + strings.Repeat("more text,\n", 200)), opts: Options{MaxRecordBytes: 1000},
			code: CodeRecordTooLong, line: 2, contains: []string{"quote"}},
		{name: "txt line too long", in: []byte("email\na@b.com\n" + strings.Repeat("x", 200<<10) + "\n"), code: CodeRecordTooLong, line: 3, opts: Options{MaxRecordBytes: 100 << 10}},
		{name: "txt line too long after empty lines", in: []byte("email\na@b.com" + strings.Repeat("\n", 100000) + strings.Repeat("x", 2000) + "\n"), code: CodeRecordTooLong, line: 100002, opts: Options{MaxRecordBytes: 1000}},
		{name: "ndjson line too long", in: []byte(`{"email":"a@b.com"}` + "\n" + `{"note":"` + strings.Repeat("x", 2000) + `"}`), opts: Options{MaxRecordBytes: 1000}, code: CodeRecordTooLong, line: 2},
		{name: "json object too long", in: []byte("[{\"email\":\"a@b.com\"},\n{\"note\":\"" + strings.Repeat("x", 200<<10) + "\"}]"), opts: Options{MaxRecordBytes: 1000, MaxFieldBytes: 100},
			code: CodeRecordTooLong, line: 2},
		{name: "latin-1", in: []byte("email,name\na@b.com,Ann\nc@d.com,J\xf6rg\n"), code: CodeInvalidEnc, line: 3, contains: []string{"save the file as UTF-8"}},
		{name: "bad delimiter option", in: []byte("email\na@b.com\n"), opts: Options{Delimiter: '"'}, code: CodeInvalidOption, field: "delimiter"},
		{name: "truncated gzip", in: func() []byte { b := gz(t, []byte(bigRows)); return b[:len(b)-12] }(), code: CodeMalformedGzip},
		{name: "corrupt gzip header", in: []byte("\x1f\x8b\x08\x00garbage"), code: CodeMalformedGzip},
		{name: "gzip bomb", in: gz(t, []byte("email\n"+strings.Repeat(",\n", 100000))), opts: Options{MaxDecodedBytes: 1000}, code: CodeTooLarge},
		{name: "too many columns", in: []byte("email" + strings.Repeat(",x", DefaultMaxColumns) + "\n"), code: CodeTooManyColumns, line: 1},
	}
}

func TestScanErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range errCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Scan(bytes.NewReader(tc.in), tc.opts)
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("got error %v (%T), want *Error with code %q", err, err, tc.code)
			}
			if ie.Code != tc.code || ie.Line != tc.line || ie.Field != tc.field {
				t.Errorf("got code %q line %d field %q, want code %q line %d field %q (message %q)",
					ie.Code, ie.Line, ie.Field, tc.code, tc.line, tc.field, ie.Message)
			}
			for _, s := range tc.contains {
				if !strings.Contains(ie.Message, s) {
					t.Errorf("got message %q, want it to contain %q", ie.Message, s)
				}
			}
			if ie.Error() != ie.Message {
				t.Errorf("got Error() %q, want the message %q", ie.Error(), ie.Message)
			}
		})
	}
}

// failingReader returns some bytes, then an I/O error.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// TestReadFailureIsNotBadInput checks that a failing upload reader comes
// back as itself, not as an *Error blaming the file.
func TestReadFailureIsNotBadInput(t *testing.T) {
	t.Parallel()
	errDisk := errors.New("disk on fire")
	plain := []byte("email\n" + strings.Repeat("ann@acme.com\n", 20000))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"plain", plain},
		{"gzip", func() []byte { b := gz(t, plain); return b[:len(b)/2] }()},
		{"json", []byte(`[{"email":"a@b.com"},` + strings.Repeat(`{"email":"a@b.com"},`, 10000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := Scan(&failingReader{data: tc.data, err: errDisk}, Options{})
			if !errors.Is(err, errDisk) {
				t.Errorf("got error %v, want one wrapping %v", err, errDisk)
			}
			if errors.As(err, new(*Error)) {
				t.Errorf("got *Error %v, want a plain I/O error", err)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		l    Layout
		in   string
	}{
		{"unknown format", Layout{Format: "xlsx", Encoding: "utf-8"}, "a"},
		{"unknown encoding", Layout{Format: CSV, Encoding: "latin-1", Delimiter: ","}, "a"},
		{"bad delimiter", Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",;"}, "a"},
		{"unknown newline", Layout{Format: TXT, Encoding: "utf-8", Newline: "lf"}, "a"},
		{"not gzip", Layout{Format: TXT, Encoding: "utf-8", Gzip: true}, "plain text"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewReader(strings.NewReader(tc.in), tc.l); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}

	t.Run("error is final", func(t *testing.T) {
		t.Parallel()
		l := Layout{Format: CSV, Encoding: "utf-8", Delimiter: ",", HasHeader: true, Header: []string{"email"}}
		r, err := NewReader(strings.NewReader("email\na@b.com\nc\"d\ne@f.com\n"), l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != nil {
			t.Fatalf("first record: %v", err)
		}
		_, err1 := r.Next()
		_, err2 := r.Next()
		if err1 == nil || err1 != err2 {
			t.Errorf("got errors %v then %v, want the same error twice", err1, err2)
		}
	})

	t.Run("json key the layout lacks", func(t *testing.T) {
		t.Parallel()
		l := Layout{Format: NDJSON, Encoding: "utf-8", HasHeader: true, Header: []string{"email"}}
		r, err := NewReader(strings.NewReader(`{"phone":"1"}`), l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err == nil || err == io.EOF {
			t.Errorf("got %v, want an error about the key", err)
		}
	})
}

// endless yields a prefix, then the same byte forever, counting what was
// read.
type endless struct {
	prefix []byte
	fill   byte
	read   int64
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.prefix)
	e.prefix = e.prefix[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	e.read += int64(len(p))
	return len(p), nil
}

// TestEndlessRecordStops checks that a record that never ends is refused
// after about MaxRecordBytes, so a 1 GB line cannot exhaust memory.
func TestEndlessRecordStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		prefix string
		fill   byte
		line   int
	}{
		{"csv unclosed quote", "email,note\na@b.com,\"", 'x', 2},
		{"csv endless line", "email,note\na@b.com,", 'x', 2},
		{"txt", "email\na@b.com\n", 'x', 3},
		{"ndjson", "{\"email\":\"a@b.com\"}\n{\"note\":\"", 'x', 2},
		{"json", "[{\"email\":\"a@b.com\"},\n{\"note\":\"", 'x', 2},
		{"json spaces", "[{\"email\":\"a@b.com\"},", ' ', 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := &endless{prefix: []byte(tc.prefix), fill: tc.fill}
			_, _, err := Scan(in, Options{})
			var ie *Error
			if !errors.As(err, &ie) || ie.Code != CodeRecordTooLong || ie.Line != tc.line {
				t.Fatalf("got %v, want a record_too_long *Error on line %d", err, tc.line)
			}
			if limit := int64(DefaultMaxRecordBytes + 4*bufSize); in.read > limit {
				t.Errorf("read %d bytes before refusing, want at most %d", in.read, limit)
			}
		})
	}
}

func TestTooManyJSONKeys(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range DefaultMaxColumns + 1 {
		b.WriteString(`{"email":"a@b.com","k`)
		b.WriteString(strings.Repeat("x", i%10))
		b.WriteString(string(rune('a' + i/10%26)))
		b.WriteString(string(rune('a' + i/260%26)))
		b.WriteString(`":1}` + "\n")
	}
	_, _, err := Scan(strings.NewReader(b.String()), Options{})
	var ie *Error
	if !errors.As(err, &ie) || ie.Code != CodeTooManyColumns {
		t.Fatalf("got %v, want a too_many_columns *Error", err)
	}
}

// newlineBomb is the attack's file: gzip members of 1 MiB of newlines,
// repeated, so about 1 MB of gzip expands to mib MiB of text.
func newlineBomb(t testing.TB, mib int) []byte {
	t.Helper()
	member := gz(t, append([]byte("email\n"), bytes.Repeat([]byte{'\n'}, 1<<20)...))
	return bytes.Repeat(member, mib)
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestExpansionBombRefused: a gzip of 1 GiB of newlines is refused for its
// expansion ratio after reading a small part of it, so the work done is
// bounded whatever the bomb's size; a plain cap on decompressed bytes
// works the same way.
func TestExpansionBombRefused(t *testing.T) {
	t.Parallel()
	bomb := newlineBomb(t, 1024)
	for _, tc := range []struct {
		name  string
		opts  Options
		limit string
	}{
		{"ratio", Options{}, LimitExpansionRatio},
		{"decompressed bytes", Options{MaxExpansion: 1 << 20, MaxDecodedBytes: 4 << 20}, LimitDecodedBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &countReader{r: bytes.NewReader(bomb)}
			_, _, err := Scan(in, tc.opts)
			var ie *Error
			if !errors.As(err, &ie) || ie.Code != CodeTooLarge || ie.Limit != tc.limit {
				t.Fatalf("got %v, want too_large for %s", err, tc.limit)
			}
			if in.n > int64(len(bomb))/8 {
				t.Errorf("read %d of the bomb's %d bytes before refusing it", in.n, len(bomb))
			}
		})
	}
	// An ordinary gzip file is far below the ratio.
	var plain bytes.Buffer
	plain.WriteString("email,phone,name\n")
	for i := range 50000 {
		fmt.Fprintf(&plain, "user%d@acme%d.test,+1415555%04d,Name %d\n", i, i%977, i%10000, i)
	}
	if _, _, err := Scan(bytes.NewReader(gz(t, plain.Bytes())), Options{}); err != nil {
		t.Errorf("ordinary gzip file: %v", err)
	}
}

// utf16Units encodes raw UTF-16 code units, lone surrogates included.
func utf16Units(order binary.AppendByteOrder, units ...uint16) []byte {
	var out []byte
	for _, u := range units {
		out = order.AppendUint16(out, u)
	}
	return out
}

// TestUTF16Strict: a lone surrogate, a reversed pair or an odd last byte
// in UTF-16 input is refused as invalid_encoding naming its line, like bad
// UTF-8; a real pair and a U+FFFD written as such are kept.
func TestUTF16Strict(t *testing.T) {
	t.Parallel()
	good := utf16Bytes("email,name\r\njane@acme.test,Ann\r\nkim@acme.test,\U0001F600\uFFFD\r\n", binary.LittleEndian, true)
	recs := readAll(t, good, mustScan(t, good))
	if len(recs) != 2 || recs[1].Fields[1] != "\U0001F600\uFFFD" {
		t.Fatalf("good UTF-16: got %+v", recs)
	}
	prefix := utf16Bytes("email,name\r\njane@acme.test,Ann\r\nkim@acme.test,", binary.LittleEndian, true)
	suffix := utf16Bytes("\r\nlee@acme.test,x\r\n", binary.LittleEndian, false)
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"lone high surrogate", append(append(slices.Clone(prefix), utf16Units(binary.LittleEndian, 0xD83D, 'x')...), suffix...)},
		{"lone low surrogate", append(append(slices.Clone(prefix), utf16Units(binary.LittleEndian, 0xDE00)...), suffix...)},
		{"reversed pair", append(append(slices.Clone(prefix), utf16Units(binary.LittleEndian, 0xDE00, 0xD83D)...), suffix...)},
		{"odd last byte", append(slices.Clone(prefix), 'x', 0, 'y')},
		{"big endian lone surrogate", append(utf16Bytes("email\nkim@acme.test\n", binary.BigEndian, true), append(utf16Units(binary.BigEndian, 0xD800), utf16Bytes("\n", binary.BigEndian, false)...)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Scan(bytes.NewReader(tc.in), Options{})
			var ie *Error
			if !errors.As(err, &ie) || ie.Code != CodeInvalidEnc || ie.Line != 3 || !strings.Contains(ie.Message, "line 3") {
				t.Fatalf("got %v, want invalid_encoding on line 3", err)
			}
		})
	}
}

func mustScan(t *testing.T, in []byte) Layout {
	t.Helper()
	l, _, err := Scan(bytes.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// withoutEmptyLines is noEmptyLines the slow way.
func withoutEmptyLines(b []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(b, []byte{'\n'}) {
		if string(line) != "\n" && string(line) != "\r\n" {
			out = append(out, line...)
		}
	}
	return out
}

// FuzzNoEmptyLines: the sniffer's reader drops exactly the empty lines,
// whatever the sizes it is read in.
func FuzzNoEmptyLines(f *testing.F) {
	for _, s := range []string{"", "\n", "\r\n\n", "a\n\n\nb", "\n\na,b\r\n\r\nc,d\n\n", "x\r\r\n\n", "\n\n\n\n"} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		if bytes.IndexByte(in, 0) >= 0 {
			t.Skip("a sample with NUL bytes is refused before sniffing")
		}
		r := &noEmptyLines{b: in}
		var got []byte
		buf := make([]byte, int(size)%64+1)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if n == 0 {
				t.Fatal("Read returned nothing and no error")
			}
		}
		if want := withoutEmptyLines(in); !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

// BenchmarkScanBomb is the work one B9 bomb costs the scan: 1 GiB of
// gzipped newlines, refused for its expansion.
func BenchmarkScanBomb(b *testing.B) {
	bomb := newlineBomb(b, 1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Scan(bytes.NewReader(bomb), Options{}); err == nil {
			b.Fatal("the bomb was accepted")
		}
	}
}
