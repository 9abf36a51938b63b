package ingest

import (
	"bufio"
	"compress/gzip"
	"io"
	"sync"
)

// Scan's read buffers and gzip readers are pooled. An upload refused after
// its first megabyte (a decompression bomb, a wrong file) would otherwise
// leave a few hundred KiB of garbage each; a stream of them keeps the
// garbage collector running, and a collection delays the real-time path's
// requests too.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	gzipPool   sync.Pool // *gzip.Reader
)

// buffers hands out the pooled readers of one scan and takes them all
// back at its end. A nil *buffers allocates (a job's Reader lives as long
// as its job).
type buffers struct {
	readers []*bufio.Reader
	gz      []*gzip.Reader
}

func (b *buffers) reader(r io.Reader) *bufio.Reader {
	if b == nil {
		return bufio.NewReaderSize(r, bufSize)
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(r)
	b.readers = append(b.readers, br)
	return br
}

// gzip returns a gzip reader of r, or the error of its header.
func (b *buffers) gzip(r io.Reader) (*gzip.Reader, error) {
	if b == nil {
		return gzip.NewReader(r)
	}
	gz, _ := gzipPool.Get().(*gzip.Reader)
	if gz == nil {
		gz = new(gzip.Reader)
	}
	b.gz = append(b.gz, gz)
	return gz, gz.Reset(r)
}

// release returns everything handed out; none of it may be used after.
func (b *buffers) release() {
	for _, br := range b.readers {
		br.Reset(nil)
		readerPool.Put(br)
	}
	for _, gz := range b.gz {
		gzipPool.Put(gz)
	}
	b.readers, b.gz = nil, nil
}
