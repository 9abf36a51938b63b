//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/leadcheck/leadcheck/client"
	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// setFileLimit sets the open-file limit of process pid, as `ulimit -n`
// would have at its start (prlimit(2); the syscall package has no
// wrapper for another process).
func setFileLimit(t *testing.T, pid int, n uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: n, Max: n}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(syscall.RLIMIT_NOFILE), uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		t.Skipf("cannot set the process's file limit: %v", errno)
	}
}

func countDir(path string) int {
	entries, _ := os.ReadDir(path)
	return len(entries)
}

// TestIdleUploadsRealProcess: a real process limited to 1,024 open files
// takes 500 idle uploads from 125 keys and still answers /healthz; the
// uploads it holds stay within LEADCHECK_BULK_MAX_UPLOADS (the rest are
// refused and their connections closed), its open files stay well under
// the limit, and once the clients go no upload folder is left.
func TestIdleUploadsRealProcess(t *testing.T) {
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	var keys []string
	for i := range 125 {
		keys = append(keys, fmt.Sprintf("key-%03d", i))
	}
	data := t.TempDir()
	p := startProcess(t, map[string]string{
		"LEADCHECK_DNS":              dns.Addr(),
		"LEADCHECK_API_KEYS":         strings.Join(keys, ","),
		"LEADCHECK_DATA_DIR":         data,
		"LEADCHECK_BULK_MAX_UPLOADS": "32",
	})
	pid := p.cmd.Process.Pid
	setFileLimit(t, pid, 1024)
	addr := strings.TrimPrefix(p.base, "http://")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	head := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nemail\r\n"
	for i := range 500 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /v1/bulk HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n%s",
			keys[i%len(keys)], 1<<20, head)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(p.base + "/healthz")
	if err != nil {
		t.Fatalf("/healthz with 500 idle uploads: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: got %d", resp.StatusCode)
	}
	tmp := filepath.Join(data, "bulk", "tmp")
	if n := countDir(tmp); n > 32 {
		t.Errorf("%d upload folders with LEADCHECK_BULK_MAX_UPLOADS=32", n)
	}
	fds := countDir(fmt.Sprintf("/proc/%d/fd", pid))
	t.Logf("open files of the process with 500 idle uploads: %d", fds)
	// One socket per connection is unavoidable; past that, an upload may
	// hold its file and folder only while it is one of the 32 allowed, and
	// the process has a few of its own (listeners, DNS, logs).
	if limit := 500 + 2*32 + 48; fds > limit {
		t.Errorf("the process holds %d open files with 500 idle uploads, want at most %d (one per connection, two per upload in progress, a few more)", fds, limit)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	deadline := time.Now().Add(10 * time.Second)
	for countDir(tmp) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d upload folders left 10s after the clients went", countDir(tmp))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStartupWithManyStoredJobs: a real process over a data directory of
// 10,000 stored jobs whose header files are 1 MB each starts with its
// memory far below what loading the headers would take (10 GB), and
// serves the jobs at once. The time to /readyz is logged (go run ./bench
// measures start-up as B7); the memory bound is the assertion.
func TestStartupWithManyStoredJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 job directories")
	}
	t.Parallel()
	dns := dnstest.Start(t, dnstest.Config{Zone: zone})
	data := t.TempDir()
	env := map[string]string{"LEADCHECK_DNS": dns.Addr(), "LEADCHECK_DATA_DIR": data}
	first := startProcess(t, env)
	c := newClient(t, first.base)
	wide := "email," + strings.Repeat("x", 1000) + "\njane@acme.test,1\n"
	ct, body := multipartFile(t, wide, nil)
	created, err := c.CreateBulkJobWithBodyWithResponse(context.Background(), ct, body)
	if err != nil || created.JSON202 == nil {
		t.Fatalf("create: %v %s", err, created.Body)
	}
	id := created.JSON202.Id
	deadline := time.Now().Add(30 * time.Second)
	for getJob(t, c, id).Status != client.BulkStatusCompleted {
		if time.Now().After(deadline) {
			t.Fatalf("job not completed in 30s; logs:\n%s", first.logs.text())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-first.done

	jobs := filepath.Join(data, "bulk", "jobs")
	rec, err := os.ReadFile(filepath.Join(jobs, id, "job.json"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 10_000
	for i := range n {
		cp := fmt.Sprintf("%032x", i+1)
		dir := filepath.Join(jobs, cp)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "job.json"), bytes.Replace(rec, []byte(id), []byte(cp), 1), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, "header.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(1 << 20); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}

	start := time.Now()
	second := startProcess(t, env)
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := hc.Get(second.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("/readyz not ok 60s after the start; logs:\n%s", second.logs.text())
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", second.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var peakKB int64
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &peakKB)
		}
	}
	t.Logf("%d stored jobs with 1 MB headers: /readyz ok %v after the start, peak RSS %d MB", n+1, took.Round(time.Millisecond), peakKB>>10)
	// Under the race detector every allocation costs several times as
	// much; either bound is far below the 10 GB the headers would take.
	limitMB := int64(100)
	if raceEnabled {
		limitMB = 400
	}
	if peakKB == 0 || peakKB > limitMB<<10 {
		t.Errorf("peak RSS %d kB after starting over %d stored jobs, want under %d MB", peakKB, n+1, limitMB)
	}
	c = newClient(t, second.base)
	if job := getJob(t, c, fmt.Sprintf("%032x", n)); job.Status != client.BulkStatusCompleted {
		t.Errorf("a stored job: got %s, want completed", job.Status)
	}
}
