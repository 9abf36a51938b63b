package bulk

import (
	"errors"

	"github.com/leadcheck/leadcheck/internal/safehttp"
	"github.com/leadcheck/leadcheck/validate"
)

// Metrics is what the service reports to the process's metrics
// (*metrics.Recorder implements it).
type Metrics interface {
	// BulkRow counts one row by the verdict in its output; res is nil for
	// a row refused as input.
	BulkRow(verdict string, res *validate.Result)
	// WebhookAttempt counts one delivery attempt: the receiver's status (0
	// without an answer) and, when nothing usable came back, why
	// ("blocked", "redirect", "error").
	WebhookAttempt(status int, failure string)
}

// noMetrics counts nothing.
type noMetrics struct{}

func (noMetrics) BulkRow(string, *validate.Result) {}
func (noMetrics) WebhookAttempt(int, string)       {}

func (s *Service) metrics() Metrics {
	if s.cfg.Metrics == nil {
		return noMetrics{}
	}
	return s.cfg.Metrics
}

// webhookFailure names why an attempt got no answer; "" when one came.
func webhookFailure(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, safehttp.ErrBlocked):
		return "blocked"
	case errors.Is(err, safehttp.ErrRedirect):
		return "redirect"
	}
	return "error"
}

// JobStates are the states a job can be in, in the order of its life.
var JobStates = []State{StatusQueued, StatusRunning, StatusCompleted, StatusFailed, StatusCanceled}

// JobCounts returns how many jobs this instance keeps in each state, for
// the leadcheck_bulk_jobs gauge.
func (s *Service) JobCounts() map[State]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[State]int, len(JobStates))
	for _, j := range s.jobs {
		out[j.rec.Status]++
	}
	return out
}
