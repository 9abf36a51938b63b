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

// fakeClock is a pacer's clock that moves only when told to or slept on.
type fakeClock struct {
	t     time.Time
	slept []time.Duration
	// during, when set, runs inside each sleep.
	during func()
}

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(d time.Duration) {
	c.slept = append(c.slept, d)
	if c.during != nil {
		c.during()
	}
	c.t = c.t.Add(d)
}

func (c *fakeClock) total() (d time.Duration) {
	for _, s := range c.slept {
		d += s
	}
	return d
}

// TestScanPacerKeepsShareWhileBusy: while the real-time path has traffic,
// scans pause three times their work at a 25 % share, in pauses of at
// least paceDebt and with their slot given back; while it is idle they
// never pause.
func TestScanPacerKeepsShareWhileBusy(t *testing.T) {
	t.Parallel()
	var idle atomic.Bool
	g := newCPUGateSpare(1, 0, nil).paced(idle.Load, 0.25, 0)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	g.now, g.sleep = clock.now, clock.sleep
	clock.during = func() {
		if own, _ := g.held(); own != 0 {
			t.Error("the scan kept its slot while it paused")
		}
	}
	if err := g.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	yield := g.scanPacer()
	for range 100 { // 100 pieces of 100 µs of work each
		clock.t = clock.t.Add(100 * time.Microsecond)
		yield()
	}
	if want := 30 * time.Millisecond; clock.total() != want {
		t.Errorf("paused %v in all for 10ms of work; want %v (25 %% of a core)", clock.total(), want)
	}
	for _, d := range clock.slept {
		if d < paceDebt {
			t.Errorf("a pause of %v, below paceDebt", d)
		}
	}
	if own, _ := g.held(); own != 1 {
		t.Errorf("after pacing the scan holds %d slots, want its one back", own)
	}

	idle.Store(true)
	clock.slept = nil
	for range 100 {
		clock.t = clock.t.Add(100 * time.Microsecond)
		yield()
	}
	if len(clock.slept) != 0 {
		t.Errorf("paused %v while the real-time path was idle", clock.slept)
	}
	g.release()
}

// TestScanPacerShareIsForAllScans: scans that take the slot in turn, each
// while the other pauses, share one account: together they keep to the
// share, and a scan arriving during another's pause waits it out.
func TestScanPacerShareIsForAllScans(t *testing.T) {
	t.Parallel()
	busy := func() bool { return false }
	g := newCPUGateSpare(1, 0, nil).paced(busy, 0.5, 0)
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	g.now, g.sleep = clock.now, clock.sleep
	g.slots <- struct{}{}
	a := g.scanPacer()
	var b func()
	work := time.Duration(0)
	piece := func(yield func()) {
		clock.t = clock.t.Add(200 * time.Microsecond)
		work += 200 * time.Microsecond
		yield()
	}
	// While a's first pause runs, b takes the slot, does one piece and
	// must then wait for the same pause to end.
	clock.during = func() {
		if b != nil {
			return
		}
		clock.during = nil
		g.slots <- struct{}{} // a gave it back; b takes it
		b = g.scanPacer()
		before := len(clock.slept)
		piece(b)
		if len(clock.slept) != before+1 {
			t.Error("a scan started during another's pause did not wait it out")
		}
		<-g.slots // b ends; a takes the slot back when its pause ends
	}
	for range 50 {
		piece(a)
	}
	if b == nil {
		t.Fatal("a never paused")
	}
	// At a 50 % share the pauses equal the work, give or take the debt not
	// yet taken at the end and the pause b waited out with a.
	if got := clock.total(); got < work-2*paceDebt || got > work+2*paceDebt {
		t.Errorf("two scans paused %v in all for %v of work; want about as long", got, work)
	}
	<-g.slots
}

// TestPaceReceive: while the real-time path has traffic, received bytes
// draw on the shared upload rate; while it is idle they do not.
func TestPaceReceive(t *testing.T) {
	t.Parallel()
	var idle atomic.Bool
	g := newCPUGateSpare(1, 0, nil).paced(idle.Load, 0, 1) // 1 byte a second: no refill to speak of
	full := g.receive.Tokens()
	g.paceReceive(100 << 10)
	if used := full - g.receive.Tokens(); used < 100<<10-10 || used > 100<<10 {
		t.Errorf("a busy receive of 100 KiB drew %.0f bytes of the rate; want 102400", used)
	}
	idle.Store(true)
	before := g.receive.Tokens()
	g.paceReceive(100 << 10)
	if g.receive.Tokens() < before {
		t.Error("an idle receive drew on the rate")
	}
	if newCPUGateSpare(1, 0, nil).paced(nil, 0.25, 1).receive != nil {
		t.Error("without RealTimeIdle uploads were paced")
	}
}
