package bulk

import (
	"context"
	"runtime"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/leadcheck/leadcheck/validate"
)

// cpuGate bounds the bulk work that runs on a CPU at once (ingest scans
// and row validation), below the core count, so that the real-time path
// (/v1/validate) always has a core however many jobs and uploads run.
// Go has no goroutine priorities; a count of slots is the tool it has.
//
// The cores kept for the real-time path are lent to rows while that path
// is idle (Config.RealTimeIdle): a row takes a spare slot only when its
// own slots are all held and no real-time request is in flight or has just
// ended, and gives a slot back after the one row. Upload scans, which hold
// a slot for seconds, never take a spare one.
//
// A slot bounds how many cores bulk uses, not how much of them: an upload
// scan in its slot while /v1/validate has traffic is paced (scanPacer) to
// a share of one core, so a stream of hostile uploads cannot take the
// machine from the real-time path's requests.
type cpuGate struct {
	slots chan struct{} // bulk's own
	spare chan struct{} // the real-time path's, lent while it is idle
	idle  func() bool   // nil: the spare slots are never lent
	// realTimeIdle is Config.RealTimeIdle (nil: no real-time path, no
	// pacing); busyShare the share of a core a scan may use while that
	// path has traffic.
	realTimeIdle func() bool
	busyShare    float64
	receive      *rate.Limiter // nil: uploads are not paced
	// paceMu guards debt, the pause the scans' pieces have earned
	// together and not yet taken, and pausedUntil, the end of the pause
	// being taken: one account for all scans, so the share holds for all
	// of them at once, not for each.
	paceMu      sync.Mutex
	debt        time.Duration
	pausedUntil time.Time
	// now and sleep are the pacer's clock (time.Now and time.Sleep).
	now   func() time.Time
	sleep func(time.Duration)
}

// paceDebt is the sleep a paced scan owes before it pays it: shorter
// sleeps cost more in timers than they give back.
const paceDebt = time.Millisecond

// defaultCPUSlots leaves one core to the real-time path.
func defaultCPUSlots() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// newCPUGate gives bulk slots of its own and, with idle, the rest of the
// cores as spare slots.
func newCPUGate(slots int, idle func() bool) *cpuGate {
	return newCPUGateSpare(slots, runtime.GOMAXPROCS(0)-slots, idle)
}

// newCPUGateSpare is newCPUGate with the count of spare slots given.
func newCPUGateSpare(slots, spare int, idle func() bool) *cpuGate {
	g := &cpuGate{slots: make(chan struct{}, slots), now: time.Now, sleep: time.Sleep}
	if idle != nil && spare > 0 {
		g.spare, g.idle = make(chan struct{}, spare), idle
	}
	return g
}

// paced makes scans paced to share (0 < share < 1) of a core, and
// uploads received at uploadRate bytes a second in all (> 0), while
// realTimeIdle reports traffic.
func (g *cpuGate) paced(realTimeIdle func() bool, share float64, uploadRate int64) *cpuGate {
	if realTimeIdle == nil {
		return g
	}
	g.realTimeIdle = realTimeIdle
	if share > 0 && share < 1 {
		g.busyShare = share
	}
	if uploadRate > 0 {
		g.receive = rate.NewLimiter(rate.Limit(uploadRate), receiveBurst)
	}
	return g
}

// receiveBurst is the most an upload writes at once (its write buffer).
const receiveBurst = 256 << 10

// paceReceive waits, while the real-time path has traffic, until n more
// bytes of upload may be received (the receiving costs CPU in proportion
// to the bytes: system calls, multipart parsing, the write to disk).
func (g *cpuGate) paceReceive(n int) {
	if g.receive == nil || g.realTimeIdle() {
		return
	}
	for n > 0 {
		k := min(n, receiveBurst)
		_ = g.receive.WaitN(context.Background(), k) // k ≤ burst, no deadline: never fails
		n -= k
	}
}

// scanPacer is the Yield of an upload scan that holds one of bulk's own
// slots (make it once the slot is taken): called after each piece of
// text, it lets other goroutines run and, while the real-time path has
// traffic, pauses with its slot given back, so that all scans together use
// at most busyShare of a core. Each piece adds its time × (1 − share) ÷
// share to a debt shared by every scan; once the debt reaches paceDebt it
// becomes a pause that every scan waits out. Without pacing it only
// yields.
func (g *cpuGate) scanPacer() func() {
	if g.busyShare == 0 {
		return runtime.Gosched
	}
	rest := (1 - g.busyShare) / g.busyShare
	last := g.now()
	return func() {
		now := g.now()
		work := now.Sub(last)
		last = now
		if g.realTimeIdle() {
			runtime.Gosched()
			return
		}
		g.paceMu.Lock()
		g.debt += time.Duration(float64(work) * rest)
		if g.debt >= paceDebt {
			g.pausedUntil = later(g.pausedUntil, now).Add(g.debt)
			g.debt = 0
		}
		wait := g.pausedUntil.Sub(now)
		g.paceMu.Unlock()
		if wait <= 0 {
			runtime.Gosched()
			return
		}
		<-g.slots
		g.sleep(wait)
		g.slots <- struct{}{}
		last = g.now()
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// acquire waits for one of bulk's own slots, or for ctx to end.
func (g *cpuGate) acquire(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// acquireRow takes a slot for one row's CPU work: one of bulk's own, or
// else a spare one while the real-time path is idle, or else waits for one
// of its own (or for ctx to end).
func (g *cpuGate) acquireRow(ctx context.Context) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	if g.spare != nil && g.idle() {
		select {
		case g.spare <- struct{}{}:
			return nil
		default:
		}
	}
	return g.acquire(ctx)
}

// release gives a slot back. The slots are alike, so a spare one goes
// back first whoever holds it: bulk drops to its own share as soon as it
// can.
func (g *cpuGate) release() {
	select {
	case <-g.spare: // a nil channel (no spare slots) is never ready
	default:
		<-g.slots
	}
}

// offCPU is a DomainChecker that gives its caller's CPU slot back while
// the lookup waits on DNS (or the cache's network), so a slot is held
// only while a row uses the CPU. The engine calls CheckDomain from the
// goroutine that validates the row, which holds the slot. A domain the
// job's memo already knows costs no wait: its facts come back without the
// slot changing hands.
type offCPU struct {
	gate *cpuGate
	next *domainMemo
}

func (o offCPU) CheckDomain(ctx context.Context, domain string) (validate.DomainFacts, bool) {
	if f, cached, ok := o.next.known(domain); ok {
		return f, cached
	}
	o.gate.release()
	// Taken back even if ctx ended: the caller releases it.
	defer o.gate.acquireRow(context.Background()) //nolint:errcheck // never fails without a deadline
	return o.next.CheckDomain(ctx, domain)
}
