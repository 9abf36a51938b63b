package bulk

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/leadcheck/leadcheck/internal/safehttp"
)

// Webhook event types, one per way a job ends.
const (
	EventCompleted = "bulk.completed"
	EventFailed    = "bulk.failed"
	EventCanceled  = "bulk.canceled"
)

// secretPrefix starts every Standard Webhooks secret.
const secretPrefix = "whsec_"

// signer signs webhook messages the Standard Webhooks way. It is our own
// small code on purpose: the tests verify signatures with the reference
// library, so signer and verifier stay independent.
type signer struct{ key []byte }

// parseSecret reads "whsec_" + base64 of 24 to 64 random bytes; the key
// is the decoded bytes.
func parseSecret(secret string) (signer, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return signer{}, errors.New("webhook secret must start with whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return signer{}, errors.New("webhook secret: the part after whsec_ is not base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return signer{}, fmt.Errorf("webhook secret: the key is %d bytes; use 24 to 64", len(key))
	}
	return signer{key: key}, nil
}

// CheckWebhookSecret reports whether secret is usable, so configuration
// can be refused at start.
func CheckWebhookSecret(secret string) error {
	_, err := parseSecret(secret)
	return err
}

// sign returns the webhook-signature header value: "v1," + base64 of
// HMAC-SHA256(key, id "." unix-seconds "." body).
func (sg signer) sign(id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, sg.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// NewWebhookSecret returns a fresh secret of 32 random bytes.
func NewWebhookSecret() string {
	var b [32]byte
	_, _ = crand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return secretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// LoadOrCreateSecret reads the secret stored at path, or creates one there
// (mode 0600) when the file does not exist, so receivers can keep
// verifying across restarts without any configuration. created reports a
// new secret.
func LoadOrCreateSecret(path string) (secret string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		secret = strings.TrimSpace(string(b))
		if err := CheckWebhookSecret(secret); err != nil {
			return "", false, fmt.Errorf("%s: %w", path, err)
		}
		return secret, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("read webhook secret: %w", err)
	}
	secret = NewWebhookSecret()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateSecret(path) // another process won the race
		}
		return "", false, fmt.Errorf("create webhook secret: %w", err)
	}
	_, err = f.WriteString(secret + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", false, fmt.Errorf("write webhook secret: %w", err)
	}
	return secret, true, nil
}

// event is the body of a webhook.
type event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Status    `json:"data"`
}

// newWebhookEvent creates the job's end-of-job event, if it has a webhook
// URL and no event yet, and makes it due now. The body is fixed here: its
// data is the job as it ended (without the webhook state, which changes
// with each attempt). The caller persists the job.
func (s *Service) newWebhookEvent(j *job, outcome State) {
	s.mu.Lock()
	w := j.rec.Webhook
	if w == nil || w.EventID != "" || j.removed {
		s.mu.Unlock()
		return
	}
	err := w.arm(j.rec.ID, j.status(), outcome, s.cfg.Now().UTC())
	s.mu.Unlock()
	if err != nil {
		s.cfg.Logger.Error("bulk: encode webhook", "job", j.rec.ID, "err", err)
		return
	}
	s.signal(s.webhooks)
}

// arm fixes w's one event from st, the job's view as it ended (without the
// webhook state, which changes with each attempt), and makes it due at now.
func (w *webhookRecord) arm(id string, st Status, outcome State, now time.Time) error {
	st.Webhook = nil
	typ := map[State]string{StatusCompleted: EventCompleted, StatusFailed: EventFailed, StatusCanceled: EventCanceled}[outcome]
	body, err := json.Marshal(event{Type: typ, Timestamp: now, Data: st})
	if err != nil {
		return err
	}
	w.EventID = "msg_" + id
	w.Body = body
	w.NextAttemptAt = &now
	return nil
}

// retryMultipliers scale WebhookBackoff for each retry: with the default
// 5s, the delays are 5s, 30s, 2m, 10m, 1h, 4h, 8h and 12h (about 26 hours
// in all), each with ±20% jitter so that many jobs ending together do not
// retry together. Attempts stop after the last one.
var retryMultipliers = [...]int64{1, 6, 24, 120, 720, 2880, 5760, 8640}

// maxAttempts is the first attempt plus one per retry.
const maxAttempts = 1 + len(retryMultipliers)

// maxRetryDelay caps any delay, Retry-After included.
const maxRetryDelay = 24 * time.Hour

// retryDelay is the wait after the failed attempt number n (1-based).
func retryDelay(base time.Duration, n int) time.Duration {
	i := min(max(n-1, 0), len(retryMultipliers)-1)
	d := time.Duration(retryMultipliers[i]) * base
	jitter := 0.8 + 0.4*rand.Float64()
	return min(time.Duration(float64(d)*jitter), maxRetryDelay)
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return min(time.Duration(secs)*time.Second, maxRetryDelay)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryDelay)
	}
	return 0
}

// runWebhooks delivers due webhooks until ctx ends, at most 8 at once.
func (s *Service) runWebhooks(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, 8)
	for {
		due, wait := s.dueWebhooks(s.cfg.Now())
		for _, j := range due {
			wg.Go(func() {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					s.mu.Lock()
					s.releaseDeliveryLocked(j)
					s.mu.Unlock()
					return
				}
				defer func() { <-sem }()
				s.deliver(ctx, j)
			})
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-s.webhooks:
			t.Stop()
		}
	}
}

// dueWebhooks claims the webhooks due at now and says how long until the
// next one.
func (s *Service) dueWebhooks(now time.Time) ([]*job, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait := time.Hour
	var due []*job
	for _, j := range s.jobs {
		w := j.rec.Webhook
		if w == nil || w.Done || w.EventID == "" || w.NextAttemptAt == nil || j.delivering {
			continue
		}
		if d := w.NextAttemptAt.Sub(now); d > 0 {
			wait = min(wait, d)
			continue
		}
		host := destination(w.URL)
		if s.webhookHosts[host] >= s.cfg.WebhookPerDestination {
			// Its host has all the slots it may have; the end of one of
			// those deliveries signals, and this one goes then.
			continue
		}
		s.webhookHosts[host]++
		j.delivering = true
		due = append(due, j)
	}
	return due, wait
}

// releaseDeliveryLocked ends a delivery claimed by dueWebhooks. Call with
// s.mu held.
func (s *Service) releaseDeliveryLocked(j *job) {
	if !j.delivering {
		return
	}
	j.delivering = false
	host := destination(j.rec.Webhook.URL)
	if s.webhookHosts[host]--; s.webhookHosts[host] <= 0 {
		delete(s.webhookHosts, host)
	}
}

// destination is what the per-destination bound counts: the URL's host
// and port.
func destination(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Host)
}

// signerFor is the signer of caller's webhooks: its own secret when
// WebhookSecrets gives one, the service's otherwise (nil: unsigned).
func (s *Service) signerFor(caller string) *signer {
	if s.cfg.WebhookSecrets == nil {
		return s.signer
	}
	s.signersMu.Lock()
	defer s.signersMu.Unlock()
	if sg, ok := s.signers[caller]; ok {
		return sg
	}
	sg := s.signer
	if secret := s.cfg.WebhookSecrets(caller); secret != "" {
		if parsed, err := parseSecret(secret); err == nil {
			sg = &parsed
		} else {
			// Secrets are checked at start; one that slips through is
			// not silently replaced by the shared one.
			s.cfg.Logger.Error("bulk: unusable webhook secret for a key; its webhooks go unsigned", "caller", caller, "err", err)
			sg = nil
		}
	}
	s.signers[caller] = sg
	return sg
}

// webhookOutcome is what one delivery attempt came to.
type webhookOutcome struct {
	attempt    WebhookAttempt
	delivered  bool
	giveUp     bool          // no more attempts: gone, or blocked
	retryAfter time.Duration // the receiver's Retry-After, 0 if none
	aborted    bool          // shutdown: not an attempt; try again later
}

// sendWebhook makes one delivery attempt of an event, signed by sg (nil:
// unsigned), and says how it went. Both stores deliver through it.
func (s *Service) sendWebhook(ctx context.Context, target, id string, body []byte, sg *signer) webhookOutcome {
	// Each delivery has its own budget, whatever the client's settings: a
	// receiver that trickles its answer cannot hold the slot longer.
	stop := ctx
	ctx, cancel := context.WithTimeout(ctx, s.cfg.WebhookTimeout)
	defer cancel()
	sent := s.cfg.Now()
	out := webhookOutcome{attempt: WebhookAttempt{At: sent.UTC()}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	var resp *http.Response
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(sent.Unix(), 10))
		if sg != nil {
			req.Header.Set("webhook-signature", sg.sign(id, sent, body))
		}
		resp, err = s.cfg.WebhookClient.Do(req)
	}
	if stop.Err() != nil {
		if resp != nil {
			resp.Body.Close()
		}
		out.aborted = true
		return out
	}
	if resp != nil {
		out.attempt.StatusCode = resp.StatusCode
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	switch {
	case err != nil && errors.Is(err, safehttp.ErrBlocked):
		// Resolving the same name again will give the same kind of
		// address; retrying only knocks on the internal network again.
		out.attempt.Error, out.giveUp = "blocked: destination is not a public address", true
	case err != nil && errors.Is(err, safehttp.ErrRedirect), resp != nil && resp.StatusCode >= 300 && resp.StatusCode < 400:
		out.attempt.Error = "redirect not followed: point webhook_url at the final address"
	case err != nil:
		out.attempt.Error = describeSendError(err, s.cfg.WebhookTimeout)
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		out.delivered = true
	case resp.StatusCode == http.StatusGone:
		out.attempt.Error, out.giveUp = "gone: the receiver answered 410, so no more attempts are made", true
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		out.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), sent)
	}
	s.metrics().WebhookAttempt(out.attempt.StatusCode, webhookFailure(err))
	return out
}

// deliver makes one attempt and schedules the next, if any.
func (s *Service) deliver(ctx context.Context, j *job) {
	s.mu.Lock()
	w := j.rec.Webhook
	target, id, body, caller := w.URL, w.EventID, w.Body, j.rec.Caller
	s.mu.Unlock()

	out := s.sendWebhook(ctx, target, id, body, s.signerFor(caller))
	if out.aborted {
		s.mu.Lock()
		s.releaseDeliveryLocked(j)
		s.mu.Unlock()
		return
	}
	attempt, delivered, giveUp, retryAfter := out.attempt, out.delivered, out.giveUp, out.retryAfter
	s.mu.Lock()
	w.Attempts = append(w.Attempts, attempt)
	switch {
	case delivered:
		w.Delivered, w.Done, w.NextAttemptAt = true, true, nil
	case giveUp || len(w.Attempts) >= maxAttempts:
		w.Done, w.NextAttemptAt = true, nil
	default:
		next := s.cfg.Now().Add(max(retryDelay(s.cfg.WebhookBackoff, len(w.Attempts)), retryAfter)).UTC()
		w.NextAttemptAt = &next
	}
	n := len(w.Attempts)
	s.releaseDeliveryLocked(j)
	s.mu.Unlock()
	s.persist(j)
	s.signal(s.webhooks)
	s.cfg.Logger.Info("bulk: webhook attempt", "job", j.rec.ID, "attempt", n, "status", attempt.StatusCode, "delivered", delivered, "error", attempt.Error)
}

// describeSendError says why no answer came, in terms a receiver's
// operator can act on.
func describeSendError(err error, timeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("timeout: no answer within %s", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "the host name does not resolve"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return "request failed: " + err.Error()
}
