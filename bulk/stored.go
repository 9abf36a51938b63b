package bulk

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The results of a job are stored once, in one compact form, and turned
// into CSV or NDJSON at download: the delimiter and the formula guard are
// then choices of the download, not of the job, and the disk holds one
// copy of each row instead of two (issue: 20x to 110x the upload with a
// CSV and an NDJSON file per job).
//
// results.zst is a series of zstd frames (one per checkpoint, so a resumed
// job cuts the file back to a frame boundary). Decompressed, it is a
// series of records, each a uvarint length and that many bytes. The first
// record is the header:
//
//	"LCR1" | delimiter byte | enrich byte (0/1) | uvarint key count | keys
//
// and every other record is one row, in input order:
//
//	verdict byte ('v','i','r','u') | ragged byte (0/1) | uvarint row number |
//	uvarint line | uvarint field count | fields | uvarint cell count |
//	cells | NDJSON tail (the rest)
//
// where a string (key, field, cell) is a uvarint length and its bytes, the
// cells are the leadcheck_* CSV columns, and the tail is the row's NDJSON
// line after its "record" object: `"result":{...}` and, when there is one,
// `,"error":{...}` and `,"enrichment":{...}`, already encoded. Hand-written
// because it is a dozen lines on encoding/binary; a general serialisation
// library would cost more per row than the row's own encoding.
const storedMagic = "LCR1"

// maxStoredRecord bounds one record read back, so a damaged file gives an
// error rather than an allocation of whatever length it claims.
const maxStoredRecord = 1 << 30

// storedHeader is the header record: what a download needs besides rows.
type storedHeader struct {
	delimiter byte
	enrich    bool
	keys      []string
}

func appendStoredString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendStoredRecord frames body as one record.
func appendStoredRecord(dst, body []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(body)))
	return append(dst, body...)
}

func encodeStoredHeader(h storedHeader) []byte {
	body := append([]byte(storedMagic), h.delimiter, 0)
	if h.enrich {
		body[len(storedMagic)+1] = 1
	}
	body = binary.AppendUvarint(body, uint64(len(h.keys)))
	for _, k := range h.keys {
		body = appendStoredString(body, k)
	}
	return appendStoredRecord(nil, body)
}

// storedRow is one row record read back. Its byte slices point into the
// reader's buffer and are valid until the next read.
type storedRow struct {
	verdict byte
	ragged  bool
	number  uint64
	line    uint64
	fields  [][]byte
	cells   [][]byte
	tail    []byte
}

var errStoredCorrupt = errors.New("stored results are damaged")

// storedReader reads records back from a decompressed results stream.
type storedReader struct {
	r   *bufio.Reader
	buf []byte
	row storedRow
}

func newStoredReader(r io.Reader) *storedReader {
	return &storedReader{r: bufio.NewReaderSize(r, 256<<10)}
}

// next returns the next record's body, or io.EOF after the last one.
func (s *storedReader) next() ([]byte, error) {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read results: %w", err)
	}
	if n > maxStoredRecord {
		return nil, errStoredCorrupt
	}
	if uint64(cap(s.buf)) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:n]
	if _, err := io.ReadFull(s.r, s.buf); err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	return s.buf, nil
}

func (s *storedReader) header() (storedHeader, error) {
	var h storedHeader
	b, err := s.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errStoredCorrupt
		}
		return h, err
	}
	if len(b) < len(storedMagic)+2 || string(b[:len(storedMagic)]) != storedMagic {
		return h, errStoredCorrupt
	}
	h.delimiter, h.enrich = b[len(storedMagic)], b[len(storedMagic)+1] == 1
	d := storedDecoder{b: b[len(storedMagic)+2:]}
	n := d.uvarint()
	for i := uint64(0); i < n && d.err == nil; i++ {
		h.keys = append(h.keys, string(d.bytes()))
	}
	return h, d.err
}

// decodeRow decodes a row record's body (a row skipped by a verdict
// filter needs only b[0]).
func (s *storedReader) decodeRow(b []byte) (*storedRow, error) {
	if len(b) < 2 {
		return nil, errStoredCorrupt
	}
	r := &s.row
	r.verdict, r.ragged = b[0], b[1] == 1
	d := storedDecoder{b: b[2:]}
	r.number = d.uvarint()
	r.line = d.uvarint()
	r.fields = d.list(r.fields[:0])
	r.cells = d.list(r.cells[:0])
	r.tail = d.b
	return r, d.err
}

// storedDecoder reads the parts of one record, remembering the first error.
type storedDecoder struct {
	b   []byte
	err error
}

func (d *storedDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errStoredCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *storedDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errStoredCorrupt
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *storedDecoder) list(dst [][]byte) [][]byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every item takes at least one byte
		d.err = errStoredCorrupt
		return dst
	}
	for i := uint64(0); i < n && d.err == nil; i++ {
		dst = append(dst, d.bytes())
	}
	return dst
}
