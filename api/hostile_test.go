package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/api"
	"github.com/leadcheck/leadcheck/bulk"
	"github.com/leadcheck/leadcheck/client"
)

// TestBulkJSONBodyLimit: a records body has its own limit, far below the
// file limit; past it (whether the length is announced or the body is
// streamed without one) the answer is a 413 that names the setting, and
// nothing is left behind.
func TestBulkJSONBodyLimit(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{api: api.Options{MaxBulkJSONBytes: 4 << 10}, noRun: true})
	body := `{"records": [` + strings.Repeat(`{"email": "jane@acme.test"},`, 400) + `{"email": "x@acme.test"}]}`
	for name, r := range map[string]func() io.Reader{
		"announced": func() io.Reader { return strings.NewReader(body) },
		"streamed":  func() io.Reader { return struct{ io.Reader }{strings.NewReader(body)} },
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), "application/json", r())
			if err != nil {
				t.Fatal(err)
			}
			code, _, msg := errorCode(t, resp.Body)
			if resp.StatusCode() != http.StatusRequestEntityTooLarge || code != "body_too_large" || !strings.Contains(msg, "LEADCHECK_BULK_MAX_JSON_BYTES") {
				t.Errorf("got %d %s, want 413 body_too_large naming LEADCHECK_BULK_MAX_JSON_BYTES", resp.StatusCode(), resp.Body)
			}
		})
	}
	// Within the limit, a records body is fine.
	small := `{"records": [{"email": "jane@acme.test"}]}`
	resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), "application/json", strings.NewReader(small))
	if err != nil || resp.JSON202 == nil {
		t.Fatalf("small body: got %v %s", err, resp.Body)
	}
	for range 2 { // cancel, then forget
		if _, err := e.client.DeleteBulkJobWithResponse(context.Background(), resp.JSON202.Id); err != nil {
			t.Fatal(err)
		}
	}
	e.nothingLeft()
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBulkClientDisconnect: a client that resets the connection in the
// middle of its upload (a file or a records body) is logged as a client
// close at info level, never as a 500 or an error, and leaves no folder.
func TestBulkClientDisconnect(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := newBulkEnv(t, bulkEnvOptions{noRun: true, logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	addr := strings.TrimPrefix(e.url, "http://")
	ct, form := upload{filename: "a.csv", content: delimited(",")}.body()
	for name, req := range map[string]struct{ ct, body string }{
		"multipart": {ct, form.String()[:form.Len()/2]},
		"records":   {"application/json", `{"records": [{"email": "jane@acme.test"}, {"email": "k`},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /v1/bulk HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", req.ct, len(req.body)*4, req.body)
		time.Sleep(50 * time.Millisecond) // let the server read the part sent
		conn.(*net.TCPConn).SetLinger(0)  // close with a reset
		conn.Close()
		_ = name
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "client closed the connection") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no client-close lines after 10s; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"status":500`) {
			t.Errorf("disconnect logged as a failure: %s", line)
		}
		if strings.Contains(line, "client closed the connection") && !strings.Contains(line, `"level":"INFO"`) {
			t.Errorf("client close not at info: %s", line)
		}
	}
	e.nothingLeft()
}

// idleUpload opens a connection that sends the head of a multipart
// upload and the first bytes of its body, then nothing: the attack that
// held thousands of file handles. It returns the connection.
func idleUpload(t *testing.T, addr, key string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ct, form := upload{filename: "a.csv", content: delimited(",")}.body()
	head := form.Bytes()[:40]
	fmt.Fprintf(conn, "POST /v1/bulk HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", key, ct, 1<<20, head)
	return conn
}

// waitUploads waits until n upload folders exist: the server has taken
// the uploads in.
func waitUploads(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, _ := os.ReadDir(filepath.Join(dir, "tmp"))
		if len(entries) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d upload folders after 10s, want %d", len(entries), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBulkUploadTooSlow: an idle upload and one that trickles below the
// minimum rate are closed with a 408 naming the setting, and leave no
// folder; an upload at a steady rate above it gets its 202.
func TestBulkUploadTooSlow(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{noRun: true, api: api.Options{MinUploadRate: 2000, UploadRateWindow: time.Second}})
	addr := strings.TrimPrefix(e.url, "http://")
	for name, trickle := range map[string]bool{"idle": false, "trickle": true} {
		t.Run(name, func(t *testing.T) {
			conn := idleUpload(t, addr, "")
			stop := make(chan struct{})
			defer close(stop)
			if trickle {
				go func() {
					for {
						select {
						case <-stop:
							return
						case <-time.After(200 * time.Millisecond):
							_, _ = conn.Write([]byte("xxxxxxxxxx")) // 50 bytes/s
						}
					}
				}()
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			code, _, msg := errorCode(t, b)
			if resp.StatusCode != http.StatusRequestTimeout || code != "upload_too_slow" || !strings.Contains(msg, "LEADCHECK_BULK_MIN_UPLOAD_RATE") {
				t.Errorf("got %d %s, want 408 upload_too_slow", resp.StatusCode, b)
			}
			if !resp.Close {
				t.Errorf("the 408 keeps the connection open")
			}
		})
	}
	// A steady upload of 5 KB/s for two windows is fine.
	ct, body := upload{filename: "a.csv", content: append(delimited(","), bytes.Repeat([]byte("pat@acme.test,,,\n"), 600)...)}.body()
	pr, pw := io.Pipe()
	go func() {
		b := body.Bytes()
		for i := 0; i < len(b); i += 500 {
			_, _ = pw.Write(b[i:min(i+500, len(b))])
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, pr)
	if err != nil || resp.JSON202 == nil {
		t.Fatalf("steady upload: got %v %v, want 202", err, resp)
	}
	for range 2 {
		_, _ = e.client.DeleteBulkJobWithResponse(context.Background(), resp.JSON202.Id)
	}
	e.nothingLeft()
}

// TestBulkUploadCaps: uploads in flight are capped per key (429) and in
// all (503), both with Retry-After; a slot frees when its upload ends.
func TestBulkUploadCaps(t *testing.T) {
	t.Parallel()
	keys := []string{"key-one", "key-two", "key-three"}
	e := newBulkEnv(t, bulkEnvOptions{noRun: true, api: api.Options{APIKeys: keys, MaxUploads: 3, MaxUploadsPerKey: 2}})
	addr := strings.TrimPrefix(e.url, "http://")
	one := []net.Conn{idleUpload(t, addr, "key-one"), idleUpload(t, addr, "key-one")}
	waitUploads(t, e.dir, 2)
	try := func(key string) *client.CreateBulkJobResponse {
		ct, body := upload{filename: "a.csv", content: delimited(",")}.body()
		resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, body,
			func(_ context.Context, req *http.Request) error { req.Header.Set("X-API-Key", key); return nil })
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := try("key-one"); resp.StatusCode() != http.StatusTooManyRequests || resp.HTTPResponse.Header.Get("Retry-After") == "" {
		t.Errorf("third upload of one key: got %d %s, want 429 with Retry-After", resp.StatusCode(), resp.Body)
	} else if code, _, _ := errorCode(t, resp.Body); code != "too_many_uploads" {
		t.Errorf("got code %s, want too_many_uploads", code)
	}
	idleUpload(t, addr, "key-two")
	waitUploads(t, e.dir, 3)
	if resp := try("key-three"); resp.StatusCode() != http.StatusServiceUnavailable || resp.HTTPResponse.Header.Get("Retry-After") == "" {
		t.Errorf("fourth upload in all: got %d %s, want 503 with Retry-After", resp.StatusCode(), resp.Body)
	} else if code, _, _ := errorCode(t, resp.Body); code != "uploads_busy" {
		t.Errorf("got code %s, want uploads_busy", code)
	}
	// One of key-one's uploads goes away: key-one may upload again.
	one[0].Close()
	waitUploads(t, e.dir, 2)
	if resp := try("key-one"); resp.JSON202 == nil {
		t.Errorf("after a slot freed: got %d %s, want 202", resp.StatusCode(), resp.Body)
	}
}

// TestBulkDownloadStall: a download whose client stops reading is cut
// once nothing has been read for the stall timeout, not after an hour.
func TestBulkDownloadStall(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := newBulkEnv(t, bulkEnvOptions{api: api.Options{DownloadStallTimeout: 300 * time.Millisecond},
		logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		bulk:   func(c *bulk.Config) { c.ChunkRows = 256; c.Workers = 32 }})
	var file bytes.Buffer
	file.WriteString("email,note\n")
	for i := range 20000 {
		fmt.Fprintf(&file, "user%d@acme.test,%s\n", i, strings.Repeat("n", 100))
	}
	job := e.mustCreate(upload{filename: "big.csv", content: file.Bytes()})
	e.wait(job.Id)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(conn, "GET /v1/bulk/%s/results?format=ndjson HTTP/1.1\r\nHost: x\r\n\r\n", job.Id)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "bulk results download cut short") {
		if time.Now().After(deadline) {
			t.Fatalf("a download nobody reads was not cut within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestBulkInsufficientStorage: an upload past the key's disk budget is a
// 507 insufficient_storage (never a 400), and leaves nothing.
func TestBulkInsufficientStorage(t *testing.T) {
	t.Parallel()
	e := newBulkEnv(t, bulkEnvOptions{noRun: true, bulk: func(c *bulk.Config) { c.DiskPerKey = 1 << 10 }})
	ct, body := upload{filename: "a.csv", content: delimited(",")}.body()
	resp, err := e.client.CreateBulkJobWithBodyWithResponse(context.Background(), ct, body)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, msg := errorCode(t, resp.Body); resp.StatusCode() != http.StatusInsufficientStorage || code != "insufficient_storage" || !strings.Contains(msg, "LEADCHECK_BULK_DISK_PER_KEY") {
		t.Errorf("got %d %s, want 507 insufficient_storage naming the budget", resp.StatusCode(), resp.Body)
	}
	e.nothingLeft()
}
