package ingest

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// sampleRows is how many data rows column detection looks at.
const sampleRows = 50

// sniffRows is how many records delimiter sniffing looks at.
const sniffRows = 20

// Scan reads the whole input once: it detects compression, encoding,
// format, delimiter, header and columns, checks every row and counts the
// rows. It never holds the file in memory: only a 64 KiB window, the
// header and the first rows used for detection. Bad input gives an *Error.
//
// Scan takes no context; to stop it early, make r fail (for example a
// reader that checks a context).
func Scan(r io.Reader, opts Options) (Layout, Stats, error) {
	o, err := opts.normalize()
	if err != nil {
		return Layout{}, Stats{}, err
	}
	var bufs buffers
	defer bufs.release()
	in, err := openDetect(r, o.MaxDecodedBytes, o.MaxExpansion, o.Yield, &bufs)
	if err != nil {
		return Layout{}, Stats{}, err
	}
	sample, err := in.text.Peek(bufSize)
	if err != nil && err != io.EOF {
		return Layout{}, Stats{}, readErr(err)
	}
	atEOF := err == io.EOF
	if atEOF && len(bytes.TrimSpace(sample)) == 0 {
		return Layout{}, Stats{}, &Error{Code: CodeEmptyFile, Message: "the file is empty; upload a file with a header row and at least one lead"}
	}
	s := &scanner{
		o:     o,
		width: -1,
		l: Layout{
			Gzip:           in.gzip,
			Encoding:       in.encoding,
			MaxRecordBytes: o.MaxRecordBytes,
		},
	}
	text := in.text
	f := sniffFormat(sample)
	if f == "" && bytes.IndexByte(sample, '\n') < 0 && bytes.IndexByte(sample, '\r') >= 0 {
		// Lines end in a bare CR (old Mac exports), which encoding/csv
		// does not take for a line break.
		s.l.Newline = newlineCR
		text = bufs.reader(crToLF{text})
		if sample, err = text.Peek(bufSize); err != nil && err != io.EOF {
			return Layout{}, Stats{}, readErr(err)
		}
	}
	switch f {
	case JSON, NDJSON:
		s.l.Format = f
		s.l.HasHeader = true
		s.obj = newObjectReader(nil, true)
		s.obj.maxKeys, s.obj.maxKeyBytes = o.MaxColumns, o.MaxHeaderBytes
		if f == JSON {
			s.src = newJSONSource(text, o.MaxRecordBytes, s.obj)
		} else {
			s.src = newNDJSONSource(text, o.MaxRecordBytes, s.obj)
		}
	default:
		delim := o.Delimiter
		if delim == 0 {
			delim = sniffDelimiter(sample, atEOF)
		}
		if delim == 0 {
			s.l.Format = TXT
			s.src = newTXTSource(text, o.MaxRecordBytes)
			break
		}
		s.l.Format = CSV
		if delim == '\t' {
			s.l.Format = TSV
		}
		s.l.Delimiter = string(delim)
		s.src = newCSVSource(text, delim, o.MaxRecordBytes, &bufs)
	}
	if err := s.run(); err != nil {
		return Layout{}, Stats{}, err
	}
	s.st.TextBytes = in.counted.read
	return s.l, s.st, nil
}

// normalize fills in defaults and checks the options.
func (o Options) normalize() (Options, error) {
	if o.Delimiter != 0 && !validDelimiter(o.Delimiter) {
		return o, &Error{Code: CodeInvalidOption, Field: "delimiter", Message: fmt.Sprintf(
			"the delimiter %q cannot be used; use \",\", \";\", \"|\" or a tab", o.Delimiter)}
	}
	if o.MaxFieldBytes <= 0 {
		o.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if o.MaxColumns <= 0 {
		o.MaxColumns = DefaultMaxColumns
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = max(DefaultMaxRecordBytes, 4*o.MaxFieldBytes)
	}
	if o.MaxExpansion <= 0 {
		o.MaxExpansion = DefaultMaxExpansionRatio
	}
	if o.MaxRows < 0 {
		o.MaxRows = 0
	}
	return o, nil
}

// validDelimiter mirrors what encoding/csv accepts.
func validDelimiter(r rune) bool {
	return r != 0 && r != '"' && r != '\r' && r != '\n' && utf8.ValidRune(r) && r != utf8.RuneError
}

// sniffFormat tells JSON ('[' then '{' or ']') and NDJSON ('{' then '"' or
// '}') from delimited text by the first bytes; "" means delimited text.
func sniffFormat(sample []byte) Format {
	const ws = " \t\r\n"
	t := bytes.TrimLeft(sample, ws)
	if len(t) == 0 {
		return ""
	}
	rest := bytes.TrimLeft(t[1:], ws)
	switch t[0] {
	case '[':
		if len(rest) == 0 || rest[0] == '{' || rest[0] == ']' {
			return JSON
		}
	case '{':
		if len(rest) == 0 || rest[0] == '"' || rest[0] == '}' {
			return NDJSON
		}
	}
	return ""
}

// sniffDelimiter picks the delimiter among ',', ';', '\t' and '|' that
// splits the first records into the most consistent number of fields (more
// than one); ties go to more fields, then to the order above. It returns 0
// when none splits them: one value per line.
func sniffDelimiter(sample []byte, atEOF bool) rune {
	truncated := !atEOF
	if truncated {
		if i := bytes.LastIndexByte(sample, '\n'); i >= 0 {
			sample = sample[:i+1]
		}
	}
	var best rune
	var bestHits, bestN, bestMode int
	for _, c := range []rune{',', ';', '\t', '|'} {
		counts := sniffCounts(sample, c, truncated)
		mode, hits := modeOf(counts)
		if mode < 2 {
			continue
		}
		n := len(counts)
		// Compare hits/n with bestHits/bestN without division.
		better := best == 0 || hits*bestN > bestHits*n || (hits*bestN == bestHits*n && mode > bestMode)
		if better {
			best, bestHits, bestN, bestMode = c, hits, n, mode
		}
	}
	return best
}

func sniffCounts(sample []byte, c rune, truncated bool) []int {
	cr := csv.NewReader(&noEmptyLines{b: sample})
	cr.Comma = c
	cr.LazyQuotes = true
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var counts []int
	for len(counts) <= sniffRows {
		rec, err := cr.Read()
		if err == io.EOF {
			// The last record of a cut sample may be cut too.
			if truncated && len(counts) > 1 {
				counts = counts[:len(counts)-1]
			}
			break
		}
		if err != nil {
			break
		}
		if len(rec) == 1 && isBlank(rec) {
			// A line of spaces says nothing about the delimiter; a blank
			// row such as ",," does.
			continue
		}
		counts = append(counts, len(rec))
	}
	if len(counts) > sniffRows {
		counts = counts[:sniffRows]
	}
	return counts
}

// noEmptyLines reads b without its empty lines, which encoding/csv skips
// one call at a time: a sample of nothing but line breaks (a bomb's) is
// then passed over at the cost of a byte scan, once per candidate
// delimiter. The field counts the sniffer sees are the same.
type noEmptyLines struct {
	b    []byte
	last byte // the last byte handed out
}

func (r *noEmptyLines) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) && len(r.b) > 0 {
		if r.last == '\n' || r.last == 0 {
			k := 0
			for k < len(r.b) && (r.b[k] == '\n' || r.b[k] == '\r' && k+1 < len(r.b) && r.b[k+1] == '\n') {
				k++
			}
			r.b = r.b[k:]
			if len(r.b) == 0 {
				break
			}
		}
		i := bytes.IndexByte(r.b, '\n') + 1
		if i == 0 {
			i = len(r.b)
		}
		m := copy(p[n:], r.b[:i])
		n += m
		r.last = r.b[m-1]
		r.b = r.b[m:]
	}
	if n == 0 && len(r.b) == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// modeOf returns the most frequent count and how often it occurs (the
// larger count on ties).
func modeOf(counts []int) (mode, hits int) {
	seen := map[int]int{}
	for _, c := range counts {
		seen[c]++
		if seen[c] > hits || (seen[c] == hits && c > mode) {
			mode, hits = c, seen[c]
		}
	}
	return mode, hits
}

// isBlank reports a record with no value: all fields empty or spaces.
func isBlank(fields []string) bool {
	for _, f := range fields {
		if f != "" && strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// sampled is a copy of an early record, kept for detection.
type sampled struct {
	fields []string
	line   int
}

// scanner is the state of one Scan.
type scanner struct {
	o       Options
	l       Layout
	st      Stats
	src     source
	obj     *objectReader // JSON and NDJSON
	width   int           // fields of the first record; -1 before it
	records int           // non-blank records, header included
	sample  []sampled     // first records, header included
	decided bool          // header and columns are known
}

func (s *scanner) delimited() bool { return s.l.Format == CSV || s.l.Format == TSV }

func (s *scanner) run() error {
	skipper, _ := s.src.(blankSkipper)
	for {
		fields, line, err := s.src.next()
		if skipper != nil {
			s.st.BlankRows += skipper.skippedBlank()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return readErr(err)
		}
		if isBlank(fields) {
			s.st.BlankRows++
			continue
		}
		if err := s.check(fields, line); err != nil {
			return err
		}
		s.records++
		if s.width < 0 {
			s.width = len(fields)
		} else if s.delimited() && len(fields) != s.width {
			s.st.RaggedRows++
		}
		if s.obj != nil {
			// JSON: every object is a row; columns are settled at the end,
			// when all keys are known.
			if len(s.sample) < sampleRows {
				s.sample = append(s.sample, sampled{fields: slices.Clone(fields), line: line})
			}
			if s.o.MaxRows > 0 && s.records > s.o.MaxRows {
				return s.tooManyRows(line)
			}
			continue
		}
		if !s.decided {
			s.sample = append(s.sample, sampled{fields: slices.Clone(fields), line: line})
			if len(s.sample) > sampleRows {
				if err := s.decide(false); err != nil {
					return err
				}
			}
			continue
		}
		s.st.Rows++
		if s.o.MaxRows > 0 && s.st.Rows > s.o.MaxRows {
			return s.tooManyRows(line)
		}
	}
	if s.obj != nil {
		return s.finishJSON()
	}
	if !s.decided {
		return s.decide(true)
	}
	return nil
}

// check applies the per-row rules: width, value length, UTF-8.
func (s *scanner) check(fields []string, line int) error {
	if len(fields) > s.o.MaxColumns {
		return limitf(LimitColumns, CodeTooManyColumns, line, "the row has %d fields; the limit is %d columns", len(fields), s.o.MaxColumns)
	}
	for i, f := range fields {
		if len(f) > s.o.MaxFieldBytes {
			return limitf(LimitCellBytes, CodeFieldTooLong, s.src.fieldLine(i),
				"the value in column %d is %d bytes long; the limit is %d bytes", i+1, len(f), s.o.MaxFieldBytes)
		}
		if !utf8.ValidString(f) {
			return errorf(CodeInvalidEnc, s.src.fieldLine(i),
				"the text is not valid UTF-8 (it may be Windows-1252 or Latin-1); save the file as UTF-8 (in Excel: Save As → CSV UTF-8) and upload it again")
		}
	}
	return nil
}

func (s *scanner) tooManyRows(line int) *Error {
	return limitf(LimitRows, CodeTooManyRows, line, "the file has more than %d rows, the limit; split it into smaller files", s.o.MaxRows)
}

// decide settles the header and the columns of delimited text and TXT from
// the sample; atEOF says the sample is the whole file.
func (s *scanner) decide(atEOF bool) error {
	s.decided = true
	if len(s.sample) == 0 {
		return &Error{Code: CodeEmptyFile, Message: "the file has no rows with values; upload a file with a header row and at least one lead"}
	}
	first := s.sample[0].fields
	var second []string
	if len(s.sample) > 1 {
		second = s.sample[1].fields
	}
	if s.o.HasHeader != nil {
		s.l.HasHeader = *s.o.HasHeader
	} else {
		s.l.HasHeader = looksLikeHeader(first, second, s.o)
	}
	data := s.sample
	if s.l.HasHeader {
		if n := headerBytes(first); n > s.o.MaxHeaderBytes {
			return limitf(LimitHeaderBytes, CodeHeaderTooLong, s.sample[0].line,
				"the header row holds %d bytes of column names; the limit is %d bytes", n, s.o.MaxHeaderBytes)
		}
		s.l.Header = first
		data = s.sample[1:]
	} else {
		s.l.Header = syntheticHeader(len(first))
	}
	if len(data) == 0 && atEOF {
		return &Error{Code: CodeEmptyFile, Message: fmt.Sprintf(
			"the file has a header row (%s) but no data rows", listNames(first))}
	}
	s.st.Rows = len(data)
	if s.o.MaxRows > 0 && s.st.Rows > s.o.MaxRows {
		return s.tooManyRows(data[s.o.MaxRows].line)
	}
	cols, err := resolveColumns(s.l.Header, s.l.HasHeader, first, rowsOf(data, len(s.l.Header)), s.o)
	if err != nil {
		return err
	}
	s.l.Columns = cols
	s.sample = nil
	return nil
}

// finishJSON settles the header (the keys seen) and the columns of a JSON
// or NDJSON file.
func (s *scanner) finishJSON() error {
	s.st.Rows = s.records
	if s.st.Rows == 0 {
		return &Error{Code: CodeEmptyFile, Message: "the file has no objects with values; upload at least one lead"}
	}
	s.l.Header = s.obj.header
	cols, err := resolveColumns(s.l.Header, true, s.l.Header, rowsOf(s.sample, len(s.l.Header)), s.o)
	if err != nil {
		return err
	}
	s.l.Columns = cols
	return nil
}

// rowsOf returns the sampled rows as fields, padded to width (early JSON
// rows are shorter than the final header).
func rowsOf(rows []sampled, width int) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		f := r.fields
		if len(f) < width {
			f = append(f, make([]string, width-len(f))...)
		}
		out[i] = f
	}
	return out
}

// headerBytes is the size of the column names together.
func headerBytes(names []string) int {
	n := 0
	for _, h := range names {
		n += len(h)
	}
	return n
}

func syntheticHeader(n int) []string {
	h := make([]string, n)
	for i := range h {
		h[i] = "column_" + strconv.Itoa(i+1)
	}
	return h
}

// newSource builds the source of a Layout, for the Reader.
func newSource(text *bufio.Reader, l Layout) (source, error) {
	maxRecord := l.MaxRecordBytes
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecordBytes
	}
	switch l.Format {
	case CSV, TSV:
		d, size := utf8.DecodeRuneInString(l.Delimiter)
		if size != len(l.Delimiter) || !validDelimiter(d) {
			return nil, fmt.Errorf("layout: bad delimiter %q", l.Delimiter)
		}
		return newCSVSource(text, d, maxRecord, nil), nil
	case TXT:
		return newTXTSource(text, maxRecord), nil
	case NDJSON:
		return newNDJSONSource(text, maxRecord, newObjectReader(l.Header, false)), nil
	case JSON:
		return newJSONSource(text, maxRecord, newObjectReader(l.Header, false)), nil
	}
	return nil, fmt.Errorf("layout: unknown format %q", l.Format)
}
