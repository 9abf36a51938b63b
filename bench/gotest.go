package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The B6 benchmarks, in validate/bench_test.go.
const (
	benchValidate = "BenchmarkValidateEmailPhone"
	benchFloor    = "BenchmarkLibraryFloor"
)

// benchStat is one line of `go test -bench` output.
type benchStat struct {
	Name     string // without the -GOMAXPROCS suffix
	NsPerOp  float64
	AllocsOp float64 // -1 when not reported
}

// buildTestBinary compiles the validate package's tests once, so the
// rounds of B6 run the same binary without the go command in between.
func buildTestBinary(ctx context.Context, goBin, root, dir string) (string, error) {
	bin := filepath.Join(dir, "validate.test")
	cmd := exec.CommandContext(ctx, goBin, "test", "-c", "-o", bin, "./validate/")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go test -c ./validate/: %w\n%s", err, out)
	}
	return bin, nil
}

// runBenchBinary runs one benchmark once in the test binary, from the
// package directory as go test would.
func runBenchBinary(ctx context.Context, bin, dir, name, benchtime string) ([]benchStat, string, error) {
	args := []string{"-test.run", "^$", "-test.bench", "^" + name + "$",
		"-test.benchmem", "-test.benchtime", benchtime, "-test.count", "1"}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	command := "validate.test " + strings.Join(args, " ")
	if err != nil {
		return nil, command, fmt.Errorf("%s: %w\n%s", command, err, out)
	}
	stats, err := parseBenchOutput(bytes.NewReader(out))
	if err != nil {
		return nil, command, fmt.Errorf("%s: %w\n%s", command, err, out)
	}
	return stats, command, nil
}

// parseBenchOutput reads the result lines of `go test -bench` output, e.g.
//
//	BenchmarkLibraryFloor-2   39812   40120 ns/op   4797 B/op   62 allocs/op
//
// and skips every other line.
func parseBenchOutput(r io.Reader) ([]benchStat, error) {
	var stats []benchStat
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		if _, err := strconv.ParseUint(f[1], 10, 64); err != nil {
			continue
		}
		ns, err := strconv.ParseFloat(f[2], 64)
		if err != nil || ns < 0 || ns != ns {
			continue
		}
		st := benchStat{Name: trimProcs(f[0]), NsPerOp: ns, AllocsOp: -1}
		for i := 4; i+1 < len(f); i += 2 {
			if f[i+1] == "allocs/op" {
				if a, err := strconv.ParseFloat(f[i], 64); err == nil && a >= 0 {
					st.AllocsOp = a
				}
			}
		}
		stats = append(stats, st)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return stats, nil
}

// trimProcs drops the -N GOMAXPROCS suffix of a benchmark name.
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

// medianNs is the median ns/op of the named benchmark over its runs, with
// the runs themselves; ok is false when it did not run.
func medianNs(stats []benchStat, name string) (med float64, runs []float64, allocs float64, ok bool) {
	allocs = -1
	for _, s := range stats {
		if s.Name == name {
			runs = append(runs, s.NsPerOp)
			allocs = s.AllocsOp
		}
	}
	if len(runs) == 0 {
		return 0, nil, allocs, false
	}
	s := append([]float64(nil), runs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], runs, allocs, true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, runs, allocs, true
}
