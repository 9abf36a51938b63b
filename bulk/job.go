package bulk

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"maps"
	"sync"
	"time"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/validate"
)

// State is where a job is in its life. Clients poll until it is one of the
// final three.
type State string

// The states of a job: queued → running → completed | failed | canceled
// (canceled also straight from queued).
const (
	StatusQueued    State = "queued"
	StatusRunning   State = "running"
	StatusCompleted State = "completed"
	StatusFailed    State = "failed"
	StatusCanceled  State = "canceled"
)

// Final reports whether the job will not change any more.
func (s State) Final() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCanceled
}

// Counts are the rows per lead verdict, and the rows whose phone needed a
// country (counted under their verdict too).
type Counts struct {
	Valid         int `json:"valid"`
	Invalid       int `json:"invalid"`
	Risky         int `json:"risky"`
	Unknown       int `json:"unknown"`
	CountryNeeded int `json:"country_needed"`
}

func (c *Counts) add(v validate.Verdict, n int) {
	switch v {
	case validate.Valid:
		c.Valid += n
	case validate.Invalid:
		c.Invalid += n
	case validate.Risky:
		c.Risky += n
	default:
		c.Unknown += n
	}
}

func (c *Counts) addAll(o Counts) {
	c.Valid += o.Valid
	c.Invalid += o.Invalid
	c.Risky += o.Risky
	c.Unknown += o.Unknown
	c.CountryNeeded += o.CountryNeeded
}

// Status is a job as clients see it: the BulkJob schema of openapi.yaml.
// The API answers it as is and webhooks carry it as their data.
type Status struct {
	ID            string            `json:"id"`
	Name          string            `json:"name,omitempty"`
	Status        State             `json:"status"`
	TotalRows     int               `json:"total_rows"`
	ProcessedRows int               `json:"processed_rows"`
	Counts        Counts            `json:"counts"`
	Format        string            `json:"format,omitempty"`
	Columns       map[string]string `json:"columns,omitempty"`
	RaggedRows    int               `json:"ragged_rows"`
	// SMTPPendingRows counts, for jobs with smtp, the rows whose mailbox
	// check has not finished.
	SMTPPendingRows *int          `json:"smtp_pending_rows,omitempty"`
	CreatedAt       time.Time     `json:"created_at"`
	StartedAt       *time.Time    `json:"started_at"`
	FinishedAt      *time.Time    `json:"finished_at"`
	ExpiresAt       time.Time     `json:"expires_at"`
	ETASeconds      *int64        `json:"eta_seconds"`
	Error           *string       `json:"error"`
	ResultsURL      string        `json:"results_url,omitempty"`
	Webhook         *WebhookState `json:"webhook,omitempty"`
	Advice          []Advice      `json:"advice,omitempty"`
}

// Advice is something to change in a new submission for better results.
type Advice struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// WebhookState is the delivery state of a job's webhook.
type WebhookState struct {
	URL           string           `json:"url"`
	Delivered     bool             `json:"delivered"`
	Attempts      []WebhookAttempt `json:"attempts"`
	NextAttemptAt *time.Time       `json:"next_attempt_at"`
}

// WebhookAttempt is one delivery attempt: the status the receiver answered
// or why there was none.
type WebhookAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// record is what job.json holds: everything needed to serve the job's
// status and to resume it after a restart.
type record struct {
	ID            string     `json:"id"`
	Caller        string     `json:"caller"`
	Name          string     `json:"name,omitempty"`
	Status        State      `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	StartedAt     *time.Time `json:"started_at,omitempty"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	ExpiresAt     time.Time  `json:"expires_at"`
	TotalRows     int        `json:"total_rows"`
	ProcessedRows int        `json:"processed_rows"`
	Counts        Counts     `json:"counts"`
	RaggedRows    int        `json:"ragged_rows"`
	// Layout is how to read the upload, without its Header: the header
	// lives in its own file (headerFile), so that the records Open loads
	// stay small whatever the file's shape.
	Layout ingest.Layout `json:"layout"`
	// ColumnNames maps each role used to its header name, shortened to
	// maxColumnName bytes, for the status.
	ColumnNames map[string]string `json:"column_names,omitempty"`
	// UploadBytes is the upload's size on disk; ResultsEstimate the most
	// its results may take (ResultsPerInputByte × its decoded size), held
	// against the disk until they are written.
	UploadBytes     int64 `json:"upload_bytes,omitempty"`
	ResultsEstimate int64 `json:"results_estimate,omitempty"`
	// DefaultCountry is the upper-cased region for rows without a usable
	// country cell.
	DefaultCountry string `json:"default_country,omitempty"`
	Enrich         bool   `json:"enrich,omitempty"`
	SMTP           bool   `json:"smtp,omitempty"`
	// Error is the client-facing reason of a failure.
	Error   string         `json:"error,omitempty"`
	Webhook *webhookRecord `json:"webhook,omitempty"`
}

// webhookRecord is the persisted delivery state of the one event a job
// sends when it ends. Body is fixed when the event is created, so every
// retry sends the same bytes under the same webhook-id.
type webhookRecord struct {
	URL           string           `json:"url"`
	EventID       string           `json:"event_id,omitempty"`
	Body          json.RawMessage  `json:"body,omitempty"`
	Attempts      []WebhookAttempt `json:"attempts"`
	NextAttemptAt *time.Time       `json:"next_attempt_at,omitempty"`
	Delivered     bool             `json:"delivered"`
	// Done is true once no more attempts will be made (delivered, gone,
	// blocked or out of retries).
	Done bool `json:"done"`
}

// job is a record plus the runtime state of its runner. Every field is
// guarded by Service.mu except persistMu.
type job struct {
	rec record
	// running is true while a runner owns the job; cancel stops it and
	// done is closed when it has stopped.
	running bool
	cancel  context.CancelFunc
	done    chan struct{}
	// cancelRequested is set by Delete and by the sweeper; removed is set
	// once the job is forgotten and its directory goes.
	cancelRequested bool
	removed         bool
	eta             etaWindow
	etaSeconds      *int64
	// delivering is true while a webhook delivery is in flight.
	delivering bool
	// smtpPending is the rows still waiting on SMTP, for Status; -1 before
	// the job has counted them.
	smtpPending int
	// persistMu orders writes of job.json: the snapshot is taken under it.
	persistMu sync.Mutex
}

// status builds the client view. Call with Service.mu held.
func (j *job) status() Status { return j.statusOf(&j.rec) }

// statusOf builds the client view of r with j's runtime state.
func (j *job) statusOf(r *record) Status {
	st := Status{
		ID:            r.ID,
		Name:          r.Name,
		Status:        r.Status,
		TotalRows:     r.TotalRows,
		ProcessedRows: r.ProcessedRows,
		Counts:        r.Counts,
		Format:        string(r.Layout.Format),
		Columns:       maps.Clone(r.ColumnNames),
		RaggedRows:    r.RaggedRows,
		CreatedAt:     r.CreatedAt,
		StartedAt:     cloneTime(r.StartedAt),
		FinishedAt:    cloneTime(r.FinishedAt),
		ExpiresAt:     r.ExpiresAt,
	}
	if r.Status == StatusRunning && j.etaSeconds != nil {
		eta := *j.etaSeconds
		st.ETASeconds = &eta
	}
	if r.Status == StatusQueued || r.Status == StatusRunning || r.Status == StatusCompleted {
		st.ResultsURL = "/v1/bulk/" + r.ID + "/results"
	}
	if r.Error != "" {
		e := r.Error
		st.Error = &e
	}
	st.Advice = adviceFor(r)
	if r.SMTP && r.Status == StatusRunning && j.smtpPending >= 0 {
		n := j.smtpPending
		st.SMTPPendingRows = &n
	}
	if w := r.Webhook; w != nil {
		st.Webhook = &WebhookState{
			URL:           w.URL,
			Delivered:     w.Delivered,
			Attempts:      append([]WebhookAttempt{}, w.Attempts...),
			NextAttemptAt: cloneTime(w.NextAttemptAt),
		}
	}
	return st
}

// maxColumnName bounds a column name kept in a job record.
const maxColumnName = 256

// columnNames is what a record keeps of the header: the names of the
// columns used, each at most maxColumnName bytes (cut on a rune boundary).
func columnNames(l ingest.Layout) map[string]string {
	names := l.Columns.Names(l.Header)
	for role, n := range names {
		if len(n) > maxColumnName {
			cut := maxColumnName
			for cut > 0 && n[cut]&0xC0 == 0x80 {
				cut--
			}
			names[role] = n[:cut]
		}
	}
	return names
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// newID returns a fresh job id: 16 random bytes in hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// validID reports whether id has the shape newID makes, so no other string
// ever reaches the file system.
func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
