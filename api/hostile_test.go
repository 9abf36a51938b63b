package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/api"
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
