package api

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// uploadGate caps the uploads being received at once, per key and in all,
// so idle or slow uploads cannot hold every file handle of the process.
type uploadGate struct {
	mu        sync.Mutex
	total     int
	perKey    map[string]int
	maxTotal  int
	maxPerKey int
}

// uploadRetryAfter is the Retry-After of a refused upload: uploads take
// seconds to minutes, so sooner would only be refused again.
const uploadRetryAfter = 10 * time.Second

// acquire takes a slot for caller's upload, or refuses: 429 when the key
// has its share in flight, 503 when the server has.
func (g *uploadGate) acquire(caller string) (release func(), err *Error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perKey[caller] >= g.maxPerKey {
		return nil, &Error{Status: http.StatusTooManyRequests, Code: "too_many_uploads",
			Message: fmt.Sprintf("this key already has %d uploads in progress, the limit (the server's LEADCHECK_BULK_MAX_UPLOADS_PER_KEY); wait for one to finish and retry after the Retry-After seconds", g.maxPerKey)}
	}
	if g.total >= g.maxTotal {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: "uploads_busy",
			Message: fmt.Sprintf("the server is receiving %d uploads, the limit (the server's LEADCHECK_BULK_MAX_UPLOADS); retry after the Retry-After seconds", g.maxTotal)}
	}
	g.total++
	g.perKey[caller]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.total--
			if g.perKey[caller]--; g.perKey[caller] <= 0 {
				delete(g.perKey, caller)
			}
		})
	}, nil
}

// refuseUpload readies the response of a refused upload: Retry-After,
// and Connection: close, so that the body the client may still be sending
// is not read and the connection's file handle goes at once.
func refuseUpload(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(uploadRetryAfter/time.Second)))
	w.Header().Set("Connection", "close")
}

// rateBody enforces a minimum upload rate: the body must bring at least
// minBytes in every window, or the connection's read deadline passes and
// the read fails with os.ErrDeadlineExceeded (answered 408). Each time the
// quota of a window is met, the deadline moves one window on, so a
// steady upload of any size continues while an idle or trickling one is
// closed within a window.
type rateBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	window   time.Duration
	minBytes int64
	got      int64
}

func newRateBody(body io.ReadCloser, rc *http.ResponseController, rate int64, window time.Duration) *rateBody {
	b := &rateBody{ReadCloser: body, rc: rc, window: window, minBytes: max(rate*int64(window/time.Second), 1)}
	_ = rc.SetReadDeadline(time.Now().Add(window))
	return b
}

func (b *rateBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.got += int64(n)
	if b.got >= b.minBytes {
		b.got = 0
		_ = b.rc.SetReadDeadline(time.Now().Add(b.window))
	}
	return n, err
}

// stallWriter gives each write of a download its own deadline, so the
// deadline advances only while the client reads: a client that stops
// reading is cut off after timeout, however large the file.
type stallWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

func (s stallWriter) Write(p []byte) (int, error) {
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.w.Write(p)
}
