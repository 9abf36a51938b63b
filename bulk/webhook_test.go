package bulk

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/safehttp"
)

// receiver is a webhook endpoint that answers from a script of statuses
// (the last one repeats) and keeps every delivery.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	statuses []int
	header   http.Header // extra response headers
	got      []delivery
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses, header: http.Header{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{header: req.Header.Clone(), body: body})
		status := r.statuses[min(len(r.got), len(r.statuses))-1]
		for k, v := range r.header {
			w.Header()[k] = v
		}
		r.mu.Unlock()
		if status >= 300 && status < 400 {
			http.Redirect(w, req, "/elsewhere", status)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// waitWebhook polls until the job's webhook is done.
func (e *testEnv) waitWebhook(id string) WebhookState {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.store.Get(context.Background(), "", id)
		if err != nil {
			e.t.Fatal(err)
		}
		if w := st.Webhook; w != nil && len(w.Attempts) > 0 && w.NextAttemptAt == nil {
			return *w
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("webhook not done after 20s: %+v", st.Webhook)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhookSignedAndRetried: the receiver fails twice, then accepts.
// Every delivery verifies with the Standard Webhooks reference library,
// carries the same id and body, and the attempts show in the status.
func TestWebhookSignedAndRetried(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		secret := NewWebhookSecret()
		rcv := newReceiver(t, 500, 503, 204)
		e := newStoreEnv(t, kind, dnstest.Config{}, func(c *Config) {
			c.WebhookSecret = secret
			c.AllowPrivateWebhooks = true
		})
		e.start()
		st := e.mustSubmit("", "email\njane@acme.test\nkim@missing.test\n", Options{WebhookURL: rcv.srv.URL + "/hook"})
		if st.Webhook == nil || st.Webhook.URL != rcv.srv.URL+"/hook" || len(st.Webhook.Attempts) != 0 {
			t.Errorf("submitted: got webhook %+v", st.Webhook)
		}
		w := e.waitWebhook(st.ID)
		if !w.Delivered || len(w.Attempts) != 3 {
			t.Fatalf("got %+v, want delivered after 3 attempts", w)
		}
		for i, want := range []int{500, 503, 204} {
			if w.Attempts[i].StatusCode != want {
				t.Errorf("attempt %d: got status %d, want %d", i+1, w.Attempts[i].StatusCode, want)
			}
		}
		verifier, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		got := rcv.deliveries()
		if len(got) != 3 {
			t.Fatalf("receiver got %d deliveries, want 3", len(got))
		}
		for i, d := range got {
			if err := verifier.Verify(d.body, d.header); err != nil {
				t.Errorf("delivery %d does not verify: %v", i+1, err)
			}
			if d.header.Get("webhook-id") != got[0].header.Get("webhook-id") || string(d.body) != string(got[0].body) {
				t.Errorf("delivery %d: id or body differs from the first", i+1)
			}
			if ct := d.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("delivery %d: Content-Type %q", i+1, ct)
			}
		}
		var ev struct {
			Type      string    `json:"type"`
			Timestamp time.Time `json:"timestamp"`
			Data      Status    `json:"data"`
		}
		if err := json.Unmarshal(got[0].body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != EventCompleted || ev.Data.ID != st.ID || ev.Data.Status != StatusCompleted ||
			ev.Data.Counts.Valid != 1 || ev.Data.Counts.Invalid != 1 || ev.Timestamp.IsZero() {
			t.Errorf("event: got %+v", ev)
		}
		// A tampered body does not verify: the check above is not vacuous.
		if err := verifier.Verify(append([]byte(" "), got[0].body...), got[0].header); err == nil {
			t.Error("a tampered body verified")
		}
	})
}

func TestWebhookStops(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		tests := []struct {
			name      string
			statuses  []int
			attempts  int
			wantError string
		}{
			{"gone", []int{410}, 1, "gone: the receiver answered 410, so no more attempts are made"},
			{"redirect", []int{302, 302, 200}, 3, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				rcv := newReceiver(t, tt.statuses...)
				e := newStoreEnv(t, kind, dnstest.Config{}, func(c *Config) { c.AllowPrivateWebhooks = true })
				e.start()
				st := e.mustSubmit("", "email\njane@acme.test\n", Options{WebhookURL: rcv.srv.URL})
				w := e.waitWebhook(st.ID)
				if len(w.Attempts) != tt.attempts {
					t.Fatalf("got %d attempts (%+v), want %d", len(w.Attempts), w.Attempts, tt.attempts)
				}
				if tt.wantError != "" && w.Attempts[0].Error != tt.wantError {
					t.Errorf("error: got %q, want %q", w.Attempts[0].Error, tt.wantError)
				}
				if tt.name == "redirect" {
					if w.Attempts[0].StatusCode != 302 || w.Attempts[0].Error == "" {
						t.Errorf("redirect attempt: got %+v, want 302 with an error", w.Attempts[0])
					}
					// The redirect target was never asked.
					for _, d := range rcv.deliveries() {
						if d.header.Get("webhook-id") == "" {
							t.Error("the redirect was followed")
						}
					}
				}
			})
		}
	})
}

// TestWebhookBlocked: with the production client, a loopback receiver is
// refused at dial time and not retried.
func TestWebhookBlocked(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 200)
	e := newTestEnv(t, dnstest.Config{}, func(c *Config) {
		c.AllowPrivateWebhooks = true // pass the submit check; the dialer decides
		c.WebhookClient = safehttp.NewClient(safehttp.Options{Timeout: 5 * time.Second})
	})
	e.run(e.svc)
	st := e.mustSubmit("", "email\njane@acme.test\n", Options{WebhookURL: rcv.srv.URL})
	w := e.waitWebhook(st.ID)
	if len(w.Attempts) != 1 || w.Attempts[0].Error != "blocked: destination is not a public address" || w.Delivered {
		t.Errorf("got %+v, want one blocked attempt", w)
	}
	if n := len(rcv.deliveries()); n != 0 {
		t.Errorf("receiver got %d deliveries, want 0", n)
	}
	e.cfg.WebhookClient.CloseIdleConnections()
}

// TestWebhookCanceledEvent: canceling a queued job sends bulk.canceled.
func TestWebhookCanceledEvent(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		rcv := newReceiver(t, 200)
		e := newStoreEnv(t, kind, dnstest.Config{}, func(c *Config) { c.AllowPrivateWebhooks = true })
		st := e.mustSubmit("", "email\njane@acme.test\n", Options{WebhookURL: rcv.srv.URL})
		if err := e.store.Delete(context.Background(), "", st.ID); err != nil {
			t.Fatal(err)
		}
		e.start()
		w := e.waitWebhook(st.ID)
		if !w.Delivered {
			t.Fatalf("got %+v", w)
		}
		var ev event
		if err := json.Unmarshal(rcv.deliveries()[0].body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != EventCanceled || ev.Data.Status != StatusCanceled {
			t.Errorf("got %s %s, want bulk.canceled", ev.Type, ev.Data.Status)
		}
	})
}

// TestWebhookScheduleSurvivesRestart: attempts are persisted, and a new
// Service goes on with the schedule where the old one stopped.
func TestWebhookScheduleSurvivesRestart(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, 500, 500, 200)
	e := newTestEnv(t, dnstest.Config{}, func(c *Config) {
		c.AllowPrivateWebhooks = true
		c.WebhookBackoff = 300 * time.Millisecond
	})
	stop := e.run(e.svc)
	st := e.mustSubmit("", "email\njane@acme.test\n", Options{WebhookURL: rcv.srv.URL})
	// Wait for the first attempt to be recorded (a delivery cut short by
	// the shutdown is not an attempt, and is made again after it).
	for {
		got, _ := e.svc.Get(context.Background(), "", st.ID)
		if got.Webhook != nil && len(got.Webhook.Attempts) == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	first, _ := e.svc.Get(context.Background(), "", st.ID)
	if first.Webhook == nil || len(first.Webhook.Attempts) != 1 || first.Webhook.NextAttemptAt == nil {
		t.Fatalf("before restart: got %+v, want one attempt and a next one scheduled", first.Webhook)
	}
	e.reopen()
	e.run(e.svc)
	w := e.waitWebhook(st.ID)
	if !w.Delivered || len(w.Attempts) != 3 || !w.Attempts[0].At.Equal(first.Webhook.Attempts[0].At) {
		t.Errorf("after restart: got %+v, want the first attempt kept and delivery on the third", w)
	}
}

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	base := 5 * time.Second
	want := []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute, 10 * time.Minute, time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 12 * time.Hour}
	for i, w := range want {
		for range 20 {
			got := retryDelay(base, i+1)
			if got < w*8/10 || got > w*12/10 {
				t.Errorf("retry %d: got %s, want %s ± 20%%", i+1, got, w)
			}
		}
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		header string
		want   time.Duration
	}{
		{"", 0}, {"120", 2 * time.Minute}, {"-3", 0}, {"soon", 0},
		{"Sun, 01 Mar 2026 12:05:00 GMT", 5 * time.Minute},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0},
		{"999999999", maxRetryDelay},
	} {
		if got := parseRetryAfter(tt.header, now); got != tt.want {
			t.Errorf("Retry-After %q: got %s, want %s", tt.header, got, tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "webhook-secret")
	s1, created, err := LoadOrCreateSecret(path)
	if err != nil || !created {
		t.Fatalf("first call: got %v created=%v, want a new secret", err, created)
	}
	if err := CheckWebhookSecret(s1); err != nil {
		t.Errorf("generated secret is not usable: %v", err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode: got %v %v, want 0600", st.Mode(), err)
	}
	s2, created, err := LoadOrCreateSecret(path)
	if err != nil || created || s2 != s1 {
		t.Errorf("second call: got %v created=%v same=%v, want the stored secret", err, created, s1 == s2)
	}
	for _, bad := range []string{"", "secret", "whsec_!!!", "whsec_" + "c2hvcnQ="} {
		if CheckWebhookSecret(bad) == nil {
			t.Errorf("secret %q accepted", bad)
		}
	}
	// Our signer and the reference library agree on a fixed message.
	sg, _ := parseSecret(s1)
	ref, _ := standardwebhooks.NewWebhook(s1)
	ts := time.Unix(1_700_000_000, 0)
	want, _ := ref.Sign("msg_1", ts, []byte(`{"a":1}`))
	if got := sg.sign("msg_1", ts, []byte(`{"a":1}`)); got != want {
		t.Errorf("signature: got %s, want %s", got, want)
	}
}
