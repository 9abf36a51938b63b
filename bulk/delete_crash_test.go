package bulk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// TestDeleteCrashAtEachStep: a crash at any step of a DELETE leaves the
// job either fully present (status, CSV and NDJSON all served) or fully
// gone (not found, nothing left on disk once the next start has swept).
func TestDeleteCrashAtEachStep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		step    string
		present bool
	}{
		{"before rename", true},
		{"after rename", false},
		{"mid remove", false},
		{"", false}, // no crash
	} {
		t.Run(tc.step, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, dnstest.Config{}, nil)
			stop := e.run(e.svc)
			st := e.mustSubmit("", "email\njane@acme.test\nkim@missing.test\n", Options{})
			e.wait("", st.ID)
			stop()
			e.svc.crashAt = func(step string) bool { return step == tc.step }
			if err := e.svc.Delete(context.Background(), "", st.ID); err != nil {
				t.Fatal(err)
			}
			// The crashed process is gone; a new one starts on its disk.
			svc := e.open()
			got, err := svc.Get(context.Background(), "", st.ID)
			if tc.present {
				if err != nil || got.Status != StatusCompleted {
					t.Fatalf("got %+v, %v, want the completed job", got, err)
				}
				for _, format := range []string{FormatCSV, FormatNDJSON} {
					d, err := svc.Results(context.Background(), "", st.ID, DownloadOptions{Format: format})
					if err != nil {
						t.Fatalf("%s results: %v", format, err)
					}
					var b bytes.Buffer
					if _, err := d.WriteTo(&b); err != nil || !bytes.Contains(b.Bytes(), []byte("kim@missing.test")) {
						t.Errorf("%s results: %q, %v", format, b.String(), err)
					}
					d.Close()
				}
				return
			}
			var be *Error
			if !errors.As(err, &be) || be.Kind != KindNotFound {
				t.Fatalf("got %+v, %v, want not found", got, err)
			}
			for _, sub := range []string{"jobs", "trash", "tmp"} {
				if left := dirEntries(t, filepath.Join(e.cfg.Dir, sub)); len(left) != 0 {
					t.Errorf("%s/ still holds %v", sub, left)
				}
			}
		})
	}
}

// TestCancelCrashKeepsRecordFirst: canceling a queued job saves the
// canceled record before its files go, so a crash in between leaves a
// canceled job (not a queued one without its upload), whose files the
// next start removes.
func TestCancelCrashKeepsRecordFirst(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	st := e.mustSubmit("", "email\njane@acme.test\n", Options{})
	// Simulate the crash after the record: write canceled, keep the files.
	e.svc.mu.Lock()
	j := e.svc.jobs[st.ID]
	j.rec.Status = StatusCanceled
	e.svc.mu.Unlock()
	e.svc.persist(j)
	svc := e.open()
	got, err := svc.Get(context.Background(), "", st.ID)
	if err != nil || got.Status != StatusCanceled {
		t.Fatalf("got %+v, %v, want canceled", got, err)
	}
	for _, name := range dataFiles {
		if _, err := os.Stat(filepath.Join(e.cfg.Dir, "jobs", st.ID, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s of the canceled job is still there after the start", name)
		}
	}
}

// TestSweepOrphans: the start and the retention sweep remove what a crash
// can leave: a job folder without a record, the trash, and an upload
// folder no request is receiving; an upload in progress is kept.
func TestSweepOrphans(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	orphan := filepath.Join(e.cfg.Dir, "jobs", "0123456789abcdef0123456789abcdef")
	tomb := filepath.Join(e.cfg.Dir, "trash", "fedcba9876543210fedcba9876543210")
	stale := filepath.Join(e.cfg.Dir, "tmp", "00000000000000000000000000000001")
	plant := func() {
		for _, d := range []string{orphan, tomb, stale} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, resultsFile), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	plant()
	svc := e.open()
	for _, d := range []string{orphan, tomb} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("start left %s", d)
		}
	}
	up, err := svc.NewUpload()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Discard()
	plant()
	svc.Sweep(context.Background())
	for _, d := range []string{orphan, tomb, stale} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("sweep left %s", d)
		}
	}
	if _, err := os.Stat(up.dir); err != nil {
		t.Errorf("sweep removed an upload in progress: %v", err)
	}
}

// TestEndRecordedBeforeShown: a job's end is on disk before any reader
// can see it, so a crash right after a client saw "completed" cannot bring
// the job back as running.
func TestEndRecordedBeforeShown(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, dnstest.Config{}, nil)
	var onDisk, shown State
	e.svc.crashAt = func(step string) bool {
		if step != "end recorded" {
			return false
		}
		// The one job there is.
		ids := dirEntries(t, filepath.Join(e.cfg.Dir, "jobs"))
		if len(ids) != 1 {
			t.Errorf("jobs/ holds %v, want one job", ids)
			return false
		}
		b, err := os.ReadFile(filepath.Join(e.cfg.Dir, "jobs", ids[0], recordFile))
		if err == nil {
			var r record
			if json.Unmarshal(b, &r) == nil {
				onDisk = r.Status
			}
		}
		if st, err := e.svc.Get(context.Background(), "", ids[0]); err == nil {
			shown = st.Status
		}
		return false
	}
	stop := e.run(e.svc)
	defer stop()
	st := e.mustSubmit("", "email\njane@acme.test\n", Options{})
	e.wait("", st.ID)
	if onDisk != StatusCompleted || shown != StatusRunning {
		t.Fatalf("while the end was being recorded: job.json said %q and Get %q, want completed on disk and running shown", onDisk, shown)
	}
}
