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
type cpuGate chan struct{}

// defaultCPUSlots leaves one core to the real-time path.
func defaultCPUSlots() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// acquire waits for a slot, or for ctx to end.
func (g cpuGate) acquire(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g cpuGate) release() { <-g }

// offCPU is a DomainChecker that gives its caller's CPU slot back while
// the lookup waits on DNS (or the cache's network), so a slot is held
// only while a row uses the CPU. The engine calls CheckDomain from the
// goroutine that validates the row, which holds the slot.
type offCPU struct {
	gate cpuGate
	next validate.DomainChecker
}

func (o offCPU) CheckDomain(ctx context.Context, domain string) (validate.DomainFacts, bool) {
	o.gate.release()
	defer func() {
		// Taken back even if ctx ended: the caller releases it.
		o.gate <- struct{}{}
	}()
	return o.next.CheckDomain(ctx, domain)
}
