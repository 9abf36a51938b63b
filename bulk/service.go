package bulk

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Get returns the status of caller's job id. Another caller's job is
// reported as not found, never as forbidden: ids are not to be probed.
func (s *Service) Get(_ context.Context, caller, id string) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.lookup(caller, id)
	if j == nil {
		return Status{}, errNotFound
	}
	return j.status(), nil
}

// lookup finds caller's job. Call with s.mu held.
func (s *Service) lookup(caller, id string) *job {
	if !validID(id) {
		return nil
	}
	j := s.jobs[id]
	if j == nil || j.rec.Caller != caller {
		return nil
	}
	return j
}

// Page is one page of a caller's jobs, newest first.
type Page struct {
	Jobs []Status `json:"jobs"`
	// NextCursor continues the listing; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// List returns caller's jobs, newest first, limit at a time (1–100,
// default 20). cursor is the NextCursor of the previous page, or empty.
func (s *Service) List(_ context.Context, caller string, limit int, cursor string) (Page, error) {
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > 100 {
		return Page{}, invalid("limit", "invalid_limit", "limit must be between 1 and 100")
	}
	var after *cursorPos
	if cursor != "" {
		pos, err := decodeCursor(cursor)
		if err != nil {
			return Page{}, invalid("cursor", "invalid_cursor", "cursor is not one this server gave out; pass the next_cursor of the previous page, or none for the first page")
		}
		after = &pos
	}
	s.mu.Lock()
	var mine []*job
	for _, j := range s.jobs {
		if j.rec.Caller == caller && (after == nil || after.before(j.rec.CreatedAt, j.rec.ID)) {
			mine = append(mine, j)
		}
	}
	slices.SortFunc(mine, func(a, b *job) int {
		return cmp.Or(b.rec.CreatedAt.Compare(a.rec.CreatedAt), strings.Compare(b.rec.ID, a.rec.ID))
	})
	page := Page{Jobs: []Status{}}
	for i, j := range mine {
		if i == limit {
			last := mine[i-1]
			page.NextCursor = encodeCursor(cursorPos{created: last.rec.CreatedAt, id: last.rec.ID})
			break
		}
		page.Jobs = append(page.Jobs, j.status())
	}
	s.mu.Unlock()
	return page, nil
}

// cursorPos is the last job of a page: the next page holds the jobs that
// sort after it (older, or as old with a smaller id).
type cursorPos struct {
	created time.Time
	id      string
}

// before reports whether a job created at created with id comes after the
// cursor in newest-first order.
func (c cursorPos) before(created time.Time, id string) bool {
	if !created.Equal(c.created) {
		return created.Before(c.created)
	}
	return id < c.id
}

// encodeCursor makes an opaque cursor: base64url of "v1.<unix nanos>.<id>".
func encodeCursor(p cursorPos) string {
	raw := "v1." + strconv.FormatInt(p.created.UnixNano(), 10) + "." + p.id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor parses what encodeCursor made and refuses anything else.
func decodeCursor(s string) (cursorPos, error) {
	if len(s) > 200 {
		return cursorPos{}, fmt.Errorf("cursor too long")
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return cursorPos{}, fmt.Errorf("cursor: %w", err)
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != "v1" || !validID(parts[2]) {
		return cursorPos{}, fmt.Errorf("cursor: bad shape")
	}
	nanos, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || nanos < 0 || strconv.FormatInt(nanos, 10) != parts[1] {
		return cursorPos{}, fmt.Errorf("cursor: bad time")
	}
	return cursorPos{created: time.Unix(0, nanos).UTC(), id: parts[2]}, nil
}

// Delete cancels caller's job if it is queued or running (its upload and
// results are deleted, the record stays with status canceled, and the
// webhook says bulk.canceled), or forgets a finished job entirely. A
// running job's workers stop between rows, so this returns within about a
// second.
func (s *Service) Delete(ctx context.Context, caller, id string) error {
	s.mu.Lock()
	j := s.lookup(caller, id)
	if j == nil {
		s.mu.Unlock()
		return errNotFound
	}
	if j.rec.Status.Final() {
		s.mu.Unlock()
		s.remove(ctx, j)
		s.cfg.Logger.Info("bulk: job deleted", "job", id)
		return nil
	}
	now := s.cfg.Now().UTC()
	j.cancelRequested = true
	j.rec.Status = StatusCanceled
	j.rec.FinishedAt = &now
	running, cancel, done := j.running, j.cancel, j.done
	s.mu.Unlock()
	if running {
		// The runner sees the cancel, cleans up and sends the webhook.
		if cancel != nil {
			cancel()
		}
		s.waitStopped(ctx, done)
		return nil
	}
	// The record first: a crash before the files are gone leaves a
	// canceled job whose files the next start sweeps, never a queued job
	// without its upload.
	s.newWebhookEvent(j, StatusCanceled)
	s.persist(j)
	s.removeDataFiles(j)
	s.cfg.Logger.Info("bulk: job canceled", "job", id)
	return nil
}
