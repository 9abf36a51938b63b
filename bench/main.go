// Command bench measures leadcheck against the speed and memory targets
// of BENCHMARKS.md (B1–B7, B10) in one run and prints one table: each target, the
// raw numbers behind it, the ratio, and whether it is met.
//
// The machines are shared and noisy, so every speed is a ratio against a
// floor measured in the same run on the same machine: an Echo handler that
// returns fixed JSON (B1), one DNS round trip (B2), the phone and syntax
// libraries alone (B6), the same rows validated one by one (B5). Memory is
// the peak RSS (VmHWM) of the server process, restarted for every scenario
// so peaks do not mix.
//
// What runs where: the bench builds the service (./cmd/leadcheck) and the
// framework floor (./bench/floor) and runs each as a separate process; it
// runs the fixture DNS server (internal/dnstest) and the load generator
// (vegeta) in its own process.
//
//	go run ./bench                      # the full suite, 2 to 8 minutes
//	go run ./bench -quick               # small sizes, under a minute (CI)
//	go run ./bench -out report.md       # also write the report as markdown
//
// The "Latest run" section of BENCHMARKS.md is such a report.
//
// It exits non-zero only when a scenario could not run (a server did not
// start, requests failed, a job lost rows), never because a target was
// missed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the command line of the bench.
type options struct {
	Quick    bool
	Out      string
	Work     string
	Keep     bool
	Only     map[string]bool
	RedisURL string
	// DatabaseURL is the PostgreSQL where B8 and B3p-B5p create (and
	// drop) a database of their own.
	DatabaseURL string
	Env         []string
	Timeout     time.Duration
	Sizes       sizes
}

// sizes are every knob that differs between the full suite and -quick.
type sizes struct {
	BulkRows, SubsetRows, Domains int
	NaiveSample                   int
	BulkTimeout, BulkPoll         time.Duration
	Capacity                      capacityConfig
	Warmup                        time.Duration
	CachedDomains                 int
	B2Requests                    int
	B2Rate                        float64
	DNSProbes                     int
	StartRuns                     int
	BenchTime                     string
	BenchRounds                   int
}

func fullSizes() sizes {
	return sizes{
		BulkRows: 1_000_000, SubsetRows: 100_000, Domains: 20_000,
		NaiveSample: 1000,
		BulkTimeout: 5 * time.Minute, BulkPoll: 20 * time.Millisecond,
		Capacity: capacityConfig{
			Rounds: 6, Burst: 3 * time.Second, Offered: 1_000_000, Workers: 64,
			LatencyShare: 0.5, LatencyRun: 5 * time.Second,
		},
		Warmup:        time.Second,
		CachedDomains: 1000,
		B2Requests:    400, B2Rate: 50, DNSProbes: 31,
		StartRuns: 5,
		BenchTime: "500ms", BenchRounds: 7,
	}
}

func quickSizes() sizes {
	return sizes{
		BulkRows: 20_000, SubsetRows: 2_000, Domains: 400,
		NaiveSample: 50,
		BulkTimeout: 30 * time.Second, BulkPoll: 20 * time.Millisecond,
		Capacity: capacityConfig{
			Rounds: 2, Burst: 500 * time.Millisecond, Offered: 1_000_000, Workers: 64,
			LatencyShare: 0.5, LatencyRun: 500 * time.Millisecond,
		},
		Warmup:        200 * time.Millisecond,
		CachedDomains: 200,
		B2Requests:    40, B2Rate: 40, DNSProbes: 11,
		StartRuns: 3,
		BenchTime: "100ms", BenchRounds: 2,
	}
}

// scenarioIDs are the targets in the order they run.
var scenarioIDs = []string{"B7", "B1", "B1k", "B2", "B6", "B3c", "B3", "B3r", "B4", "B5", "B8", "B3p", "B4p", "B5p", "B9", "B10"}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.Quick, "quick", false, "small sizes, under a minute: proves the suite works, measures little")
	fs.StringVar(&o.Out, "out", "", "also write the report as markdown to this file")
	fs.StringVar(&o.Work, "work", "", "directory for binaries, data and logs (default: a new temporary directory)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the work directory (the generated files, server data)")
	only := fs.String("only", "", "comma-separated targets to run, e.g. B1,B2 (default: all)")
	fs.StringVar(&o.RedisURL, "redis-url", "", "LEADCHECK_REDIS_URL for the service (default: none, in-process cache and disk jobs)")
	fs.StringVar(&o.DatabaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"PostgreSQL where B8 and B3p-B5p create a database of their own, dropped at the end")
	fs.Func("env", "extra KEY=VALUE for the service's environment (repeatable)", func(s string) error {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return fmt.Errorf("%q is not KEY=VALUE", s)
		}
		o.Env = append(o.Env, s)
		return nil
	})
	fs.DurationVar(&o.Timeout, "timeout", 0, "stop the whole run after this long (default 15m, -quick 3m)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.Sizes = fullSizes()
	if o.Quick {
		o.Sizes = quickSizes()
	}
	if o.Timeout == 0 {
		o.Timeout = 15 * time.Minute
		if o.Quick {
			o.Timeout = 3 * time.Minute
		}
	}
	o.Only = map[string]bool{}
	for _, id := range strings.Split(*only, ",") {
		id = strings.TrimSpace(id)
		if len(id) == 3 { // B3c, B3r: the letter stays lower case
			id = strings.ToUpper(id[:2]) + strings.ToLower(id[2:])
		} else {
			id = strings.ToUpper(id)
		}
		if id == "" {
			continue
		}
		known := false
		for _, s := range scenarioIDs {
			if strings.EqualFold(s, id) {
				known, id = true, s // B1k is written with a small k
			}
		}
		if !known {
			return o, fmt.Errorf("-only: unknown target %q; use some of %s", id, strings.Join(scenarioIDs, ","))
		}
		o.Only[id] = true
	}
	return o, nil
}

// run is the whole bench: parse, prepare, run the scenarios, report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the bench needs the go command to build the service: %w", err)
	}
	root, err := moduleRoot(ctx, goBin)
	if err != nil {
		return err
	}
	work := o.Work
	if work == "" {
		if work, err = os.MkdirTemp("", "leadcheck-bench-"); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		if !o.Keep {
			defer os.RemoveAll(work)
		}
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}

	b := &bench{opts: o, goBin: goBin, root: root, work: work, progress: stderr, started: time.Now()}
	defer b.close()
	if err := b.prepare(ctx); err != nil {
		return err
	}
	rep := b.runAll(ctx)
	rep.Command = "go run ./bench " + strings.Join(args, " ")
	rep.Duration = time.Since(b.started)
	rep.LoadEnd = loadAverage()

	if err := rep.writeText(stdout); err != nil {
		return fmt.Errorf("print report: %w", err)
	}
	if o.Out != "" {
		if err := os.WriteFile(o.Out, []byte(rep.markdown()), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", o.Out, err)
		}
	}
	var failed []string
	for _, oc := range rep.Outcomes {
		if oc.Err != nil {
			failed = append(failed, oc.ID)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d scenario(s) could not run: %s (see the errors above)", len(failed), strings.Join(failed, ", "))
	}
	if err := ctx.Err(); err != nil {
		return errors.Join(errors.New("run stopped early"), err)
	}
	return nil
}
