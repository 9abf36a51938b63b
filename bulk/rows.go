package bulk

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/enrich"
	"github.com/leadcheck/leadcheck/validate"
)

// resultColumns are appended to every CSV row, after the original columns
// (a row longer than the header keeps its extra cells after these, so the
// leadcheck_* columns always line up).
var resultColumns = []string{
	"leadcheck_verdict",
	"leadcheck_reason",
	"leadcheck_score",
	"leadcheck_email_normalized",
	"leadcheck_email_verdict",
	"leadcheck_email_reason",
	"leadcheck_did_you_mean",
	"leadcheck_phone_e164",
	"leadcheck_phone_type",
	"leadcheck_phone_verdict",
	"leadcheck_phone_reason",
	"leadcheck_domain_verdict",
	"leadcheck_domain_reason",
	"leadcheck_ragged",
}

// enrichColumns follow resultColumns when the job was submitted with
// enrich=true.
var enrichColumns = []string{
	"leadcheck_company_name",
	"leadcheck_company_domain",
	"leadcheck_mail_provider",
	"leadcheck_person_name",
	"leadcheck_phone_carrier",
	"leadcheck_phone_timezone",
}

// Verdict bytes of stored rows.
const (
	idxValid   = 'v'
	idxInvalid = 'i'
	idxRisky   = 'r'
	idxUnknown = 'u'
)

func verdictByte(v validate.Verdict) byte {
	switch v {
	case validate.Valid:
		return idxValid
	case validate.Invalid:
		return idxInvalid
	case validate.Risky:
		return idxRisky
	default:
		return idxUnknown
	}
}

// layoutKeys names the original columns: the header's names (ingest names
// the columns of a headerless file "column_1", "column_2", ...), and
// "column_N" (1-based) for any column without a usable name. Duplicate
// names get a "_2", "_3" suffix so NDJSON keys stay unique.
func layoutKeys(l ingest.Layout, width int) []string {
	keys := make([]string, width)
	seen := map[string]int{}
	for i := range keys {
		name := ""
		if i < len(l.Header) {
			name = strings.TrimSpace(l.Header[i])
		}
		if name == "" {
			name = "column_" + strconv.Itoa(i+1)
		}
		if n := seen[name]; n > 0 {
			seen[name] = n + 1
			name += "_" + strconv.Itoa(n+1)
		} else {
			seen[name] = 1
		}
		keys[i] = name
	}
	return keys
}

// headerWidth is the number of original columns of a job's results: the
// header's, or the first row's when there is no header at all.
func headerWidth(l ingest.Layout, first []string) int {
	if len(l.Header) > 0 {
		return len(l.Header)
	}
	return len(first)
}

// requestOf maps a row to a lead. The country cell is used when it is a
// region code we know; anything else (empty, "United States") falls back
// to the job's default country instead of failing the row.
func requestOf(fields []string, c ingest.Columns, defaultCountry string) validate.Request {
	get := func(i int) string {
		if i >= 0 && i < len(fields) {
			return fields[i]
		}
		return ""
	}
	r := validate.Request{
		Email:   get(c.Email),
		Phone:   get(c.Phone),
		Domain:  get(c.Domain),
		Name:    get(c.Name),
		Company: get(c.Company),
		Country: defaultCountry,
	}
	if cc := strings.TrimSpace(get(c.Country)); cc != "" && validate.KnownRegion(cc) {
		r.Country = cc
	}
	return r
}

// leadReason is the reason behind the lead's verdict: that of the field
// that set it (the one with the lead's verdict and the lowest score; email,
// then phone, then domain on a tie).
func leadReason(res validate.Result) validate.Reason {
	reason, best := validate.ReasonOK, 101
	consider := func(v validate.Verdict, r validate.Reason, score int) {
		if v == res.Verdict && score < best {
			reason, best = r, score
		}
	}
	if e := res.Email; e != nil {
		consider(e.Verdict, e.Reason, e.Score)
	}
	if p := res.Phone; p != nil {
		consider(p.Verdict, p.Reason, p.Score)
	}
	if d := res.Domain; d != nil {
		consider(d.Verdict, d.Reason, d.Score)
	}
	return reason
}

// rowOutcome is what a worker learnt about one row.
type rowOutcome struct {
	number     int // 1-based data row number
	record     ingest.Record
	result     validate.Result
	inputErr   *validate.InputError
	enrichment *enrich.Enrichment
	err        error // a failure of ours, which fails the job
}

func (o *rowOutcome) verdict() validate.Verdict {
	if o.inputErr != nil {
		return validate.Invalid
	}
	return o.result.Verdict
}

// rowEncoder writes rows of one job. It is per worker: the scratch buffers
// are reused between rows.
type rowEncoder struct {
	keys    []string // original column names, len = width
	enrich  bool
	scratch bytes.Buffer
	// enc writes the result and the enrichment of each NDJSON line. It is
	// go-json rather than encoding/json because encoding/json's reflection
	// took 8-9% of server CPU in a 1,000,000-row job; go-json encodes the
	// same values in about a third of the time, with no allocation
	// (BenchmarkAppendNDJSON). It writes the bytes encoding/json writes
	// with HTML escaping off (U+2028, U+2029 and invalid UTF-8 escaped as
	// encoding/json escapes them, map keys sorted), which results files
	// promise; TestNDJSONValueMatchesStdlib and FuzzNDJSONValue hold it to
	// that.
	enc   *gojson.Encoder
	cells [20]string
	row   []byte // the record being built
	// invalid is the result written for rows that could not be judged;
	// kept here so that passing it by pointer costs no allocation.
	invalid validate.Result
}

func newRowEncoder(keys []string, withEnrich bool) *rowEncoder {
	e := &rowEncoder{keys: keys, enrich: withEnrich, invalid: validate.Result{Verdict: validate.Invalid}}
	e.enc = gojson.NewEncoder(&e.scratch)
	// "<", ">" and "&" are written as they are, as appendJSONString writes
	// them in the rest of the line.
	e.enc.SetEscapeHTML(false)
	return e
}

// appendCSVHeader appends the first CSV line: the original column names,
// then the leadcheck_* columns.
func appendCSVHeader(dst []byte, keys []string, withEnrich bool, w cellWriter) []byte {
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, w.delimiter)
		}
		dst = w.appendCell(dst, []byte(k))
	}
	cols := resultColumns
	if withEnrich {
		cols = append(append([]string{}, resultColumns...), enrichColumns...)
	}
	for i, k := range cols {
		if i > 0 || len(keys) > 0 {
			dst = append(dst, w.delimiter)
		}
		dst = w.appendCell(dst, []byte(k))
	}
	return append(dst, '\r', '\n')
}

// appendCSVRow appends a stored row's CSV line: original cells (padded to
// the header width), result cells, then any cells past the header width.
func appendCSVRow(dst []byte, width int, r *storedRow, w cellWriter) []byte {
	for i := range width {
		if i > 0 {
			dst = append(dst, w.delimiter)
		}
		if i < len(r.fields) {
			dst = w.appendCell(dst, r.fields[i])
		}
	}
	for i, c := range r.cells {
		if i > 0 || width > 0 {
			dst = append(dst, w.delimiter)
		}
		dst = w.appendCell(dst, c)
	}
	for i := width; i < len(r.fields); i++ {
		dst = append(dst, w.delimiter)
		dst = w.appendCell(dst, r.fields[i])
	}
	return append(dst, '\r', '\n')
}

// appendNDJSONRow appends a stored row's NDJSON line:
//
//	{"row":N,"line":L,"ragged":false,"record":{...},"result":{...},
//	 "error":{...},"enrichment":{...}}
//
// "record" keeps the original cells under their column names, in order;
// "error" is there only for rows that could not be judged (the result is
// then invalid with score 0).
func appendNDJSONRow(dst []byte, keys []string, r *storedRow) []byte {
	dst = append(dst, `{"row":`...)
	dst = strconv.AppendUint(dst, r.number, 10)
	dst = append(dst, `,"line":`...)
	dst = strconv.AppendUint(dst, r.line, 10)
	dst = append(dst, `,"ragged":`...)
	dst = strconv.AppendBool(dst, r.ragged)
	dst = append(dst, `,"record":{`...)
	for i, f := range r.fields {
		if i > 0 {
			dst = append(dst, ',')
		}
		if i < len(keys) {
			dst = appendJSONString(dst, keys[i])
		} else {
			dst = appendJSONString(dst, "column_"+strconv.Itoa(i+1))
		}
		dst = append(dst, ':')
		dst = appendJSONString(dst, string(f))
	}
	dst = append(dst, `},`...)
	dst = append(dst, r.tail...)
	return append(dst, '}', '\n')
}

// appendRow appends the row's stored record (see stored.go): the original
// cells, the leadcheck_* cells and the NDJSON tail.
func (e *rowEncoder) appendRow(dst []byte, o *rowOutcome) ([]byte, error) {
	b := append(e.row[:0], verdictByte(o.verdict()), 0)
	if o.record.Ragged {
		b[1] = 1
	}
	b = binary.AppendUvarint(b, uint64(o.number))
	b = binary.AppendUvarint(b, uint64(o.record.Line))
	b = binary.AppendUvarint(b, uint64(len(o.record.Fields)))
	for _, f := range o.record.Fields {
		b = appendStoredString(b, f)
	}
	cells := e.resultCells(o)
	b = binary.AppendUvarint(b, uint64(len(cells)))
	for _, c := range cells {
		b = appendStoredString(b, c)
	}
	var err error
	if b, err = e.appendNDJSONTail(b, o); err != nil {
		return dst, err
	}
	e.row = b
	return appendStoredRecord(dst, b), nil
}

func (e *rowEncoder) resultCells(o *rowOutcome) []string {
	c := e.cells[:0]
	ragged := "false"
	if o.record.Ragged {
		ragged = "true"
	}
	if o.inputErr != nil {
		c = append(c, string(validate.Invalid), o.inputErr.Code, "0", "", "", "", "", "", "", "", "", "", "", ragged)
	} else {
		r := &o.result
		c = append(c, string(r.Verdict), string(leadReason(*r)), strconv.Itoa(r.Score))
		if em := r.Email; em != nil {
			c = append(c, em.Normalized, string(em.Verdict), string(em.Reason), em.DidYouMean)
		} else {
			c = append(c, "", "", "", "")
		}
		if p := r.Phone; p != nil {
			c = append(c, p.E164, p.Type, string(p.Verdict), string(p.Reason))
		} else {
			c = append(c, "", "", "", "")
		}
		if d := r.Domain; d != nil {
			c = append(c, string(d.Verdict), string(d.Reason))
		} else {
			c = append(c, "", "")
		}
		c = append(c, ragged)
	}
	if e.enrich {
		var company, companyDomain, provider, person, carrier, tz string
		if en := o.enrichment; en != nil {
			if co := en.Company; co != nil {
				company, companyDomain = co.Name, co.Domain
			}
			if m := en.Mail; m != nil {
				provider = m.Provider
			}
			if p := en.Person; p != nil {
				person = p.FullName
			}
			if p := en.Phone; p != nil {
				carrier, tz = p.Carrier, strings.Join(p.TimeZones, " ")
			}
		}
		c = append(c, company, companyDomain, provider, person, carrier, tz)
	}
	return c
}

// appendNDJSONTail appends the row's NDJSON after its "record" object:
// "result", then "error" and "enrichment" when there are any.
func (e *rowEncoder) appendNDJSONTail(dst []byte, o *rowOutcome) ([]byte, error) {
	dst = append(dst, `"result":`...)
	// By pointer: a Result in an interface would be copied to the heap for
	// every row.
	res := &o.result
	if o.inputErr != nil {
		res = &e.invalid
	}
	var err error
	if dst, err = e.appendValue(dst, res); err != nil {
		return dst, err
	}
	if ie := o.inputErr; ie != nil {
		dst = append(dst, `,"error":{"code":`...)
		dst = appendJSONString(dst, ie.Code)
		dst = append(dst, `,"field":`...)
		dst = appendJSONString(dst, ie.Field)
		dst = append(dst, `,"message":`...)
		dst = appendJSONString(dst, ie.Message)
		dst = append(dst, '}')
	}
	if o.enrichment != nil {
		dst = append(dst, `,"enrichment":`...)
		if dst, err = e.appendValue(dst, o.enrichment); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendValue appends v's JSON, without the newline Encode ends it with;
// on an error dst is returned as it was.
func (e *rowEncoder) appendValue(dst []byte, v any) ([]byte, error) {
	e.scratch.Reset()
	if err := e.enc.Encode(v); err != nil {
		return dst, err
	}
	return append(dst, bytes.TrimSuffix(e.scratch.Bytes(), []byte{'\n'})...), nil
}

// formulaLead reports whether a spreadsheet would run a cell starting with
// this byte as a formula (OWASP "CSV injection").
func formulaLead(c byte) bool {
	return c == '=' || c == '+' || c == '-' || c == '@'
}

// splitsCell reports whether a spreadsheet may split a line on c, in one
// locale or another: a cell holding one may become two cells there.
func splitsCell(c byte) bool { return c == ',' || c == ';' || c == '\t' }

// cellWriter writes CSV cells with one delimiter, spreadsheet-safe or as
// they are.
type cellWriter struct {
	delimiter byte
	// safe neutralises formulas and quotes every cell holding any
	// delimiter (the default download, for spreadsheets); otherwise cells
	// are written unchanged and quoted only where RFC 4180 needs it (for
	// CRM imports and programs).
	safe bool
}

// appendCell appends one cell, quoted as RFC 4180 asks. When w.safe, a
// single quote (the OWASP neutralisation) goes before every place a
// spreadsheet could start a cell with = + - or @: the start of the cell,
// after leading spaces, and after any ',' ';' or tab inside the cell (a
// semicolon-locale Excel splits "x;=cmd" on the ';' unless quoted, and
// LibreOffice may trim the spaces of " =1"); a leading tab or CR gets one
// too; and a cell holding ',' ';' or tab is always quoted, whatever the
// file's delimiter. It applies to our cells too: an E.164 phone comes out
// as '+14155550100, which a spreadsheet shows as text; for imports use the
// unsafe form or the NDJSON, which is never altered.
func (w cellWriter) appendCell(dst, s []byte) []byte {
	quote := len(s) > 0 && s[0] == ' '
	for _, c := range s {
		if c == '"' || c == '\r' || c == '\n' || c == w.delimiter || (w.safe && splitsCell(c)) {
			quote = true
			break
		}
	}
	if quote {
		dst = append(dst, '"')
	}
	start := w.safe // at a place a spreadsheet may start a cell
	for i := 0; i < len(s); i++ {
		c := s[i]
		if start {
			start = false
			j := i
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j < len(s) && (formulaLead(s[j]) || (i == 0 && (s[j] == '\t' || s[j] == '\r'))) {
				dst = append(dst, '\'')
			}
		}
		if c == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, c)
		if w.safe && splitsCell(c) {
			start = true
		}
	}
	if quote {
		dst = append(dst, '"')
	}
	return dst
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does; HTML characters are not escaped.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers
		// reading NDJSON line by line; escape them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
