package bulk

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadcheck/leadcheck/cache"
	"github.com/leadcheck/leadcheck/internal/dnstest"
	"github.com/leadcheck/leadcheck/internal/testenv"
	"github.com/leadcheck/leadcheck/validate"
)

// BenchmarkBulkJob runs whole jobs end to end (upload to disk, scan, queue,
// validate, write both results files, checkpoint) over 100,000 rows of
// email + phone + name spread over 2,000 domains, with a loopback DNS
// server that adds 5 ms to every answer, through the same two-tier cache
// the server uses. "cold" starts each job with an empty cache (every
// domain is resolved once, by the job's memo); "warm" reuses it.
//
//	go test ./bulk/ -run '^$' -bench BulkJob -benchtime 3x
//	LEADCHECK_BENCH_ROWS=1000000 LEADCHECK_BENCH_DOMAINS=20000 go test ./bulk/ -run '^$' -bench BulkJob/cold -benchtime 1x
//
// It reports rows/s, the peak Go heap during the job, and the size of the
// results per row.
func BenchmarkBulkJob(b *testing.B) {
	rows := benchEnvInt(b, "LEADCHECK_BENCH_ROWS", 100_000)
	domains := benchEnvInt(b, "LEADCHECK_BENCH_DOMAINS", 2_000)
	// The file is written to disk and uploaded from there, so the heap
	// measured is the service's alone.
	body := filepath.Join(b.TempDir(), "leads.csv")
	f, err := os.Create(body)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("email,phone,name\n")
	for i := range rows {
		fmt.Fprintf(w, "lead%d@d%d.bench,+1 415 555 %04d,Jane Doe %d\n", i, i%domains, i%10000, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fx := testenv.NewFixture(b, dnstest.Config{Zone: benchZone(domains), Latency: 5 * time.Millisecond}, 2*time.Second)
	newCache := func() *cache.Domains {
		d, err := cache.NewDomains(cache.Config{MaxEntries: 2 * domains}, fx.Checker, nil)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			shared := newCache()
			defer shared.Close()
			b.ReportAllocs()
			var peak uint64
			var perRow float64
			for b.Loop() {
				domainsCache := shared
				if mode == "cold" {
					b.StopTimer()
					domainsCache = newCache()
					b.StartTimer()
				}
				p, size := runBenchJob(b, fx.Lists, domainsCache, body, rows)
				peak = max(peak, p)
				perRow = float64(size) / float64(rows)
				if mode == "cold" {
					domainsCache.Close()
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(perRow, "result-bytes/row")
		})
	}
}

// benchZone is a zone of n mail domains, d0.bench to d<n-1>.bench, each
// with an MX and an SPF record.
func benchZone(n int) string {
	var zone strings.Builder
	zone.WriteString("$ORIGIN bench.\n@ 300 IN SOA ns.bench. h.bench. 1 3600 600 86400 60\n")
	for i := range n {
		fmt.Fprintf(&zone, "d%d 300 IN MX 10 mx.d%d.bench.\nd%d 300 IN TXT \"v=spf1 mx -all\"\n", i, i, i)
	}
	return zone.String()
}

// BenchmarkNaivePerRow is the floor B5 compares against: the same kind of
// rows validated one after another, each with its own DNS lookups (no
// cache, no memo, no concurrency), as a loop calling /v1/validate would.
// B5 is (bulk seconds per row) ÷ (naive seconds per row).
//
//	go test ./bulk/ -run '^$' -bench NaivePerRow -benchtime 200x
func BenchmarkNaivePerRow(b *testing.B) {
	const domains = 2_000
	fx := testenv.NewFixture(b, dnstest.Config{Zone: benchZone(domains), Latency: 5 * time.Millisecond}, 2*time.Second)
	engine := fx.Engine()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		req := validate.Request{
			Email:   fmt.Sprintf("lead%d@d%d.bench", i, i%domains),
			Phone:   fmt.Sprintf("+1 415 555 %04d", i%10000),
			Name:    "Jane Doe",
			Country: "US",
		}
		if _, err := engine.Validate(ctx, req); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// runBenchJob runs one job and returns the peak heap seen while it ran and
// the bytes of its results files.
func runBenchJob(b *testing.B, lists *validate.Lists, domains validate.DomainChecker, path string, rows int) (peakHeap uint64, resultBytes int64) {
	dir := b.TempDir()
	svc, err := Open(Config{Dir: dir, Lists: lists, Domains: domains})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = svc.Run(ctx) })
	stopSampling := make(chan struct{})
	sampled := make(chan uint64, 1)
	go func() { sampled <- samplePeakHeap(stopSampling) }()

	up, err := svc.NewUpload()
	if err != nil {
		b.Fatal(err)
	}
	in, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	_, err = up.ReadFrom(in)
	in.Close()
	if err != nil {
		b.Fatal(err)
	}
	st, err := svc.Submit(ctx, "", up, Options{DefaultCountry: "US"})
	if err != nil {
		b.Fatal(err)
	}
	for !st.Status.Final() {
		time.Sleep(2 * time.Millisecond)
		st, _ = svc.Get(ctx, "", st.ID)
	}
	close(stopSampling)
	peakHeap = <-sampled
	cancel()
	wg.Wait()
	if st.Status != StatusCompleted || st.ProcessedRows != rows {
		b.Fatalf("job ended %s with %d of %d rows", st.Status, st.ProcessedRows, rows)
	}
	for _, name := range []string{resultsFile} {
		if fi, err := os.Stat(filepath.Join(dir, "jobs", st.ID, name)); err == nil {
			resultBytes += fi.Size()
		}
	}
	return peakHeap, resultBytes
}

// samplePeakHeap reads the live heap every 10 ms until stop is closed.
func samplePeakHeap(stop <-chan struct{}) uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		peak = max(peak, s[0].Value.Uint64())
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

func benchEnvInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q is not a positive number", name, v)
	}
	return n
}
