package bulk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ResultsPerInputByte is how many bytes of results a job may write per
// byte of its decoded input: the results storage keeps a job within 10×
// its uncompressed size. Admission reserves that much for every accepted
// job until its results are written, so an accepted job is never starved
// of disk by uploads that came after it.
const ResultsPerInputByte = 10

// diskCheckEvery is how many bytes an upload writes between two checks of
// the free space and the key's budget.
const diskCheckEvery = 4 << 20

// KindInsufficientStorage: the disk cannot take the upload now (its
// reserve or the key's budget would be crossed, or it is full); the API
// answers 507.
const KindInsufficientStorage Kind = 100

// freeSpace is the space an unprivileged writer may still use under dir.
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// dirSize is the bytes of the files directly in dir.
func dirSize(dir string) int64 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && !fi.IsDir() {
			n += fi.Size()
		}
	}
	return n
}

// diskUse is what job j takes and will still take. held is its share of
// its owner's budget; pending is what it will still write (reserved from
// the free space). Call with s.mu held.
func (s *Service) diskUse(j *job) (held, pending int64) {
	r := &j.rec
	switch r.Status {
	case StatusQueued:
		return r.UploadBytes + r.ResultsEstimate, r.ResultsEstimate
	case StatusRunning:
		written := dirSize(s.jobDir(r.ID)) - r.UploadBytes
		return r.UploadBytes + max(r.ResultsEstimate, written), max(r.ResultsEstimate-written, 0)
	case StatusCompleted:
		// The bound, not a measure: it needs no I/O under the lock, and
		// the results storage keeps the job within it.
		return r.UploadBytes + r.ResultsEstimate, 0
	}
	return 0, 0 // failed and canceled jobs keep only their record
}

// diskState sums diskUse: the pending writes of every job, and what
// caller's jobs hold. Call with s.mu held.
func (s *Service) diskState(caller string) (pending, held int64) {
	for _, j := range s.jobs {
		h, p := s.diskUse(j)
		pending += p
		if j.rec.Caller == caller {
			held += h
		}
	}
	return pending, held
}

// admitDisk refuses, with a KindInsufficientStorage *Error, when writing
// more bytes for caller (a new upload's next bytes, or a new job's
// results) would take the free space below the reserve once every
// accepted job has its results, or would take caller past its budget.
// received is what caller's upload in flight already holds on disk.
// Call with s.admitMu held when the answer admits a job.
func (s *Service) admitDisk(caller string, received, more int64) error {
	free, err := freeSpace(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("free space: %w", err)
	}
	s.mu.Lock()
	pending, held := s.diskState(caller)
	s.mu.Unlock()
	if free-pending-more < s.cfg.DiskReserve {
		s.cfg.Logger.Warn("bulk: upload refused: the disk reserve would be crossed", "cause", "disk_reserve",
			"free", free, "pending_results", pending, "needed", more, "reserve", s.cfg.DiskReserve)
		return &Error{Kind: KindInsufficientStorage, Code: "insufficient_storage", Field: "file", Message: fmt.Sprintf(
			"the server has too little free disk for this upload once the jobs it accepted have written their results (it keeps %d bytes free, the server's LEADCHECK_BULK_DISK_RESERVE); retry later", s.cfg.DiskReserve)}
	}
	if s.cfg.DiskPerKey > 0 && held+received+more > s.cfg.DiskPerKey {
		s.cfg.Logger.Warn("bulk: upload refused: the key's disk budget would be crossed", "cause", "key_budget",
			"held", held, "received", received, "needed", more, "budget", s.cfg.DiskPerKey)
		return &Error{Kind: KindInsufficientStorage, Code: "insufficient_storage", Field: "file", Message: fmt.Sprintf(
			"this key's jobs would take more than %d bytes of disk, its budget (the server's LEADCHECK_BULK_DISK_PER_KEY; a job takes its upload plus up to %d× its uncompressed size for results); delete finished jobs or wait for them to expire",
			s.cfg.DiskPerKey, ResultsPerInputByte)}
	}
	return nil
}

// diskFull is the refusal of an upload whose write failed for want of
// space: the disk filled up from outside the admission's accounting.
func (s *Service) diskFull(err error) error {
	s.cfg.Logger.Warn("bulk: upload refused: the disk is full", "cause", "disk_full", "err", err)
	return &Error{Kind: KindInsufficientStorage, Code: "insufficient_storage", Field: "file",
		Message: "the server's disk is full; retry later"}
}

// isNoSpace reports a write that failed for want of disk space or quota.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// uploadWriter writes an upload to its file, checking every
// diskCheckEvery bytes that the disk and the key's budget can take more,
// and keeping the first write error apart from errors reading the body.
type uploadWriter struct {
	u       *Upload
	f       io.Writer
	n       int64
	checked int64
	err     error
}

func (w *uploadWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.checked+diskCheckEvery {
		if err := w.u.svc.admitDisk(w.u.caller, w.n, int64(len(p))); err != nil {
			w.err = err
			return 0, err
		}
		w.checked = w.n
	}
	w.u.svc.cpu.paceReceive(len(p))
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = err
		if isNoSpace(err) {
			w.err = w.u.svc.diskFull(err)
		}
		return n, w.err
	}
	return n, nil
}
