package ingest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
)

// source yields the raw records of one format. Scan and Reader share it, so
// they see the same records.
type source interface {
	// next returns the next record's fields, valid until the following
	// call, and the line it starts on; io.EOF at the end. A blank line
	// may come back as no fields.
	next() ([]string, int, error)
	// fieldLine is the line field i of the last record starts on.
	fieldLine(i int) int
}

// blankSkipper is a source that passes over empty lines itself, without
// returning them; skippedBlank is how many the last call of next passed
// over (the scan counts them as blank rows).
type blankSkipper interface {
	skippedBlank() int
}

// csvSource reads delimited text with encoding/csv.
type csvSource struct {
	cr *csv.Reader
}

func newCSVSource(text io.Reader, delim rune, maxRecord int, bufs *buffers) *csvSource {
	lim := &recordLimiter{r: text, max: maxRecord, line: 1, start: 1}
	cr := csv.NewReader(bufs.reader(lim))
	cr.Comma = delim
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	return &csvSource{cr: cr}
}

func (s *csvSource) next() ([]string, int, error) {
	rec, err := s.cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, csvError(err)
	}
	line, _ := s.cr.FieldPos(0)
	return rec, line, nil
}

func (s *csvSource) fieldLine(i int) int {
	line, _ := s.cr.FieldPos(i)
	return line
}

// csvError explains a parse error of encoding/csv to the uploader.
func csvError(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return errorf(CodeMalformedCSV, pe.Line,
			`bare " in non-quoted field; quote the whole field and double the quotes inside it (""), or remove the quote`)
	case errors.Is(pe.Err, csv.ErrQuote) && pe.StartLine != pe.Line:
		return errorf(CodeMalformedCSV, pe.Line,
			`extraneous or missing " in a quoted field that starts on line %d; double the quotes inside a quoted field ("") and close it`, pe.StartLine)
	case errors.Is(pe.Err, csv.ErrQuote):
		return errorf(CodeMalformedCSV, pe.Line,
			`extraneous or missing " in quoted field; double the quotes inside a quoted field ("") and close it`)
	default:
		return errorf(CodeMalformedCSV, pe.Line, "%v", pe.Err)
	}
}

// recordLimiter bounds a CSV record as read: the bytes since the last line
// break outside quotes. encoding/csv has no bound of its own, and a quote
// that is never closed would otherwise pull the rest of the file into one
// record. Counting quote parity is exact for valid CSV; where it goes wrong
// (a bare quote), encoding/csv has already reported the error.
type recordLimiter struct {
	r           io.Reader
	max         int
	n           int // bytes of the current record so far
	inQuote     bool
	line, start int // current line, line the current record starts on
	err         error
}

func (l *recordLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	if at := l.scan(p[:n]); at >= 0 {
		l.err = limitf(LimitRecordBytes, CodeRecordTooLong, l.start,
			"the row starting here is longer than %d bytes, the limit; usually a quote opened on it is never closed (a \" inside a field must be doubled: \"\")", l.max)
		if at == 0 {
			return 0, l.err
		}
		return at, nil
	}
	return n, err
}

// scan follows quotes and line breaks through b, a segment at a time (the
// searches are vectorised), and returns the offset where the current record
// goes over the bound, or -1.
func (l *recordLimiter) scan(b []byte) int {
	off := 0
	for off < len(b) {
		rest := b[off:]
		var i int
		if l.inQuote {
			// Inside quotes only a quote changes state; line breaks are
			// part of the field.
			i = bytes.IndexByte(rest, '"')
			seg := rest
			if i >= 0 {
				seg = rest[:i]
			}
			l.line += bytes.Count(seg, []byte{'\n'})
		} else {
			i = bytes.IndexByte(rest, '\n')
			seg := rest
			if i >= 0 {
				seg = rest[:i]
			}
			if q := bytes.IndexByte(seg, '"'); q >= 0 {
				i = q
			}
		}
		if i < 0 {
			i = len(rest)
		}
		if l.n+i > l.max {
			return max(off+l.max-l.n, 0)
		}
		l.n += i
		if i == len(rest) {
			return -1
		}
		switch rest[i] {
		case '"':
			l.inQuote = !l.inQuote
			l.n++
		case '\n': // outside quotes: the record ends
			l.line++
			l.n = 0
			l.start = l.line
		}
		off += i + 1
	}
	return -1
}

// lineReader reads lines of bounded length.
type lineReader struct {
	br    *bufio.Reader
	max   int
	line  int
	acc   []byte
	blank int // empty lines passed over by the last call of next
}

// next returns the next line without its line break, and its number.
// Empty lines before it are passed over and counted in lr.blank.
func (lr *lineReader) next() ([]byte, int, error) {
	if err := lr.skipEmpty(); err != nil {
		return nil, 0, err
	}
	part, err := lr.br.ReadSlice('\n')
	line := part
	if err == bufio.ErrBufferFull {
		lr.acc = append(lr.acc[:0], part...)
		for err == bufio.ErrBufferFull {
			if len(lr.acc) > lr.max {
				return nil, 0, lr.tooLong()
			}
			part, err = lr.br.ReadSlice('\n')
			lr.acc = append(lr.acc, part...)
		}
		line = lr.acc
	}
	if err != nil && err != io.EOF {
		return nil, 0, err
	}
	if err == io.EOF && len(line) == 0 {
		return nil, 0, io.EOF
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) > lr.max {
		return nil, 0, lr.tooLong()
	}
	lr.line++
	return line, lr.line, nil
}

// eightNewlines is eight '\n' bytes read as one word.
const eightNewlines = 0x0a0a0a0a0a0a0a0a

// skipEmpty passes over a run of empty lines ("\n" or "\r\n") a whole
// buffer at a time. Line breaks are the usual filling of a decompression
// bomb, and a call of ReadSlice per empty line costs a hundred times more
// than this byte scan. It returns the read error (io.EOF included) when
// nothing but empty lines is left.
func (lr *lineReader) skipEmpty() error {
	lr.blank = 0
	for {
		if lr.br.Buffered() == 0 {
			if _, err := lr.br.Peek(1); err != nil {
				return err
			}
		}
		buf, _ := lr.br.Peek(lr.br.Buffered())
		n, lines := 0, 0
		for n+8 <= len(buf) && binary.NativeEndian.Uint64(buf[n:]) == eightNewlines {
			n += 8
			lines += 8
		}
		for n < len(buf) {
			if buf[n] == '\n' {
				n++
			} else if buf[n] == '\r' && n+1 < len(buf) && buf[n+1] == '\n' {
				n += 2
			} else {
				break
			}
			lines++
		}
		_, _ = lr.br.Discard(n)
		lr.blank += lines
		lr.line += lines
		if n < len(buf) {
			return nil
		}
	}
}

func (lr *lineReader) tooLong() *Error {
	return limitf(LimitRecordBytes, CodeRecordTooLong, lr.line+1, "the line is longer than %d bytes, the limit; shorten it or split the value", lr.max)
}

// txtSource reads one value per line.
type txtSource struct {
	lr  lineReader
	rec [1]string
}

func newTXTSource(text *bufio.Reader, maxRecord int) *txtSource {
	return &txtSource{lr: lineReader{br: text, max: maxRecord}}
}

func (s *txtSource) next() ([]string, int, error) {
	line, no, err := s.lr.next()
	if err != nil {
		return nil, 0, err
	}
	s.rec[0] = txtValue(line)
	return s.rec[:], no, nil
}

func (s *txtSource) fieldLine(int) int { return s.lr.line }

func (s *txtSource) skippedBlank() int { return s.lr.blank }

// txtValue trims a TXT line and removes one pair of surrounding quotes, so
// a one-column CSV reads the same as plain text.
func txtValue(line []byte) string {
	v := bytes.TrimSpace(line)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		inner := v[1 : len(v)-1]
		if bytes.Contains(inner, []byte(`""`)) {
			return string(bytes.ReplaceAll(inner, []byte(`""`), []byte(`"`)))
		}
		return string(inner)
	}
	return string(v)
}

// objectReader turns JSON objects into fields, one per known key. In Scan it
// learns the keys as it goes (grow); in a Reader they are fixed by the
// Layout.
type objectReader struct {
	index  map[string]int
	header []string
	grow   bool
	// maxKeys and maxKeyBytes bound what grow may learn.
	maxKeys, maxKeyBytes int
	keyBytes             int
	fields               []string
	raw                  json.RawMessage
	buf                  bytes.Buffer
}

func newObjectReader(header []string, grow bool) *objectReader {
	o := &objectReader{index: make(map[string]int, len(header)), grow: grow}
	for i, h := range header {
		o.index[h] = i
	}
	o.header = append(o.header, header...)
	return o
}

// tooManyKeys and keysTooLong mark a JSON file past MaxColumns or
// MaxHeaderBytes; jsonError says so with the line.
type tooManyKeys struct{ max int }

func (e tooManyKeys) Error() string { return "too many keys" }

type keysTooLong struct{ max int }

func (e keysTooLong) Error() string { return "keys too long" }

// read reads the members of an object whose '{' the decoder has returned,
// through its '}'.
func (o *objectReader) read(dec *json.Decoder) ([]string, error) {
	o.fields = slices.Grow(o.fields[:0], len(o.header))[:len(o.header)]
	clear(o.fields)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key %v is not a string", tok)
		}
		if err := dec.Decode(&o.raw); err != nil {
			return nil, err
		}
		i, ok := o.index[key]
		if !ok {
			if !o.grow {
				return nil, fmt.Errorf("key %q is not in the layout; the file changed after it was scanned", key)
			}
			if len(o.header) >= o.maxKeys {
				return nil, tooManyKeys{o.maxKeys}
			}
			if o.keyBytes+len(key) > o.maxKeyBytes {
				return nil, keysTooLong{o.maxKeyBytes}
			}
			o.keyBytes += len(key)
			i = len(o.header)
			o.index[key] = i
			o.header = append(o.header, key)
			o.fields = append(o.fields, "")
		}
		o.fields[i] = o.value(bytes.TrimSpace(o.raw))
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return o.fields, nil
}

// value renders a JSON value as a field: strings as they are, numbers and
// booleans as their JSON text, null as "", objects and arrays as compact
// JSON.
func (o *objectReader) value(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1])
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return string(raw)
		}
		return s
	case 'n':
		return ""
	case '{', '[':
		o.buf.Reset()
		if err := json.Compact(&o.buf, raw); err != nil {
			return string(raw)
		}
		return o.buf.String()
	default:
		return string(raw)
	}
}

// jsonError explains a JSON decoding error at line.
func jsonError(err error, line int) error {
	var se *json.SyntaxError
	var many tooManyKeys
	var long keysTooLong
	switch {
	case errors.As(err, new(*Error)):
		return err
	case errors.As(err, &many):
		return limitf(LimitColumns, CodeTooManyColumns, line, "the objects have more than %d different keys; the limit is %d columns", many.max, many.max)
	case errors.As(err, &long):
		return limitf(LimitHeaderBytes, CodeHeaderTooLong, line, "the keys of the objects hold more than %d bytes together; the limit is %d bytes of column names", long.max, long.max)
	case errors.As(err, &se):
		return errorf(CodeMalformedJSON, line, "invalid JSON: %v", se)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errorf(CodeMalformedJSON, line, "the JSON ends in the middle of a value; the file may be cut short")
	default:
		return err
	}
}

// ndjsonSource reads one JSON object per line.
type ndjsonSource struct {
	lr  lineReader
	obj *objectReader
	br  bytes.Reader
}

func newNDJSONSource(text *bufio.Reader, maxRecord int, obj *objectReader) *ndjsonSource {
	return &ndjsonSource{lr: lineReader{br: text, max: maxRecord}, obj: obj}
}

func (s *ndjsonSource) next() ([]string, int, error) {
	line, no, err := s.lr.next()
	if err != nil {
		return nil, 0, err
	}
	t := bytes.TrimSpace(line)
	if len(t) == 0 {
		return nil, no, nil
	}
	if t[0] != '{' {
		return nil, 0, errorf(CodeMalformedJSON, no, "expected a JSON object ({...}) on each line of an NDJSON file, found %s", describeJSON(t))
	}
	s.br.Reset(t)
	dec := json.NewDecoder(&s.br)
	if _, err := dec.Token(); err != nil {
		return nil, 0, ndjsonError(err, no)
	}
	fields, err := s.obj.read(dec)
	if err != nil {
		return nil, 0, ndjsonError(err, no)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, errorf(CodeMalformedJSON, no, "unexpected text after the JSON object; NDJSON holds exactly one object per line")
	}
	return fields, no, nil
}

func (s *ndjsonSource) fieldLine(int) int { return s.lr.line }

func (s *ndjsonSource) skippedBlank() int { return s.lr.blank }

func ndjsonError(err error, line int) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errorf(CodeMalformedJSON, line, "the JSON object does not end on this line; NDJSON needs one whole object per line (upload a pretty-printed file as a JSON array)")
	}
	return jsonError(err, line)
}

// describeJSON names the kind of JSON value t starts with, for messages.
func describeJSON(t []byte) string {
	if len(t) == 0 {
		return "nothing"
	}
	switch t[0] {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	}
	if t[0] == '-' || (t[0] >= '0' && t[0] <= '9') {
		return "a number"
	}
	return "text that is not JSON"
}

// jsonSource streams the objects of a JSON array.
type jsonSource struct {
	tr    *lineTracker
	dec   *json.Decoder
	obj   *objectReader
	state int // 0 before '[', 1 inside the array, 2 done
}

func newJSONSource(text io.Reader, maxRecord int, obj *objectReader) *jsonSource {
	tr := &lineTracker{r: text, line: 1, max: int64(maxRecord)}
	return &jsonSource{tr: tr, dec: json.NewDecoder(tr), obj: obj}
}

func (s *jsonSource) next() ([]string, int, error) {
	if s.state == 2 {
		return nil, 0, io.EOF
	}
	if s.state == 0 {
		tok, err := s.dec.Token()
		if err != nil {
			return nil, 0, s.fail(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '[' {
			return nil, 0, errorf(CodeMalformedJSON, 1, "expected a JSON array of objects")
		}
		s.state = 1
	}
	if !s.dec.More() {
		if _, err := s.dec.Token(); err != nil {
			return nil, 0, s.fail(err)
		}
		if _, err := s.dec.Token(); err != io.EOF {
			if err != nil {
				return nil, 0, s.fail(err)
			}
			return nil, 0, errorf(CodeMalformedJSON, s.tr.lineAt(s.dec.InputOffset()-1), "more JSON after the closing ] of the array; a file holds one array")
		}
		s.state = 2
		return nil, 0, io.EOF
	}
	s.tr.mark(s.dec.InputOffset(), s.tr.line)
	tok, err := s.dec.Token()
	if err != nil {
		return nil, 0, s.fail(err)
	}
	line := s.tr.lineAt(s.dec.InputOffset() - 1)
	s.tr.start = line
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, 0, errorf(CodeMalformedJSON, line, "expected a JSON object ({...}) for each record, found %s", describeToken(tok))
	}
	fields, err := s.obj.read(s.dec)
	if err != nil {
		return nil, 0, s.fail(err)
	}
	return fields, line, nil
}

func (s *jsonSource) fieldLine(int) int { return s.tr.start }

func (s *jsonSource) fail(err error) error {
	s.state = 2
	var se *json.SyntaxError
	line := s.tr.start
	if errors.As(err, &se) {
		line = s.tr.lineAt(max(se.Offset-1, 0))
	} else if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		line = s.tr.lineAt(s.dec.InputOffset())
	}
	return jsonError(err, max(line, 1))
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return string(v)
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "something else"
}

// trackChunk bounds one read of the JSON decoder, so the bytes read past
// the current record stay small.
const trackChunk = 32 << 10

// lineTracker sits under the JSON decoder. It keeps the bytes the decoder
// has read but whose lines are not counted yet, so a decoder offset can be
// turned into a line, and it bounds the bytes of one record.
type lineTracker struct {
	r       io.Reader
	pending []byte
	base    int64 // offset of pending[0]
	line    int   // line at base
	total   int64 // bytes read so far
	from    int64 // offset where the current record starts
	start   int   // line the current record starts on
	max     int64
	err     error
}

func (t *lineTracker) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if len(p) > trackChunk {
		p = p[:trackChunk]
	}
	n, err := t.r.Read(p)
	t.pending = append(t.pending, p[:n]...)
	t.total += int64(n)
	if t.total-t.from > t.max+trackChunk {
		t.err = limitf(LimitRecordBytes, CodeRecordTooLong, t.start, "the JSON value starting here is longer than %d bytes, the limit; shorten its values", t.max)
		return n, t.err
	}
	return n, err
}

// mark starts a record at offset from.
func (t *lineTracker) mark(from int64, line int) {
	t.from = from
	t.start = line
}

// lineAt returns the line of the byte at offset off; offsets must not go
// backwards.
func (t *lineTracker) lineAt(off int64) int {
	k := off - t.base
	if k <= 0 {
		return t.line
	}
	if k > int64(len(t.pending)) {
		k = int64(len(t.pending))
	}
	t.line += bytes.Count(t.pending[:k], []byte{'\n'})
	t.pending = t.pending[k:]
	t.base += k
	return t.line
}
