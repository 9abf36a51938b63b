package bulk

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/validate"
)

// held is how many slots of each kind are taken.
func (g *cpuGate) held() (own, spare int) { return len(g.slots), len(g.spare) }

// TestCPUGateLendsSpareWhileIdle: a row takes a spare slot only when its
// own are held and the real-time path is idle; a scan never does; slots go
// back spare first.
func TestCPUGateLendsSpareWhileIdle(t *testing.T) {
	t.Parallel()
	var idle atomic.Bool
	g := newCPUGateSpare(1, 1, idle.Load)
	ctx := context.Background()

	if err := g.acquireRow(ctx); err != nil {
		t.Fatal(err)
	}
	// Busy real-time path: the second row waits for bulk's own slot.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := g.acquireRow(short); err == nil {
		t.Fatal("a row took a spare slot while the real-time path was busy")
	}
	// Idle: it takes the spare one at once.
	idle.Store(true)
	if err := g.acquireRow(ctx); err != nil {
		t.Fatal(err)
	}
	if own, spare := g.held(); own != 1 || spare != 1 {
		t.Fatalf("held %d own, %d spare; want 1 and 1", own, spare)
	}
	// A scan never takes a spare slot, idle or not.
	short2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	g.release()
	if own, spare := g.held(); own != 1 || spare != 0 {
		t.Fatalf("after one release: held %d own, %d spare; want the spare back first", own, spare)
	}
	if err := g.acquire(short2); err == nil {
		t.Fatal("a scan took a spare slot")
	}
	g.release()
	if own, spare := g.held(); own != 0 || spare != 0 {
		t.Fatalf("after both releases: held %d own, %d spare", own, spare)
	}
}

// TestCPUGateWithoutIdleHasNoSpare: without RealTimeIdle nothing is lent.
func TestCPUGateWithoutIdleHasNoSpare(t *testing.T) {
	t.Parallel()
	g := newCPUGateSpare(1, 3, nil)
	if err := g.acquireRow(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.acquireRow(ctx); err == nil {
		t.Fatal("a second row got a slot with one slot and nothing to lend")
	}
	g.release()
}

// slotWatcher records the gate's held slots while a lookup runs.
type slotWatcher struct {
	g     *cpuGate
	calls int
	own   int
}

func (w *slotWatcher) CheckDomain(ctx context.Context, d string) (validate.DomainFacts, bool) {
	w.calls++
	w.own, _ = w.g.held()
	return validate.DomainFacts{Status: validate.DNSOK, HasA: true}, false
}

// TestOffCPUKeepsSlotOnMemoHit: a lookup gives the row's slot back while
// it waits; a domain the memo knows comes back without the slot changing
// hands.
func TestOffCPUKeepsSlotOnMemoHit(t *testing.T) {
	t.Parallel()
	g := newCPUGateSpare(1, 0, nil)
	w := &slotWatcher{g: g}
	memo := newDomainMemo(w, 10, dnsRetry{now: time.Now})
	o := offCPU{gate: g, next: memo}
	if err := g.acquireRow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f, _ := o.CheckDomain(context.Background(), "acme.test"); f.Status != validate.DNSOK {
		t.Fatalf("facts %+v", f)
	}
	if w.calls != 1 || w.own != 0 {
		t.Fatalf("first ask: %d lookups, %d own slots held during it; want 1 and 0", w.calls, w.own)
	}
	if own, _ := g.held(); own != 1 {
		t.Fatalf("after the lookup the row holds %d slots", own)
	}
	// A memo hit: no lookup, and the slot never leaves. A scan waits for
	// the only slot meanwhile; had the hit given the slot back, the scan
	// would hold it now and the hit could not take it back.
	waiting, cancelWait := context.WithCancel(context.Background())
	defer cancelWait()
	scan := make(chan error, 1)
	go func() { scan <- g.acquire(waiting) }()
	time.Sleep(10 * time.Millisecond) // the scan is waiting by now
	hit := make(chan bool, 1)
	go func() {
		f, cached := o.CheckDomain(context.Background(), "acme.test")
		hit <- f.Status == validate.DNSOK && cached
	}()
	select {
	case ok := <-hit:
		if !ok {
			t.Fatal("memo hit: wrong facts")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a memo hit gave the row's slot away and waited to get it back")
	}
	if w.calls != 1 {
		t.Fatalf("memo hit asked again: %d lookups", w.calls)
	}
	cancelWait()
	if err := <-scan; err == nil {
		t.Fatal("the scan got the slot the row still held")
	}
	g.release()
}
