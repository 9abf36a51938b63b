package bulk

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// waitWebhookOf is waitWebhook for caller's job.
func (e *testEnv) waitWebhookOf(caller, id string, within time.Duration) WebhookState {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := e.store.Get(context.Background(), caller, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if w := st.Webhook; w != nil && len(w.Attempts) > 0 && w.NextAttemptAt == nil {
			return *w
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("webhook of %s not done within %s: %+v", caller, within, st.Webhook)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWebhookSecretPerKey: each key's events are signed with its own
// secret, checked with the Standard Webhooks reference library: they
// verify with that key's secret and not with another key's nor with the
// server's; the secret shows in no status.
func TestWebhookSecretPerKey(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		shared, secretA, secretB := NewWebhookSecret(), NewWebhookSecret(), NewWebhookSecret()
		rcv := newReceiver(t, 204)
		e := newStoreEnv(t, kind, dnstest.Config{}, func(c *Config) {
			c.WebhookSecret = shared
			c.WebhookSecrets = func(caller string) string {
				return map[string]string{"tenant-a": secretA, "tenant-b": secretB}[caller]
			}
			c.AllowPrivateWebhooks = true
		})
		e.start()
		verifier := func(secret string) *standardwebhooks.Webhook {
			v, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		for _, tc := range []struct {
			caller, own string
			others      []string
		}{
			{"tenant-a", secretA, []string{secretB, shared}},
			{"tenant-b", secretB, []string{secretA, shared}},
			{"", shared, []string{secretA, secretB}}, // no key: the server's secret
		} {
			st := e.mustSubmit(tc.caller, "email\njane@acme.test\n", Options{WebhookURL: rcv.srv.URL + "/" + tc.caller})
			if w := e.waitWebhookOf(tc.caller, st.ID, 20*time.Second); !w.Delivered {
				t.Fatalf("%q: webhook not delivered: %+v", tc.caller, w)
			}
			got := rcv.deliveries()
			d := got[len(got)-1]
			if err := verifier(tc.own).Verify(d.body, d.header); err != nil {
				t.Errorf("%q: the event does not verify with its own key's secret: %v", tc.caller, err)
			}
			for _, other := range tc.others {
				if err := verifier(other).Verify(d.body, d.header); err == nil {
					t.Errorf("%q: the event verifies with another secret", tc.caller)
				}
			}
			st, _ = e.store.Get(context.Background(), tc.caller, st.ID)
			page, _ := e.store.List(context.Background(), tc.caller, 0, "")
			for _, v := range []any{st, page} {
				if s := fmtAny(v); containsAny(s, secretA[6:], secretB[6:], shared[6:]) {
					t.Errorf("%q: a webhook secret shows in status or list", tc.caller)
				}
			}
		}
	})
}

// TestWebhookDestinationCannotTakeEverySlot: ten jobs of one key send
// webhooks to a receiver that never answers; another key's webhook to a
// working receiver is still delivered at once, long before those time out,
// and the hanging deliveries each end at their own time budget.
func TestWebhookDestinationCannotTakeEverySlot(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hanging.Close)
	t.Cleanup(func() { close(release) })
	good := newReceiver(t, 204)
	e := newTestEnv(t, dnstest.Config{}, func(c *Config) {
		c.AllowPrivateWebhooks = true
		c.WebhookTimeout = 3 * time.Second
		c.WebhookBackoff = time.Hour // one attempt each within the test
	})
	e.run(e.svc)
	var slow []string
	for i := range 10 {
		st := e.mustSubmit("tenant-a", "email\njane@acme.test\n", Options{WebhookURL: hanging.URL + "/" + strconv.Itoa(i)})
		slow = append(slow, st.ID)
	}
	// Let A's jobs finish and their deliveries start hanging.
	for _, id := range slow {
		e.wait("tenant-a", id)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	b := e.mustSubmit("tenant-b", "email\njane@acme.test\n", Options{WebhookURL: good.srv.URL + "/b"})
	w := e.waitWebhookOf("tenant-b", b.ID, 2*time.Second)
	if !w.Delivered {
		t.Fatalf("tenant B's webhook: %+v", w)
	}
	t.Logf("tenant B's webhook delivered %s after submit, behind 10 hanging deliveries", time.Since(start))
	// Each hanging delivery is cut at its 3s budget and recorded as such.
	// Two run at once to that host (WebhookPerDestination), in no set
	// order: the first attempt recorded, whichever job's, is one of them.
	deadline := time.Now().Add(10 * time.Second)
	var attempted *WebhookState
	for attempted == nil && time.Now().Before(deadline) {
		for _, id := range slow {
			if st, _ := e.svc.Get(context.Background(), "tenant-a", id); st.Webhook != nil && len(st.Webhook.Attempts) > 0 {
				attempted = st.Webhook
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if attempted == nil || attempted.Attempts[0].Error == "" {
		t.Errorf("the hanging deliveries: got %+v, want an attempt ended by its timeout", attempted)
	}
}

func fmtAny(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
