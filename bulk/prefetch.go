package bulk

import (
	"context"
	"strings"
	"sync"

	"github.com/leadcheck/leadcheck/bulk/ingest"
)

// prefetcher looks up the domains of a job's rows as the reader reads
// them, ahead of the row workers, so that the DNS lookups in flight are
// bounded by Config.LookupsAhead rather than by the rows validated at once
// (Config.Workers): on a cold file of mostly distinct domains the workers
// would otherwise wait on DNS one domain each. The answers go into the
// job's memo, where the rows find them (or join the lookup still running).
// A lookup waits on the network, not the CPU, so it takes no CPU slot.
//
// Only the reader goroutine calls row; wait runs after it stops.
type prefetcher struct {
	ctx   context.Context
	memo  *domainMemo
	cols  ingest.Columns
	slots chan struct{}
	// seen holds the domains asked for, up to the memo's bound: past it
	// the memo no longer keeps answers, and a prefetch would be wasted.
	seen map[string]struct{}
	wg   sync.WaitGroup
}

// newPrefetcher returns nil (prefetch nothing) for ahead ≤ 0.
func newPrefetcher(ctx context.Context, memo *domainMemo, cols ingest.Columns, ahead int) *prefetcher {
	if ahead <= 0 || (cols.Email < 0 && cols.Domain < 0) {
		return nil
	}
	return &prefetcher{ctx: ctx, memo: memo, cols: cols, slots: make(chan struct{}, ahead), seen: map[string]struct{}{}}
}

// row starts the lookups of a row's email and domain cells, unless the
// memo knows them, one is already asked, or every slot is taken (then the
// row's worker asks itself: the reader never waits here).
func (p *prefetcher) row(fields []string) {
	if p == nil {
		return
	}
	if i := p.cols.Email; i >= 0 && i < len(fields) {
		if at := strings.LastIndexByte(fields[i], '@'); at > 0 {
			p.domain(fields[i][at+1:])
		}
	}
	if i := p.cols.Domain; i >= 0 && i < len(fields) {
		p.domain(fields[i])
	}
}

func (p *prefetcher) domain(cell string) {
	d, ok := plainDomain(cell)
	if !ok {
		return
	}
	if _, asked := p.seen[d]; asked || len(p.seen) >= p.memo.max {
		return
	}
	if p.memo.holds(d) {
		return
	}
	select {
	case p.slots <- struct{}{}:
	default:
		return
	}
	p.seen[d] = struct{}{}
	p.wg.Go(func() {
		defer func() { <-p.slots }()
		p.memo.prefetch(p.ctx, d)
	})
}

// wait returns when no lookup of p runs.
func (p *prefetcher) wait() {
	if p != nil {
		p.wg.Wait()
	}
}

// plainDomain gives the lower-case form of a cell that is plainly an
// ASCII domain name (letters, digits, hyphens, inner dots), as the engine
// would look it up. Anything else (Unicode, spaces, a trailing dot, a
// bracketed address) is left to the row's worker, whose parse is the one
// that counts: a prefetch is only a head start.
func plainDomain(s string) (string, bool) {
	if len(s) < 3 || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' || s[0] == '-' {
		return "", false
	}
	dot, upper := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-':
		case c >= 'A' && c <= 'Z':
			upper = true
		case c == '.':
			if s[i-1] == '.' {
				return "", false
			}
			dot = true
		default:
			return "", false
		}
	}
	if !dot {
		return "", false
	}
	if upper {
		s = strings.ToLower(s)
	}
	return s, true
}
