package bulk

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leadcheck/leadcheck/bulk/ingest"
	"github.com/leadcheck/leadcheck/mailbox"
	"github.com/leadcheck/leadcheck/validate"
)

// Bulk SMTP. Before the rows of a job with smtp=true are validated, one
// pass over the upload gathers its addresses by domain; each domain's
// addresses then go to its mail exchanger in shared sessions (many RCPT TO
// per transaction, RSET between batches), so connections grow with
// domains, not rows. Greylisted addresses are asked again after the
// server's delay, within Config.SMTPGreylistBudget, before any row is
// written. The answers are kept for the job (and in the shared cache), and
// the rows are then validated in input order as usual, reading them.

// DefaultSMTPGreylistBudget is the default of Config.SMTPGreylistBudget.
const DefaultSMTPGreylistBudget = 10 * time.Minute

// maxSMTPAddresses bounds the distinct addresses one job gathers for
// shared sessions (about 100 bytes each). Rows past it are still checked,
// one session per address, through the shared checker.
const maxSMTPAddresses = 500_000

// greylistWait is the wait before asking again when a greylisting server
// did not say how long; bounded by the budget left.
const greylistWait = time.Minute

// smtpDomain is the addresses of one domain in a job: local parts, with
// the number of rows of each.
type smtpDomain struct {
	locals []string
	rows   []int
	index  map[string]int
}

// jobMailbox answers the job's engine from the answers the pre-pass found,
// and asks the shared checker for anything else.
type jobMailbox struct {
	shared  *mailbox.Checker
	mu      sync.RWMutex
	answers map[string]validate.MailboxAnswer // local@domain
	// unsettled counts the addresses whose last answer was temporary
	// (greylisting) when their budget ran out.
	unsettled atomic.Int64
	// unsettledWait is the longest wait those servers asked for (ns).
	unsettledWait atomic.Int64
}

func (m *jobMailbox) CheckMailbox(ctx context.Context, local, domain string, mx []validate.MX) validate.MailboxAnswer {
	m.mu.RLock()
	a, ok := m.answers[local+"@"+domain]
	m.mu.RUnlock()
	if ok {
		return a
	}
	return m.shared.CheckMailbox(ctx, local, domain, mx)
}

func (m *jobMailbox) set(local, domain string, a validate.MailboxAnswer) {
	m.mu.Lock()
	m.answers[local+"@"+domain] = a
	m.mu.Unlock()
}

// prepareSMTP runs the pre-pass and returns the engine that reads its
// answers. It returns early, with errAborted, when stop or work ends (no
// row is written yet, so a resume starts it again, mostly from the cache),
// and with an error when the upload cannot be read.
func (s *Service) prepareSMTP(stop, work context.Context, j *job, engine *validate.Engine, layout ingest.Layout) (*validate.Engine, error) {
	ctx, cancel := context.WithCancel(work)
	defer cancel()
	defer context.AfterFunc(stop, cancel)()
	if s.cfg.Mailbox == nil {
		return nil, errors.New("the job asks for mailbox verification and this server has none configured")
	}
	s.mu.Lock()
	id := j.rec.ID
	s.mu.Unlock()
	domains, pending, err := s.gatherAddresses(id, layout)
	if err != nil {
		return nil, err
	}
	jm := &jobMailbox{shared: s.cfg.Mailbox, answers: map[string]validate.MailboxAnswer{}}
	var mu sync.Mutex
	s.setSMTPPending(j, pending)
	answered := func(rows int) {
		mu.Lock()
		pending -= rows
		n := pending
		mu.Unlock()
		s.setSMTPPending(j, n)
	}
	queue := make(chan string)
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, max(len(domains), 1)) {
		wg.Go(func() {
			for d := range queue {
				s.probeDomain(ctx, jm, d, domains[d], cmp.Or(s.cfg.SMTPGreylistBudget, DefaultSMTPGreylistBudget), answered)
			}
		})
	}
	for d := range domains {
		select {
		case queue <- d:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(queue)
	wg.Wait()
	if ctx.Err() != nil {
		return nil, errAborted
	}
	s.setSMTPPending(j, 0)
	return engine.WithMailbox(jm), nil
}

func (s *Service) setSMTPPending(j *job, n int) {
	s.mu.Lock()
	j.smtpPending = n
	s.mu.Unlock()
}

// gatherAddresses reads the upload once and groups the addresses that can
// be asked over SMTP by ASCII domain; pending is the number of rows that
// wait on those answers.
func (s *Service) gatherAddresses(id string, layout ingest.Layout) (map[string]*smtpDomain, int, error) {
	f, err := os.Open(filepath.Join(s.jobDir(id), uploadFile))
	if err != nil {
		return nil, 0, fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	rd, err := ingest.NewReader(bufio.NewReaderSize(f, 256<<10), layout)
	if err != nil {
		return nil, 0, fmt.Errorf("read upload: %w", err)
	}
	return groupAddresses(rd.Next, layout.Columns.Email)
}

// groupAddresses groups the addresses in column email of the records next
// gives (until io.EOF) by ASCII domain, as gatherAddresses does.
func groupAddresses(next func() (ingest.Record, error), email int) (map[string]*smtpDomain, int, error) {
	domains := map[string]*smtpDomain{}
	distinct, pending := 0, 0
	for {
		rec, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		i := email
		if i < 0 || i >= len(rec.Fields) || strings.TrimSpace(rec.Fields[i]) == "" {
			continue
		}
		addr, err := validate.ParseAddress(rec.Fields[i])
		if err != nil || addr.SMTPUTF8 || addr.Quoted {
			continue
		}
		d := domains[addr.ASCIIDomain]
		if d == nil {
			if distinct >= maxSMTPAddresses {
				continue
			}
			d = &smtpDomain{index: map[string]int{}}
			domains[addr.ASCIIDomain] = d
		}
		k, ok := d.index[addr.Local]
		if !ok {
			if distinct >= maxSMTPAddresses {
				continue
			}
			distinct++
			k = len(d.locals)
			d.index[addr.Local] = k
			d.locals = append(d.locals, addr.Local)
			d.rows = append(d.rows, 0)
		}
		d.rows[k]++
		pending++
	}
	return domains, pending, nil
}

// probeDomain asks one domain's mail exchangers about its addresses, and
// again for the greylisted ones until they are answered or the budget is
// spent (budget from now). Every address gets an answer in jm.
func (s *Service) probeDomain(ctx context.Context, jm *jobMailbox, domain string, d *smtpDomain, budget time.Duration, answered func(rows int)) {
	c := s.cfg.Mailbox
	done := func(k int, a validate.MailboxAnswer, store bool) {
		jm.set(d.locals[k], domain, a)
		if store {
			c.Store(ctx, d.locals[k], domain, a)
		}
		answered(d.rows[k])
	}
	facts, _ := s.cfg.Domains.CheckDomain(ctx, domain)
	if facts.Status != validate.DNSOK || facts.NullMX || (len(facts.MX) == 0 && !facts.HasA && !facts.HasAAAA) {
		// The engine decides these rows without SMTP.
		for k := range d.locals {
			answered(d.rows[k])
		}
		return
	}
	mx := make([]string, 0, len(facts.MX))
	for _, m := range facts.MX {
		mx = append(mx, m.Host)
	}
	var ask []int
	for k, local := range d.locals {
		// A cached failure (a sync check that met greylisting, say) is
		// asked again: the job has the time to wait for an answer.
		if a, ok := c.Cached(ctx, local, domain); ok && a.Status != validate.MailboxUnavailable {
			done(k, a, false)
			continue
		}
		ask = append(ask, k)
	}
	deadline := time.Now().Add(budget)
	catchAll := c.CatchAll(ctx, domain)
	for len(ask) > 0 {
		locals := make([]string, len(ask))
		for i, k := range ask {
			locals[i] = d.locals[k]
		}
		rep := c.Prober().Probe(ctx, domain, mx, locals, catchAll)
		if rep.CatchAll != nil && catchAll == nil {
			catchAll = rep.CatchAll
			c.StoreCatchAll(ctx, domain, catchAll)
		}
		var again []int
		wait := time.Duration(0)
		for i, k := range ask {
			a := rep.Answers[i]
			if a.Status == mailbox.Temporary || (a.Status == mailbox.Accepted && catchAll == nil) {
				again = append(again, k)
				wait = max(wait, a.RetryAfter)
				continue
			}
			done(k, mailbox.Verdictable(a, catchAll), true)
		}
		if wait == 0 {
			wait = greylistWait
		}
		// One second past the server's delay, so its clock and ours need
		// not agree to the millisecond.
		wait += time.Second
		if len(again) == 0 || time.Now().Add(wait).After(deadline) || ctx.Err() != nil {
			if len(again) > 0 {
				jm.unsettled.Add(int64(len(again)))
				for w := jm.unsettledWait.Load(); int64(wait) > w && !jm.unsettledWait.CompareAndSwap(w, int64(wait)); w = jm.unsettledWait.Load() {
				}
			}
			for i, k := range ask {
				if slices.Contains(again, k) {
					done(k, mailbox.Verdictable(rep.Answers[i], catchAll), true)
				}
			}
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		ask = again
	}
}
