package ingest

import "io"

// slabSize is how many fields one allocation serves: records get fresh
// slices without one allocation per row.
const slabSize = 4096

// Reader streams the data records of an input whose Layout Scan found. It
// skips the header row and blank rows. A Reader is not safe for concurrent
// use; the records it returns are.
type Reader struct {
	src        source
	delimited  bool
	width      int
	skipHeader bool
	index      int
	slab       []string
	err        error
}

// NewReader reads records of an input whose layout Scan found; r must hold
// the same bytes Scan read. It reads the start of r (a gzip header, a byte
// order mark) at once, the records on demand.
func NewReader(r io.Reader, l Layout) (*Reader, error) {
	text, err := openLayout(r, l)
	if err != nil {
		return nil, err
	}
	src, err := newSource(text, l)
	if err != nil {
		return nil, err
	}
	delimited := l.Format == CSV || l.Format == TSV
	return &Reader{
		src:        src,
		delimited:  delimited,
		width:      len(l.Header),
		skipHeader: l.HasHeader && (delimited || l.Format == TXT),
	}, nil
}

// Next returns the next data record, or io.EOF after the last one. An error
// is final: later calls return it again.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	for {
		fields, line, err := r.src.next()
		if err != nil {
			if err != io.EOF {
				err = readErr(err)
			}
			r.err = err
			return Record{}, err
		}
		if isBlank(fields) {
			continue
		}
		if r.skipHeader {
			r.skipHeader = false
			continue
		}
		rec := Record{
			Line:   line,
			Index:  r.index,
			Fields: r.alloc(len(fields)),
			Ragged: r.delimited && len(fields) != r.width,
		}
		copy(rec.Fields, fields)
		r.index++
		return rec, nil
	}
}

// alloc hands out a slice of n fields from a slab. Slabs are never reused,
// so a record stays valid after later calls.
func (r *Reader) alloc(n int) []string {
	if n > slabSize/4 {
		return make([]string, n)
	}
	if cap(r.slab)-len(r.slab) < n {
		r.slab = make([]string, 0, slabSize)
	}
	start := len(r.slab)
	r.slab = r.slab[:start+n]
	return r.slab[start : start+n : start+n]
}
