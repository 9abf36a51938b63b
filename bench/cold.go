package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Targets of the cold-domain measures, as BENCHMARKS.md states them.
const (
	targetB3c = 1.2
	targetB3r = 1.3
	// floorInFlight is how many domains the DNS floor resolves at once.
	floorInFlight = 256
)

// floorQuestions are the five questions per domain, as the service asks
// them: MX, A, AAAA and TXT at the domain, TXT at _dmarc.<domain>.
var floorQuestions = []struct {
	prefix string
	qtype  uint16
}{{"", dns.TypeMX}, {"", dns.TypeA}, {"", dns.TypeAAAA}, {"", dns.TypeTXT}, {"_dmarc.", dns.TypeTXT}}

// dnsFloorRun is one measurement of the DNS floor.
type dnsFloorRun struct {
	Domains, InFlight int
	Wall              time.Duration
	Resent            int // questions asked again after a lost answer
}

func (f dnsFloorRun) String() string {
	return fmt.Sprintf("%d domains × 5 questions, %d domains in flight: %v (%d questions resent)",
		f.Domains, f.InFlight, f.Wall.Round(time.Millisecond), f.Resent)
}

// dnsFloor is the DNS floor of BENCHMARKS.md: a plain miekg/dns client
// resolving domains with the five questions of a validation, inFlight
// domains at a time. Each of the inFlight workers owns one UDP socket for
// the whole run and sends a domain's five questions at once, then reads the
// five answers; a question whose answer is lost (no reply within a second)
// is sent again, so the floor pays for loss as the service would.
func dnsFloor(ctx context.Context, addr string, domains []string, inFlight int) (dnsFloorRun, error) {
	run := dnsFloorRun{Domains: len(domains), InFlight: inFlight}
	next := make(chan string)
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range min(inFlight, len(domains)) {
		conn, err := net.Dial("udp", addr)
		if err != nil {
			return run, fmt.Errorf("dns floor: %w", err)
		}
		co := &dns.Conn{Conn: conn, UDPSize: 1232}
		wg.Go(func() {
			defer co.Close()
			for d := range next {
				resent, err := askFive(ctx, co, d)
				mu.Lock()
				run.Resent += resent
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, d := range domains {
		select {
		case next <- d:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	run.Wall = time.Since(start)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return run, firstErr
}

// askFive sends the five questions of domain on co and reads until each
// has its answer, sending lost ones again up to three times.
func askFive(ctx context.Context, co *dns.Conn, domain string) (resent int, err error) {
	pending := map[uint16]*dns.Msg{}
	for _, q := range floorQuestions {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(q.prefix+domain), q.qtype)
		m.RecursionDesired = true
		m.SetEdns0(1232, false)
		pending[m.Id] = m
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 3 {
			return resent, fmt.Errorf("dns floor: %s: %d answers lost four times", domain, len(pending))
		}
		if err := ctx.Err(); err != nil {
			return resent, err
		}
		for _, m := range pending {
			if attempt > 0 {
				resent++
			}
			if err := co.WriteMsg(m); err != nil {
				return resent, fmt.Errorf("dns floor: write: %w", err)
			}
		}
		_ = co.SetReadDeadline(time.Now().Add(time.Second))
		for len(pending) > 0 {
			in, err := co.ReadMsg()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break // resend what is missing
			}
			if err != nil {
				return resent, fmt.Errorf("dns floor: read: %w", err)
			}
			if q, ok := pending[in.Id]; ok && len(in.Question) == 1 && strings.EqualFold(in.Question[0].Name, q.Question[0].Name) {
				delete(pending, in.Id)
			}
		}
	}
	return resent, nil
}

// coldFile writes a CSV with one row per domain (email, empty phone).
func coldFile(dir string, domains []string) (dataset, error) {
	var b strings.Builder
	b.WriteString("email,phone\n")
	for i, d := range domains {
		fmt.Fprintf(&b, "lead%d@%s,\n", i, d)
	}
	path := filepath.Join(dir, fmt.Sprintf("cold-%d.csv", len(domains)))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return dataset{}, fmt.Errorf("cold file: %w", err)
	}
	return dataset{Path: path, Rows: len(domains)}, nil
}

// leadDomains are the first n lead domains.
func leadDomains(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = leadDomain(i)
	}
	return out
}

// b3Domains are the distinct domains of the B3 file: every lead domain and
// the missing ones its rows point at (see leadRow).
func b3Domains(domains int) []string {
	out := leadDomains(domains)
	for i := range domains/10 + 1 {
		out = append(out, goneDomain(i))
	}
	return out
}

// B3c: bulk on a cold cache, one row per domain, ÷ the DNS floor for the
// same domains, at DNS +0 ms and +5 ms. Each latency gets a fresh server
// (an empty cache) and a floor measured just before its job.
func (b *bench) coldBulk(ctx context.Context) outcome {
	s := b.opts.Sizes
	oc := outcome{ID: "B3c", Measure: fmt.Sprintf("cold bulk, one row per domain, %s domains ÷ DNS floor, at DNS +0 ms / +5 ms", count(s.Domains)),
		Target: fmt.Sprintf("≤ %.1f at both", targetB3c)}
	domains := leadDomains(s.Domains)
	file, err := coldFile(b.work, domains)
	if err != nil {
		return oc.fail(err)
	}
	defer os.Remove(file.Path)
	defer b.dns.SetLatency(0)
	var values, raws []string
	met := true
	for _, lat := range []time.Duration{0, bulkDNSLatency} {
		b.dns.SetLatency(lat)
		floor, err := dnsFloor(ctx, b.dns.Addr(), domains, floorInFlight)
		if err != nil {
			return oc.fail(err)
		}
		b.logf("B3c: DNS +%v: floor %v", lat, floor)
		job, err := b.bulkJob(ctx, file)
		if err != nil {
			return oc.fail(err)
		}
		ratio := job.Wall.Seconds() / floor.Wall.Seconds()
		met = met && !job.TimedOut && ratio <= targetB3c
		values = append(values, fmt.Sprintf("%.2f", ratio))
		raws = append(raws, fmt.Sprintf("+%v: bulk %v, DNS floor %v", ms(lat), job.Wall.Round(time.Millisecond), floor.Wall.Round(time.Millisecond)))
		oc.Details = append(oc.Details, fmt.Sprintf("DNS +%v: floor: %v; bulk: %v", ms(lat), floor, job))
	}
	oc.Raw = strings.Join(raws, "; ")
	oc.Value = strings.Join(values, " / ")
	oc.Met = yesNo(met)
	oc.Details = append(oc.Details, fmt.Sprintf("The DNS floor: a plain miekg/dns client in the bench process asks the five questions of each domain (MX, A, AAAA, TXT, _dmarc TXT) at once, %d domains in flight, each worker keeping one UDP socket for the whole run. The job: one row per domain, on a fresh server (cold cache), clocked from the start of the upload to the last result row.", floorInFlight))
	return oc
}

// B3r: the B3 job's wall time ÷ (DNS floor for its domains at +5 ms + B6's
// validate CPU per lead × rows ÷ cores).
func (b *bench) b3Overhead(ctx context.Context, big bulkRun) outcome {
	s := b.opts.Sizes
	oc := outcome{ID: "B3r", Measure: "B3 wall time ÷ (its domains' DNS floor + its rows' validate CPU ÷ cores)", Target: fmt.Sprintf("≤ %.1f", targetB3r)}
	if b.validateNs <= 0 {
		return oc.fail(errors.New("needs B6's validate CPU per lead, which did not run"))
	}
	if big.Wall <= 0 || big.TimedOut {
		return oc.fail(errors.New("needs a completed B3 job"))
	}
	b.dns.SetLatency(bulkDNSLatency)
	defer b.dns.SetLatency(0)
	domains := b3Domains(s.Domains)
	floor, err := dnsFloor(ctx, b.dns.Addr(), domains, floorInFlight)
	if err != nil {
		return oc.fail(err)
	}
	cores := runtime.NumCPU()
	cpu := time.Duration(b.validateNs * float64(big.Rows) / float64(cores))
	ratio := big.Wall.Seconds() / (floor.Wall + cpu).Seconds()
	oc.Raw = fmt.Sprintf("B3 %v; DNS floor %v for %s domains at +5 ms; validate CPU %s/lead × %s rows ÷ %d cores = %v",
		big.Wall.Round(time.Millisecond), floor.Wall.Round(time.Millisecond), count(len(domains)),
		nsString(b.validateNs), count(big.Rows), cores, cpu.Round(time.Millisecond))
	oc.Value = fmt.Sprintf("%.2f", ratio)
	oc.Met = yesNo(ratio <= targetB3r)
	oc.Details = append(oc.Details, "DNS floor: "+floor.String()+". The B3 file's domains are its lead domains and the missing domains 3% of its rows point at.")
	return oc
}
