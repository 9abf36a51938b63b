// Package ingest reads the lead files people upload for bulk jobs: CSV, TSV,
// semicolon- or pipe-separated text, TXT (one value per line), NDJSON and JSON
// arrays, optionally gzipped, in UTF-8 or UTF-16 with a byte order mark.
//
// It works in two passes so that a job never holds a file in memory and can
// resume after a restart. Scan reads the whole input once, works out how to
// read it (a Layout: compression, encoding, format, delimiter, header,
// columns), checks every row and counts them. NewReader then streams the
// records of the same input, as often as needed, with the stored Layout.
//
// Bad input comes back as an *Error whose Message tells the uploader what is
// wrong and how to fix it, with the line when there is one.
package ingest

import (
	"fmt"
	"strings"
)

// Format is the kind of text a file holds. It is stored with a job, so the
// values are fixed.
type Format string

// The formats Scan recognises.
const (
	// CSV is delimited text with a delimiter other than a tab (comma,
	// semicolon, pipe or one chosen by the caller).
	CSV Format = "csv"
	// TSV is tab-separated text.
	TSV Format = "tsv"
	// TXT holds one value per line and no delimiter.
	TXT Format = "txt"
	// NDJSON holds one JSON object per line.
	NDJSON Format = "ndjson"
	// JSON is one JSON array of objects.
	JSON Format = "json"
)

// Encodings a Layout can name.
const (
	encUTF8    = "utf-8"
	encUTF16LE = "utf-16le"
	encUTF16BE = "utf-16be"
)

// Defaults for the limits in Options.
const (
	// DefaultMaxFieldBytes bounds one value: no email, phone or note a lead
	// needs comes close, while a runaway field is caught early.
	DefaultMaxFieldBytes = 64 << 10
	// DefaultMaxRecordBytes bounds one row as read (all its fields and
	// separators), so a file with a 1 GB line or a quote that is never
	// closed cannot exhaust memory.
	DefaultMaxRecordBytes = 1 << 20
	// DefaultMaxColumns bounds the width of a file (and the union of keys
	// of a JSON file): every row's results repeat the column names, so the
	// width multiplies what a small file can make the server write.
	DefaultMaxColumns = 1000
	// DefaultMaxHeaderBytes bounds the header names together (the keys of
	// a JSON file too), for the same reason: a row's results carry them.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxExpansionRatio bounds decompressed ÷ compressed bytes of a
	// gzip file. Lead exports compress 5 to 20 times; a file of one byte
	// repeated, the usual bomb, about 1,000 times.
	DefaultMaxExpansionRatio = 100
)

// Limit names, in Error.Limit: which bound of Options a file went past,
// so a caller can name the setting behind it.
const (
	LimitRows           = "max_rows"
	LimitColumns        = "max_columns"
	LimitHeaderBytes    = "max_header_bytes"
	LimitCellBytes      = "max_cell_bytes"
	LimitRecordBytes    = "max_record_bytes"
	LimitDecodedBytes   = "max_decompressed_bytes"
	LimitExpansionRatio = "max_expansion_ratio"
)

// Options are the caller's choices; zero values mean "detect" or "default".
type Options struct {
	// EmailColumn, PhoneColumn, CountryColumn, DomainColumn, NameColumn and
	// CompanyColumn pick a column by header name (matched ignoring case,
	// spaces, '_' and '-') or by 1-based index ("3"). Empty: found from
	// the header names, then from the content.
	EmailColumn, PhoneColumn, CountryColumn, DomainColumn, NameColumn, CompanyColumn string
	// HasHeader says whether the first row is a header; nil detects it.
	// JSON and NDJSON files always name their columns, so it is ignored
	// for them.
	HasHeader *bool
	// Delimiter separates fields; 0 sniffs it among ',', ';', '\t' and '|'.
	Delimiter rune
	// MaxRows bounds the data rows; 0 means unlimited. More rows give an
	// *Error with Code "too_many_rows".
	MaxRows int
	// MaxColumns bounds the fields of a row and the keys of a JSON file; 0
	// means DefaultMaxColumns. More gives an *Error with Code
	// "too_many_columns".
	MaxColumns int
	// MaxHeaderBytes bounds the header names together; 0 means
	// DefaultMaxHeaderBytes. More gives an *Error with Code
	// "header_too_long".
	MaxHeaderBytes int
	// MaxFieldBytes bounds one value; 0 means DefaultMaxFieldBytes. A
	// longer value gives an *Error with Code "field_too_long".
	MaxFieldBytes int
	// MaxRecordBytes bounds one row as read; 0 means DefaultMaxRecordBytes
	// or 4 × MaxFieldBytes, whichever is larger. A longer row gives an
	// *Error with Code "record_too_long". It is stored in the Layout so the
	// Reader applies the same bound.
	MaxRecordBytes int
	// MaxDecodedBytes bounds the decompressed, decoded text; 0 means
	// unlimited. The upload size is checked by the caller, but a small
	// gzip file can expand enormously; more gives an *Error with Code
	// "too_large".
	MaxDecodedBytes int64
	// MaxExpansion bounds the decompressed bytes per compressed byte of a
	// gzip input, checked as the text streams (once more than
	// expansionGrace bytes are out); 0 means DefaultMaxExpansionRatio. More
	// gives an *Error with Code "too_large" and Limit LimitExpansionRatio.
	MaxExpansion int
	// Yield, when set, is called after each piece (about 64 KiB) of
	// decoded text Scan reads, so a caller can let other work run: a scan
	// is pure CPU and Go preempts a goroutine only every 10 ms or so.
	Yield func()
}

// Layout is everything needed to read a file again the same way, after a
// restart too: it is JSON-serialisable and stored with the job.
type Layout struct {
	Format    Format `json:"format"`
	Gzip      bool   `json:"gzip"`
	Encoding  string `json:"encoding"`            // "utf-8", "utf-16le" or "utf-16be"
	Delimiter string `json:"delimiter,omitempty"` // csv and tsv only
	// HasHeader is true when the names in Header come from the file (a
	// header row, or the keys of JSON objects).
	HasHeader bool `json:"has_header"`
	// Newline is "cr" when lines end in a bare carriage return (old Mac
	// exports), read as line feeds; "" otherwise.
	Newline string `json:"newline,omitempty"`
	// Header holds the original header names in order; "column_1",
	// "column_2", ... when the file has no header row (as many as the
	// first row has fields); for JSON and NDJSON the union of the keys in
	// first-seen order.
	Header  []string `json:"header"`
	Columns Columns  `json:"columns"`
	// MaxRecordBytes is the row bound Scan applied; the Reader applies the
	// same one. 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int `json:"max_record_bytes,omitempty"`
}

// Columns are 0-based indexes into Record.Fields, -1 when absent.
type Columns struct {
	Email   int `json:"email"`
	Phone   int `json:"phone"`
	Country int `json:"country"`
	Domain  int `json:"domain"`
	Name    int `json:"name"`
	Company int `json:"company"`
}

// Names maps each present role ("email", "phone", "country", "domain",
// "name", "company") to its header name, so a job can show which columns it
// used.
func (c Columns) Names(header []string) map[string]string {
	out := make(map[string]string, 6)
	for _, r := range c.roles() {
		if r.idx >= 0 && r.idx < len(header) {
			out[r.name] = header[r.idx]
		}
	}
	return out
}

type roleIndex struct {
	name string
	idx  int
}

func (c Columns) roles() [6]roleIndex {
	return [6]roleIndex{
		{"email", c.Email}, {"phone", c.Phone}, {"country", c.Country},
		{"domain", c.Domain}, {"name", c.Name}, {"company", c.Company},
	}
}

// Stats count what Scan saw.
type Stats struct {
	// Rows is the number of data rows: the records NewReader will return.
	Rows int `json:"rows"`
	// RaggedRows counts CSV/TSV rows whose field count differs from the
	// header's (or the first row's); they are kept and flagged.
	RaggedRows int `json:"ragged_rows"`
	// BlankRows counts rows whose fields are all empty or spaces; they are
	// skipped. Entirely empty lines of CSV/TSV are not rows at all (CSV
	// rules), while in TXT and NDJSON each empty line counts.
	BlankRows int `json:"blank_rows"`
	// TextBytes is the size of the decoded text (after decompression and
	// UTF-16 decoding): what a job's results are proportional to.
	TextBytes int64 `json:"text_bytes"`
}

// Record is one data row.
type Record struct {
	// Line is the 1-based line where the record starts in the decoded text.
	Line int
	// Index is the 0-based data-row index; blank rows don't count, so it
	// matches the order of results.
	Index int
	// Fields holds the values: len(Layout.Header) of them for JSON and
	// NDJSON, as read for CSV/TSV (ragged rows keep their own length), one
	// for TXT. The slice belongs to the caller: it is not reused.
	Fields []string
	// Ragged is true when a CSV/TSV row's field count differs from the
	// header's.
	Ragged bool
}

// Field returns field i, or "" when i is negative or out of range, so a
// missing column reads as an empty value.
func (r Record) Field(i int) string {
	if i < 0 || i >= len(r.Fields) {
		return ""
	}
	return r.Fields[i]
}

// Error codes, stable for clients.
const (
	CodeEmptyFile      = "empty_file"
	CodeBinaryFile     = "binary_file"
	CodeInvalidEnc     = "invalid_encoding"
	CodeMalformedGzip  = "malformed_gzip"
	CodeMalformedCSV   = "malformed_csv"
	CodeMalformedJSON  = "malformed_json"
	CodeUnknownColumn  = "unknown_column"
	CodeNoLeadColumn   = "no_lead_column"
	CodeTooManyRows    = "too_many_rows"
	CodeTooManyColumns = "too_many_columns"
	CodeHeaderTooLong  = "header_too_long"
	CodeFieldTooLong   = "field_too_long"
	CodeRecordTooLong  = "record_too_long"
	CodeTooLarge       = "too_large"
	CodeInvalidOption  = "invalid_option"
)

// Error is bad input, said so the uploader can fix it; the API answers it
// with a 400. Any other error from this package is an I/O failure of the
// caller's reader (or a bug), not the uploader's fault.
type Error struct {
	// Line is the 1-based line of the decoded text the problem is on; 0
	// when it concerns the whole file or an option.
	Line int
	// Code is machine-readable (the Code* constants).
	Code string
	// Field names the option at fault ("email_column", "delimiter"), if
	// any.
	Field string
	// Limit names the bound of Options the file went past (the Limit*
	// constants); "" for any other problem.
	Limit string
	// Message says what is wrong and what to do, in words safe to show
	// the uploader.
	Message string
}

// Error returns the message, which already carries the line.
func (e *Error) Error() string { return e.Message }

// limitf is errorf for a file past one of the bounds of Options.
func limitf(limit, code string, line int, format string, args ...any) *Error {
	e := errorf(code, line, format, args...)
	e.Limit = limit
	return e
}

func errorf(code string, line int, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	if line > 0 {
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	return &Error{Line: line, Code: code, Message: msg}
}

// listNames renders header names for a message, bounded so a 5000-column
// file does not produce a megabyte of error text.
func listNames(names []string) string {
	const maxNames, maxLen = 30, 40
	var b strings.Builder
	for i, n := range names {
		if i == maxNames {
			fmt.Fprintf(&b, " … (%d more)", len(names)-maxNames)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		n = strings.TrimSpace(strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, n))
		if len(n) > maxLen {
			n = truncateUTF8(n, maxLen) + "…"
		}
		if n == "" {
			n = `""`
		}
		b.WriteString(n)
	}
	return b.String()
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
