package ingest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/transform"
)

// bufSize is the size of each read buffer; it also bounds the sample the
// format and delimiter are sniffed from.
const bufSize = 64 << 10

// binarySample is how much of the start of a file is checked for signs of a
// binary file.
const binarySample = 1024

// opened is an input turned into a stream of UTF-8 text.
type opened struct {
	text     *bufio.Reader
	counted  *decodedLimit // counts the decoded text
	gzip     bool
	encoding string
}

// openDetect finds the compression and the encoding of r, refuses binary
// files and returns the decoded text.
func openDetect(r io.Reader, maxDecoded int64, maxExpansion int, yield func(), bufs *buffers) (*opened, error) {
	tap := &tapReader{r: r}
	rb := bufs.reader(tap)
	head, err := rb.Peek(2)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("read input: %w", err)
	}
	o := &opened{gzip: isGzip(head)}
	var body io.Reader = rb
	if o.gzip {
		gz, err := newGzip(rb, tap, bufs)
		if err != nil {
			return nil, err
		}
		gz.maxRatio = int64(maxExpansion)
		// The flate decoder reads rb a byte at a time (it is an
		// io.ByteReader), so what rb has read but not handed out is not
		// yet decompressed: the ratio uses what was consumed.
		gz.consumed = func() int64 { return tap.n - int64(rb.Buffered()) }
		body = gz
	}
	bb := bufs.reader(body)
	head, err = bb.Peek(binarySample)
	if err != nil && err != io.EOF {
		return nil, readErr(err)
	}
	if kind := binaryKind(head); kind != "" {
		return nil, binaryError(kind)
	}
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE, 0, 0}), bytes.HasPrefix(head, []byte{0, 0, 0xFE, 0xFF}):
		return nil, &Error{Code: CodeInvalidEnc, Message: "the file is in UTF-32, which is not supported; save it as UTF-8 (in Excel: Save As → CSV UTF-8)"}
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		o.encoding = encUTF16LE
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		o.encoding = encUTF16BE
	default:
		o.encoding = sniffUTF16(head)
	}
	text, err := decodeText(bb, o.encoding)
	if err != nil {
		return nil, err
	}
	if maxDecoded <= 0 {
		maxDecoded = 1<<63 - 1
	}
	o.counted = &decodedLimit{r: text, left: maxDecoded, max: maxDecoded, yield: yield}
	o.text = bufs.reader(o.counted)
	sample, err := o.text.Peek(binarySample)
	if err != nil && err != io.EOF {
		return nil, readErr(err)
	}
	if bytes.IndexByte(sample, 0) >= 0 {
		return nil, binaryError("")
	}
	return o, nil
}

// openLayout opens r the way Scan found it should be read.
func openLayout(r io.Reader, l Layout) (*bufio.Reader, error) {
	tap := &tapReader{r: r}
	rb := bufio.NewReaderSize(tap, bufSize)
	var body io.Reader = rb
	if l.Gzip {
		gz, err := newGzip(rb, tap, nil)
		if err != nil {
			return nil, err
		}
		body = gz
	}
	bb := bufio.NewReaderSize(body, bufSize)
	text, err := decodeText(bb, l.Encoding)
	if err != nil {
		return nil, err
	}
	switch l.Newline {
	case "":
	case newlineCR:
		text = crToLF{text}
	default:
		return nil, fmt.Errorf("layout: unknown newline %q", l.Newline)
	}
	return bufio.NewReaderSize(text, bufSize), nil
}

// decodeText strips a UTF-8 byte order mark, or decodes UTF-16 (a byte
// order mark, when present, wins over enc and is dropped).
func decodeText(bb *bufio.Reader, enc string) (io.Reader, error) {
	switch enc {
	case encUTF8:
		bom, err := bb.Peek(3)
		if err != nil && err != io.EOF {
			return nil, readErr(err)
		}
		if bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
			if _, err := bb.Discard(3); err != nil {
				return nil, readErr(err)
			}
		}
		return bb, nil
	case encUTF16LE:
		return transform.NewReader(bb, &strictUTF16{big: false, line: 1}), nil
	case encUTF16BE:
		return transform.NewReader(bb, &strictUTF16{big: true, line: 1}), nil
	default:
		return nil, fmt.Errorf("layout: unknown encoding %q", enc)
	}
}

func isGzip(head []byte) bool {
	return len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b
}

// sniffUTF16 recognises UTF-16 text without a byte order mark: Latin-script
// text has a zero byte in (nearly) every other position and no zero pairs.
// It returns encUTF8 otherwise.
func sniffUTF16(head []byte) string {
	pairs := len(head) / 2
	if pairs < 2 {
		return encUTF8
	}
	var le, be int
	for i := 0; i+1 < len(head); i += 2 {
		a, b := head[i], head[i+1]
		switch {
		case a == 0 && b == 0:
			return encUTF8
		case b == 0:
			le++
		case a == 0:
			be++
		}
	}
	switch {
	case le*10 >= pairs*9:
		return encUTF16LE
	case be*10 >= pairs*9:
		return encUTF16BE
	}
	return encUTF8
}

// signatures of common binary files people upload by mistake.
var signatures = []struct {
	prefix string
	kind   string
}{
	{"PK\x03\x04", "a zip archive, such as an Excel .xlsx"},
	{"PK\x05\x06", "an empty zip archive"},
	{"PK\x07\x08", "a zip archive"},
	{"%PDF-", "a PDF document"},
	{"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "an old Excel .xls or other Office file"},
	{"\x89PNG", "a PNG image"},
	{"\xFF\xD8\xFF", "a JPEG image"},
	{"GIF87a", "a GIF image"},
	{"GIF89a", "a GIF image"},
	{"\x1f\x8b", "a file compressed twice with gzip"},
	{"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"},
	{"Rar!\x1A\x07", "a RAR archive"},
	{"\xFD7zXZ\x00", "an xz archive"},
	{"\x28\xB5\x2F\xFD", "a zstd archive"},
	{"BZh", "a bzip2 archive"},
	{"{\\rtf", "an RTF document"},
}

// binaryKind names the kind of binary file head starts, or "" when it looks
// like text as far as signatures go.
func binaryKind(head []byte) string {
	for _, s := range signatures {
		if bytes.HasPrefix(head, []byte(s.prefix)) {
			if s.prefix == "BZh" && (len(head) < 10 || string(head[4:10]) != "1AY&SY") {
				continue
			}
			return s.kind
		}
	}
	return ""
}

func binaryError(kind string) *Error {
	if kind == "" {
		kind = "zip, spreadsheet or image?"
	}
	return &Error{Code: CodeBinaryFile, Message: fmt.Sprintf(
		"the file looks like a binary file (%s); upload CSV, TSV, TXT, NDJSON or JSON, optionally gzipped (in Excel: Save As → CSV UTF-8)", kind)}
}

// readErr keeps an *Error as is and wraps anything else as an I/O failure.
func readErr(err error) error {
	var ie *Error
	if errors.As(err, &ie) {
		return ie
	}
	return fmt.Errorf("read input: %w", err)
}

// tapReader remembers the last error of the caller's reader, so a failure of
// the gzip format can be told from a failure to read the upload.
type tapReader struct {
	r   io.Reader
	err error
	n   int64 // bytes read: the compressed size so far
}

func (t *tapReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// expansionGrace is how much text a gzip stream may produce before its
// expansion ratio is checked: the ratio of the first bytes (a header row
// that compresses well) says little.
const expansionGrace = 1 << 20

// gzipReader turns gzip format errors into an *Error for the uploader and,
// when maxRatio is set, refuses a stream whose text grows past maxRatio
// bytes per compressed byte read so far: a bomb stops after a few
// megabytes of work instead of gigabytes.
type gzipReader struct {
	gz       *gzip.Reader
	tap      *tapReader
	maxRatio int64
	consumed func() int64 // compressed bytes decompressed so far
	out      int64
}

func newGzip(r io.Reader, tap *tapReader, bufs *buffers) (*gzipReader, error) {
	gz, err := bufs.gzip(r)
	if err != nil {
		return nil, gzipErr(err, tap)
	}
	return &gzipReader{gz: gz, tap: tap}, nil
}

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.gz.Read(p)
	if err != nil && err != io.EOF {
		return n, gzipErr(err, g.tap)
	}
	g.out += int64(n)
	if g.maxRatio > 0 && g.out > expansionGrace {
		if in := g.consumed(); g.out > g.maxRatio*in {
			return 0, &Error{Code: CodeTooLarge, Limit: LimitExpansionRatio, Message: fmt.Sprintf(
				"the gzip data expands more than %d times (%d bytes from %d so far), the limit; upload the file uncompressed or split it", g.maxRatio, g.out, in)}
		}
	}
	return n, err
}

func gzipErr(err error, tap *tapReader) error {
	if err == io.EOF {
		// A gzip stream that ends before its header is complete.
		err = io.ErrUnexpectedEOF
	}
	if tap.err != nil && errors.Is(err, tap.err) {
		return fmt.Errorf("read input: %w", err)
	}
	return &Error{Code: CodeMalformedGzip, Message: "the gzip data is corrupt or truncated; compress the file again or upload it uncompressed"}
}

// decodedLimit bounds the decoded text, against small gzip files that
// expand enormously.
type decodedLimit struct {
	r         io.Reader
	left, max int64
	read      int64
	yield     func() // called after each read, when set
}

func (d *decodedLimit) Read(p []byte) (int, error) {
	if d.left <= 0 {
		return 0, d.tooLarge()
	}
	if int64(len(p)) > d.left {
		p = p[:d.left]
	}
	n, err := d.r.Read(p)
	d.left -= int64(n)
	d.read += int64(n)
	if d.yield != nil {
		d.yield()
	}
	if err == io.EOF {
		return n, err
	}
	if err == nil && d.left <= 0 {
		// Exactly at the limit: only an error if more text follows.
		var one [1]byte
		m, err2 := io.ReadFull(d.r, one[:])
		if m == 0 && (err2 == io.EOF || err2 == io.ErrUnexpectedEOF) {
			return n, io.EOF
		}
		if m == 0 {
			return n, err2
		}
		return n, d.tooLarge()
	}
	return n, err
}

func (d *decodedLimit) tooLarge() *Error {
	return &Error{Code: CodeTooLarge, Limit: LimitDecodedBytes, Message: fmt.Sprintf(
		"the file is larger than %d bytes once decompressed, the limit; split it into smaller files", d.max)}
}

// newlineCR is Layout.Newline for text whose lines end in a bare CR.
const newlineCR = "cr"

// crToLF reads carriage returns as line feeds.
type crToLF struct{ r io.Reader }

func (c crToLF) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	for i := range p[:n] {
		if p[i] == '\r' {
			p[i] = '\n'
		}
	}
	return n, err
}

// strictUTF16 decodes UTF-16 to UTF-8 and refuses what is not UTF-16 (a
// lone surrogate, an odd trailing byte) with an *Error naming the line,
// as bad UTF-8 is refused. golang.org/x/text's decoder turns such units
// into U+FFFD, which would let a broken address through as a valid one;
// it has no strict mode, hence this small transformer. A byte order mark
// at the start wins over big and is dropped.
type strictUTF16 struct {
	big     bool
	started bool
	line    int
}

func (d *strictUTF16) Reset() { d.started, d.line = false, 1 }

func (d *strictUTF16) unit(b []byte) uint16 {
	if d.big {
		return uint16(b[0])<<8 | uint16(b[1])
	}
	return uint16(b[1])<<8 | uint16(b[0])
}

func (d *strictUTF16) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	if !d.started {
		if len(src) < 2 && !atEOF {
			return 0, 0, transform.ErrShortSrc
		}
		d.started = true
		if len(src) >= 2 {
			switch {
			case src[0] == 0xFF && src[1] == 0xFE:
				d.big, nSrc = false, 2
			case src[0] == 0xFE && src[1] == 0xFF:
				d.big, nSrc = true, 2
			}
		}
	}
	for nSrc < len(src) {
		rest := src[nSrc:]
		if len(rest) < 2 {
			if !atEOF {
				return nDst, nSrc, transform.ErrShortSrc
			}
			return nDst, nSrc, d.invalid("the file ends in the middle of a UTF-16 character")
		}
		u := d.unit(rest)
		r, size := rune(u), 2
		switch {
		case u >= 0xD800 && u < 0xDC00:
			if len(rest) < 4 {
				if !atEOF {
					return nDst, nSrc, transform.ErrShortSrc
				}
				return nDst, nSrc, d.invalid("a UTF-16 surrogate is not followed by its pair")
			}
			lo := d.unit(rest[2:])
			if lo < 0xDC00 || lo > 0xDFFF {
				return nDst, nSrc, d.invalid("a UTF-16 surrogate is not followed by its pair")
			}
			r, size = 0x10000+(rune(u)-0xD800)<<10+(rune(lo)-0xDC00), 4
		case u >= 0xDC00 && u <= 0xDFFF:
			return nDst, nSrc, d.invalid("a UTF-16 low surrogate stands alone")
		}
		if len(dst)-nDst < utf8.UTFMax {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += utf8.EncodeRune(dst[nDst:], r)
		nSrc += size
		if r == '\n' {
			d.line++
		}
	}
	return nDst, nSrc, nil
}

func (d *strictUTF16) invalid(what string) *Error {
	return errorf(CodeInvalidEnc, d.line, "the text is not valid UTF-16 (%s); save the file as UTF-8 (in Excel: Save As → CSV UTF-8) and upload it again", what)
}
