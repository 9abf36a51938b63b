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
	headerFile     = "header.json"
)

// legacyResultFiles are the results of the former layout, removed with the
// rest (a job resumed from it starts its results again).
var legacyResultFiles = []string{"results.csv", "results.ndjson", "rows.idx"}

// dataFiles are the files a canceled or failed job no longer needs; its
// record stays so the owner can see what happened.
var dataFiles = append([]string{uploadFile, resultsFile, checkpointFile, headerFile}, legacyResultFiles...)

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

// readHeader loads the header names of a job's upload (see record.Layout).
func readHeader(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, headerFile))
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	var h []string
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("decode %s: %w", headerFile, err)
	}
	return h, nil
}

// splitHeader moves a record's header into the job's header file: records
// written before the header had its own file carry it, and Open would
// otherwise keep every one of them in memory.
func splitHeader(dir string, rec *record) error {
	if rec.Layout.Header == nil {
		return nil
	}
	if rec.ColumnNames == nil {
		rec.ColumnNames = columnNames(rec.Layout)
	}
	if !rec.Status.Final() || rec.Status == StatusCompleted {
		b, err := json.Marshal(rec.Layout.Header)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(dir, headerFile, b); err != nil {
			return err
		}
	}
	rec.Layout.Header = nil
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(dir, recordFile, b)
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
// runs (deletion of a finished job, or expiry). The directory is first
// renamed into the trash, in one atomic step, and removed from there, so a
// crash at any point leaves the job either fully present (before the
// rename) or fully gone (after it: Open and Sweep empty the trash).
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
	if s.crashed("before rename") {
		return
	}
	tomb := filepath.Join(s.trashDir, j.rec.ID)
	err := os.Rename(s.jobDir(j.rec.ID), tomb)
	if err == nil {
		err = syncDir(s.jobsDir)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.cfg.Logger.Error("bulk: moving a deleted job to the trash", "job", j.rec.ID, "err", err)
		return
	}
	if s.crashed("after rename") {
		return
	}
	if err := s.removeTomb(tomb); err != nil {
		s.cfg.Logger.Warn("bulk: removing a deleted job; the next sweep retries", "job", j.rec.ID, "err", err)
	}
}

// removeTomb deletes a directory of the trash, file by file so that a
// test can stop it half-way.
func (s *Service) removeTomb(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	for i, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
		if i == 0 && s.crashed("mid remove") {
			return nil
		}
	}
	return os.Remove(dir)
}

// crashed reports whether a test asked a delete to stop at step, as a
// crash there would; a test may also look at the job's state from inside
// it. Always false outside tests.
func (s *Service) crashed(step string) bool {
	return s.crashAt != nil && s.crashAt(step)
}

// sweepDisk removes what a crash can leave on disk: the trash, job
// directories without a record (a job that was half-created or
// half-removed), the data files of canceled and failed jobs (whose
// records are saved before their files go), and upload folders no
// request is receiving any more. Open runs it before loading the jobs,
// Sweep after each retention pass.
func (s *Service) sweepDisk() {
	if entries, err := os.ReadDir(s.trashDir); err == nil {
		for _, e := range entries {
			if err := s.removeTomb(filepath.Join(s.trashDir, e.Name())); err != nil {
				s.cfg.Logger.Warn("bulk: emptying the trash", "entry", e.Name(), "err", err)
			}
		}
	}
	entries, err := os.ReadDir(s.jobsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !validID(e.Name()) {
			continue
		}
		id := e.Name()
		s.mu.Lock()
		j := s.jobs[id]
		var final bool
		if j != nil {
			final = j.rec.Status == StatusCanceled || j.rec.Status == StatusFailed
		}
		s.mu.Unlock()
		dir := s.jobDir(id)
		if j == nil {
			if _, err := os.Stat(filepath.Join(dir, recordFile)); !errors.Is(err, os.ErrNotExist) {
				continue // a record: load decides (or it is being created)
			}
			s.cfg.Logger.Warn("bulk: removing a job directory without a record", "job", id)
			tomb := filepath.Join(s.trashDir, id)
			if err := os.Rename(dir, tomb); err == nil {
				_ = s.removeTomb(tomb)
			}
			continue
		}
		if final {
			s.removeDataFiles(j)
		}
	}
	if uploads, err := os.ReadDir(s.tmpDir); err == nil {
		for _, e := range uploads {
			s.mu.Lock()
			active := s.uploads[e.Name()]
			s.mu.Unlock()
			if !active {
				_ = os.RemoveAll(filepath.Join(s.tmpDir, e.Name()))
			}
		}
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
