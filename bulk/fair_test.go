package bulk

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/internal/dnstest"
)

// slowFile is a file of n leads whose domains never answer.
func slowFile(prefix string, n int) string {
	var b strings.Builder
	b.WriteString("email\n")
	for i := range n {
		b.WriteString("jane@" + prefix + strconv.Itoa(i) + ".slow.test\n")
	}
	return b.String()
}

func capsOf(caps map[string][2]int) func(string) (int, int) {
	return func(caller string) (int, int) { c := caps[caller]; return c[0], c[1] }
}

// TestFairShareAcrossKeys is the scenario of the fairness issue: one key
// runs two jobs whose domains never answer (and has a third waiting, held
// back by its running cap, which would otherwise take the last slot);
// another key's 2-row job still completes within seconds, while the first
// key's jobs are still running.
func TestFairShareAcrossKeys(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{Behaviours: map[string]dnstest.Behaviour{"slow.test": dnstest.Blackhole()}}, func(c *Config) {
			c.ConcurrentJobs = 3
			c.JobLimits = capsOf(map[string][2]int{"tenant-a": {2, 10}, "tenant-b": {2, 10}})
		})
		e.start()
		a1 := e.mustSubmit("tenant-a", slowFile("a1-", 200), Options{})
		a2 := e.mustSubmit("tenant-a", slowFile("a2-", 200), Options{})
		a3 := e.mustSubmit("tenant-a", slowFile("a3-", 200), Options{})
		// Two of A's jobs are running before B arrives, the third waits.
		// (The PostgreSQL store runs the chunks of A's first job before
		// those of its second: both are A's, and its slots are chunks, not
		// jobs. Its first job alone takes every slot.)
		deadline := time.Now().Add(10 * time.Second)
		for {
			s1, _ := e.store.Get(context.Background(), "tenant-a", a1.ID)
			s2, _ := e.store.Get(context.Background(), "tenant-a", a2.ID)
			if s1.Status == StatusRunning && (s2.Status == StatusRunning || kind == storePostgres) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tenant A's jobs are %s and %s, want both running", s1.Status, s2.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		if s3, _ := e.store.Get(context.Background(), "tenant-a", a3.ID); s3.Status != StatusQueued {
			t.Fatalf("tenant A's third job is %s, want queued behind its running cap of 2", s3.Status)
		}
		start := time.Now()
		b := e.mustSubmit("tenant-b", "email\njane@acme.test\njoe@acme.test\n", Options{})
		var done Status
		for {
			done, _ = e.store.Get(context.Background(), "tenant-b", b.ID)
			if done.Status.Final() {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("tenant B's 2-row job is still %s after 10s behind tenant A's jobs", done.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if done.Status != StatusCompleted || done.Counts.Valid != 2 {
			t.Errorf("tenant B's job: got %+v", done)
		}
		for _, id := range []string{a1.ID, a2.ID, a3.ID} {
			st, _ := e.store.Get(context.Background(), "tenant-a", id)
			if id == a3.ID {
				_ = e.store.Delete(context.Background(), "tenant-a", id)
				continue
			}
			if st.Status != StatusRunning && (id == a1.ID || kind == storeLocal) {
				t.Errorf("tenant A's job %s is %s; the scenario needs it still running", id, st.Status)
			}
			if err := e.store.Delete(context.Background(), "tenant-a", id); err != nil {
				t.Error(err)
			}
		}
	})
}

// TestFairOrder: with two slots, a key with nothing running gets the next
// slot before the older queued jobs of a key that already runs one.
func TestFairOrder(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{Behaviours: map[string]dnstest.Behaviour{"slow.test": dnstest.Blackhole()}}, func(c *Config) {
			c.ConcurrentJobs = 2
		})
		var a []Status
		for i := range 3 {
			a = append(a, e.mustSubmit("tenant-a", slowFile("a"+strconv.Itoa(i)+"-", 100), Options{}))
		}
		b := e.mustSubmit("tenant-b", "email\njane@acme.test\n", Options{})
		e.start()
		if st := e.wait("tenant-b", b.ID); st.Status != StatusCompleted {
			t.Fatalf("tenant B's job: %s", st.Status)
		}
		for i, want := range []State{StatusRunning, StatusQueued, StatusQueued} {
			st, _ := e.store.Get(context.Background(), "tenant-a", a[i].ID)
			if st.Status != want && !(i > 0 && st.Status == StatusRunning) {
				t.Errorf("tenant A's job %d: %s, want %s", i, st.Status, want)
			}
		}
		// B came last but ran before A's second job.
		st1, _ := e.store.Get(context.Background(), "tenant-a", a[1].ID)
		if st1.StartedAt != nil {
			bst, _ := e.store.Get(context.Background(), "tenant-b", b.ID)
			if st1.StartedAt.Before(*bst.StartedAt) {
				t.Errorf("tenant A's second job started before tenant B's")
			}
		}
		for _, s := range a {
			_ = e.store.Delete(context.Background(), "tenant-a", s.ID)
		}
	})
}

// TestJobCaps: a key at its queued cap is refused with too_many_jobs, and
// a key at its running cap waits while another key's job runs.
func TestJobCaps(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, kind string) {
		e := newStoreEnv(t, kind, dnstest.Config{Behaviours: map[string]dnstest.Behaviour{"slow.test": dnstest.Blackhole()}}, func(c *Config) {
			c.JobLimits = capsOf(map[string][2]int{"tenant-a": {1, 1}})
		})
		first := e.mustSubmit("tenant-a", slowFile("x", 100), Options{})
		_, err := e.submit("tenant-a", slowFile("y", 1), Options{})
		var be *Error
		if !errors.As(err, &be) || be.Kind != KindTooMany || be.Code != "too_many_jobs" {
			t.Fatalf("second queued job: got %v, want too_many_jobs", err)
		}
		// Another key is not held to tenant A's caps.
		e.mustSubmit("tenant-b", "email\njane@acme.test\n", Options{})
		e.start()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, _ := e.store.Get(context.Background(), "tenant-a", first.ID)
			if st.Status == StatusRunning {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tenant A's first job: %s", st.Status)
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Running, it no longer counts as queued: one more may wait, and it
		// waits, because tenant A may run one job at a time.
		second := e.mustSubmit("tenant-a", slowFile("z", 1), Options{})
		time.Sleep(200 * time.Millisecond)
		if st, _ := e.store.Get(context.Background(), "tenant-a", second.ID); st.Status != StatusQueued {
			t.Errorf("tenant A's second job: %s, want queued behind its running cap", st.Status)
		}
		for _, id := range []string{first.ID, second.ID} {
			_ = e.store.Delete(context.Background(), "tenant-a", id)
		}
	})
}
