package bulk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The files of a job directory (see the package doc).
const (
	recordFile     = "job.json"
	uploadFile     = "upload"
	resultsFile    = "results.zst"
	checkpointFile = "checkpoint.json"
)

// legacyResultFiles are the results of the former layout, removed with the
// rest (a job resumed from it starts its results again).
var legacyResultFiles = []string{"results.csv", "results.ndjson", "rows.idx"}

// dataFiles are the files a canceled or failed job no longer needs; its
// record stays so the owner can see what happened.
var dataFiles = append([]string{uploadFile, resultsFile, checkpointFile}, legacyResultFiles...)

func (s *Service) jobDir(id string) string { return filepath.Join(s.jobsDir, id) }

func readRecord(path string) (record, error) {
	var rec record
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	if !validID(rec.ID) || filepath.Base(filepath.Dir(path)) != rec.ID {
		return rec, fmt.Errorf("%s: id %q does not match its directory", filepath.Base(path), rec.ID)
	}
	return rec, nil
}

// writeFileAtomic replaces dir/name with data so that a crash leaves
// either the old or the new content, never a mix: write a temp file in the
// same directory, fsync it, rename it over, fsync the directory.
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename or a new file in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// persist writes the job's record. Snapshots are taken under persistMu, so
// two concurrent persists cannot write an older state last. A job that has
// been removed is not written (its directory is gone or going).
func (s *Service) persist(j *job) {
	j.persistMu.Lock()
	defer j.persistMu.Unlock()
	s.mu.Lock()
	removed := j.removed
	b, err := json.MarshalIndent(&j.rec, "", "  ")
	id := j.rec.ID
	s.mu.Unlock()
	if removed {
		return
	}
	if err == nil {
		err = writeFileAtomic(s.jobDir(id), recordFile, b)
	}
	if err != nil {
		s.mu.Lock()
		removed = j.removed
		s.mu.Unlock()
		if !removed {
			s.cfg.Logger.Error("bulk: saving job record", "job", id, "err", err)
		}
	}
}

// removeDataFiles deletes a job's upload, results and checkpoint, keeping
// its record.
func (s *Service) removeDataFiles(j *job) {
	j.persistMu.Lock()
	defer j.persistMu.Unlock()
	dir := s.jobDir(j.rec.ID)
	for _, name := range dataFiles {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.cfg.Logger.Error("bulk: removing job file", "job", j.rec.ID, "file", name, "err", err)
		}
	}
}

// remove forgets a job and deletes its directory, canceling it first if it
// runs (deletion of a finished job, or expiry).
func (s *Service) remove(ctx context.Context, j *job) {
	s.mu.Lock()
	if j.removed {
		s.mu.Unlock()
		return
	}
	j.removed = true
	j.cancelRequested = true
	delete(s.jobs, j.rec.ID)
	cancel, done := j.cancel, j.done
	running := j.running
	s.mu.Unlock()
	if running {
		if cancel != nil {
			cancel()
		}
		s.waitStopped(ctx, done)
	}
	j.persistMu.Lock()
	defer j.persistMu.Unlock()
	if err := os.RemoveAll(s.jobDir(j.rec.ID)); err != nil {
		s.cfg.Logger.Error("bulk: removing job", "job", j.rec.ID, "err", err)
	}
}

// waitStopped waits for a runner to stop after its cancel, bounded so a
// stuck enrichment call cannot hang a DELETE; workers check the context
// between rows, so this normally takes milliseconds.
func (s *Service) waitStopped(ctx context.Context, done <-chan struct{}) {
	if done == nil {
		return
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-ctx.Done():
	case <-t.C:
	}
}
