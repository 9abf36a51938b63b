package bulk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// leadsFile is a CSV of n rows with a long note each, so its results are a
// small multiple of it under any storage.
func leadsFile(n int) string {
	var b strings.Builder
	b.WriteString("email,note\n")
	for i := range n {
		fmt.Fprintf(&b, "user%d@acme.test,%s\n", i, strings.Repeat("n", 1000))
	}
	return b.String()
}

func wantStorageRefusal(t *testing.T, err error, substr string) {
	t.Helper()
	var be *Error
	if !errors.As(err, &be) || be.Kind != KindInsufficientStorage || be.Code != "insufficient_storage" || !strings.Contains(be.Message, substr) {
		t.Fatalf("got %v, want insufficient_storage mentioning %q", err, substr)
	}
}

// TestDiskBudgetPerKey: a key's jobs are held at their upload plus their
// results estimate; the upload that would take the key past its budget is
// refused (insufficient_storage naming the setting) while another key
// still uploads, and deleting a job frees its share.
func TestDiskBudgetPerKey(t *testing.T) {
	t.Parallel()
	body := leadsFile(50) // about 51 KB: held at about 560 KB
	e := newTestEnv(t, dnstest.Config{}, func(c *Config) { c.DiskPerKey = 1 << 20 })
	first := e.mustSubmit("a", body, Options{})
	_, err := e.submit("a", body, Options{})
	wantStorageRefusal(t, err, "LEADCHECK_BULK_DISK_PER_KEY")
	e.mustSubmit("b", body, Options{})
	for range 2 { // cancel, then forget
		if err := e.svc.Delete(context.Background(), "a", first.ID); err != nil {
			t.Fatal(err)
		}
	}
	e.mustSubmit("a", body, Options{})
	if left := dirEntries(t, filepath.Join(e.cfg.Dir, "tmp")); len(left) != 0 {
		t.Errorf("refused uploads left %v", left)
	}
}

// mountTmpfs mounts a tmpfs of size bytes at a new directory, or skips the
// test saying why (CI runs as root, where it must work).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a tmpfs: %v %s (CI runs as root and must not skip)", err, out)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFullTmpfs runs on a 16 MB tmpfs. Admission counts the results
// accepted jobs will write: once they would not fit above the reserve,
// uploads from any key are refused with insufficient_storage, and every
// accepted job completes. When the disk then fills from outside, only the
// job whose write failed fails, with an error that says so; finished
// jobs keep their results and new uploads get insufficient_storage, never
// a bad-input error.
func TestDiskFullTmpfs(t *testing.T) {
	mnt := mountTmpfs(t, 16<<20)
	e := newTestEnv(t, dnstest.Config{}, func(c *Config) {
		c.Dir = filepath.Join(mnt, "bulk")
		c.DiskReserve = 1 << 20
		c.ConcurrentJobs = 1
	})
	body := leadsFile(300) // about 300 KB: 3 MB of results reserved
	var accepted []Status
	var refused error
	for i := range 10 {
		st, err := e.trySubmit(fmt.Sprintf("key-%d", i%2), body)
		if err != nil {
			refused = err
			break
		}
		accepted = append(accepted, st)
	}
	if refused == nil || len(accepted) == 0 {
		t.Fatalf("accepted %d uploads of 300 KB on 16 MB, want some accepted and then a refusal", len(accepted))
	}
	wantStorageRefusal(t, refused, "LEADCHECK_BULK_DISK_RESERVE")
	stop := e.run(e.svc)
	for _, st := range accepted {
		if got := e.wait(fmt.Sprintf("key-%d", indexOf(accepted, st)%2), st.ID); got.Status != StatusCompleted {
			t.Fatalf("accepted job %s: %s (%v), want completed", st.ID, got.Status, got.Error)
		}
	}
	stop()
	// Make room for one more job, queue it, then fill the disk from
	// outside the service.
	if err := e.svc.Delete(context.Background(), "key-0", accepted[0].ID); err != nil {
		t.Fatal(err)
	}
	free, _ := freeSpace(mnt)
	t.Logf("%d jobs accepted; after they ran and one was deleted, %d bytes free; a job's folder holds %d bytes", len(accepted), free, dirSize(filepath.Join(e.cfg.Dir, "jobs", accepted[1].ID)))
	last := e.mustSubmit("key-0", body, Options{})
	fill, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := fill.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	fill.Close()
	e.run(e.svc)
	got := e.wait("key-0", last.ID)
	if got.Status != StatusFailed || got.Error == nil || !strings.Contains(*got.Error, "disk filled up") {
		t.Fatalf("job writing on a full disk: got %s %v, want failed saying the disk filled up", got.Status, got.Error)
	}
	for i, st := range accepted[1:] {
		out := e.download(fmt.Sprintf("key-%d", (i+1)%2), st.ID, FormatCSV, "")
		if n := strings.Count(out, "\n"); n != 301 {
			t.Errorf("finished job %s after the disk filled: %d lines of results, want 301", st.ID, n)
		}
	}
	// The disk is full: a new upload is refused at once, as storage.
	_, err = e.svc.StartUpload("key-1")
	wantStorageRefusal(t, err, "LEADCHECK_BULK_DISK_RESERVE")
}

// trySubmit is submit where the refusal may come at any step.
func (e *testEnv) trySubmit(caller, body string) (Status, error) {
	up, err := e.svc.StartUpload(caller)
	if err != nil {
		return Status{}, err
	}
	defer up.Discard()
	if _, err := up.ReadFrom(strings.NewReader(body)); err != nil {
		return Status{}, err
	}
	return e.svc.Submit(context.Background(), caller, up, Options{})
}

func indexOf(list []Status, st Status) int {
	for i, s := range list {
		if s.ID == st.ID {
			return i
		}
	}
	return -1
}
