package bulk

import (
	"context"
	"runtime"

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
type cpuGate struct {
	slots chan struct{} // bulk's own
	spare chan struct{} // the real-time path's, lent while it is idle
	idle  func() bool   // nil: the spare slots are never lent
}

// defaultCPUSlots leaves one core to the real-time path.
func defaultCPUSlots() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// newCPUGate gives bulk slots of its own and, with idle, the rest of the
// cores as spare slots.
func newCPUGate(slots int, idle func() bool) *cpuGate {
	return newCPUGateSpare(slots, runtime.GOMAXPROCS(0)-slots, idle)
}

// newCPUGateSpare is newCPUGate with the count of spare slots given.
func newCPUGateSpare(slots, spare int, idle func() bool) *cpuGate {
	g := &cpuGate{slots: make(chan struct{}, slots)}
	if idle != nil && spare > 0 {
		g.spare, g.idle = make(chan struct{}, spare), idle
	}
	return g
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
