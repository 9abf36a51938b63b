package shed

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/validate"
)

// blocking is a checker whose lookups wait until released.
type blocking struct {
	started chan struct{}
	release chan struct{}
}

func (b blocking) CheckDomain(ctx context.Context, _ string) (validate.DomainFacts, bool) {
	b.started <- struct{}{}
	<-b.release
	return validate.DomainFacts{Status: validate.DNSOK}, false
}

func TestGate(t *testing.T) {
	t.Parallel()
	g := New(3, 1)
	b := blocking{started: make(chan struct{}, 10), release: make(chan struct{})}
	c := g.Checker(b)

	ctx1, rel1, ok := g.Enter(context.Background())
	if !ok {
		t.Fatal("first validation refused")
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.CheckDomain(ctx1, "a.test") })
	<-b.started
	// The one lookup slot is taken: a second request's lookup is refused
	// at once and marks the request.
	ctx2, rel2, ok := g.Enter(context.Background())
	if !ok {
		t.Fatal("second validation refused")
	}
	if f, _ := c.CheckDomain(ctx2, "b.test"); f.Status != validate.DNSError || !Refused(ctx2) {
		t.Errorf("second lookup: got %+v refused=%v", f, Refused(ctx2))
	}
	if Refused(ctx1) {
		t.Error("the first request is marked refused")
	}
	// Lookups outside the real-time path are not gated.
	wg.Go(func() { c.CheckDomain(context.Background(), "bulk.test") })
	<-b.started
	// Validation slots: three at most.
	_, rel3, ok := g.Enter(context.Background())
	if !ok {
		t.Fatal("third validation refused")
	}
	if _, _, ok := g.Enter(context.Background()); ok {
		t.Error("a fourth validation was let in")
	}
	close(b.release)
	wg.Wait()
	rel1()
	rel2()
	rel3()
	if _, rel, ok := g.Enter(context.Background()); !ok {
		t.Error("a validation was refused after all were released")
	} else {
		rel()
	}
}

// TestIdle: the path is idle before any request, busy while one is in
// flight and for a moment after it ends, and idle again after that.
func TestIdle(t *testing.T) {
	t.Parallel()
	g := New(2, 1)
	if !g.Idle() {
		t.Fatal("a gate that never saw a request is not idle")
	}
	_, release, ok := g.Enter(context.Background())
	if !ok {
		t.Fatal("refused")
	}
	if g.Idle() {
		t.Fatal("idle with a validation in flight")
	}
	ended := time.Now()
	release()
	// Only a check made well within the quiet time says anything (a busy
	// machine may pause this goroutine).
	if idle := g.Idle(); idle && time.Since(ended) < quiet/2 {
		t.Fatal("idle at once after a validation ended")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !g.Idle() {
		if time.Now().After(deadline) {
			t.Fatal("still busy 5 s after the last validation")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
