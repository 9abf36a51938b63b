package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// outcome is one row of the table: a target and what the run measured.
type outcome struct {
	ID      string
	Measure string
	Raw     string // the numbers behind the value
	Value   string // the ratio or value compared with the target
	Target  string
	Met     string // yes, no, n/a; empty when the scenario errored
	Err     error
	Details []string // every step and method note, for the markdown report
}

// fail marks the scenario as errored: it could not be measured.
func (o outcome) fail(err error) outcome {
	o.Err, o.Met, o.Value = err, "error", "—"
	if o.Raw == "" {
		o.Raw = firstLine(err.Error())
	}
	return o
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// report is the whole run: machine facts and the outcomes.
type report struct {
	Quick   bool
	Date    time.Time
	Machine machine
	// LoadStart and LoadEnd are /proc/loadavg at the start and the end:
	// other processes on a shared machine take CPU from every scenario.
	LoadStart, LoadEnd string
	Command            string
	Duration           time.Duration
	Outcomes           []outcome
}

func newReport(quick bool) *report {
	return &report{Quick: quick, Date: time.Now().UTC(), Machine: readMachine(), LoadStart: loadAverage()}
}

// loadAverage is the 1, 5 and 15 minute load average, or "" off Linux.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// machine describes where the numbers come from.
type machine struct {
	CPUs      int
	CPUModel  string
	MemTotal  int64 // bytes
	GoVersion string
	OS        string
}

func readMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = procField(b, "model name")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(procField(b, "MemTotal")); len(f) == 2 && f[1] == "kB" {
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				m.MemTotal = kb << 10
			}
		}
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc
// file (key compared after trimming spaces and tabs).
func procField(b []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (m machine) String() string {
	return fmt.Sprintf("%d CPUs (%s), %.1f GiB memory, %s, %s", m.CPUs, m.CPUModel, float64(m.MemTotal)/(1<<30), m.GoVersion, m.OS)
}

func (r *report) mode() string {
	if r.Quick {
		return "quick (small sizes: proves the suite runs, the numbers mean little)"
	}
	return "full"
}

// writeText prints the table for a terminal.
func (r *report) writeText(w io.Writer) error {
	fmt.Fprintf(w, "\nleadcheck benchmarks, %s mode, %s\nmachine: %s\nload average (1/5/15 min): %s at start, %s at end\n\n",
		r.mode(), r.Date.Format(time.RFC3339), r.Machine, r.LoadStart, r.LoadEnd)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tmeasure\tvalue\ttarget\tmet\traw numbers")
	for _, o := range r.Outcomes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", o.ID, o.Measure, o.Value, o.Target, o.Met, o.Raw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range r.Outcomes {
		if o.Err != nil {
			fmt.Fprintf(w, "\n%s error: %v\n", o.ID, o.Err)
		}
	}
	_, err := fmt.Fprintf(w, "\ntotal time %v\n", r.Duration.Round(time.Second))
	return err
}

// markdown renders the report for BENCHMARKS.md: the table, then how each
// number was taken.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Latest run\n\n")
	fmt.Fprintf(&b, "- Date: %s\n- Mode: %s\n- Machine: %s\n- Load average (1/5/15 min, other processes included): %s at start, %s at end\n- Command: `%s`\n- Total time: %v\n\n",
		r.Date.Format(time.RFC3339), r.mode(), r.Machine, r.LoadStart, r.LoadEnd, strings.TrimSpace(r.Command), r.Duration.Round(time.Second))
	b.WriteString("| # | measure | raw numbers | value | target | met |\n|---|---|---|---|---|---|\n")
	for _, o := range r.Outcomes {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", o.ID, mdCell(o.Measure), mdCell(o.Raw), mdCell(o.Value), mdCell(o.Target), o.Met)
	}
	b.WriteString("\n### Details\n")
	for _, o := range r.Outcomes {
		if len(o.Details) == 0 && o.Err == nil {
			continue
		}
		fmt.Fprintf(&b, "\n**%s**\n\n", o.ID)
		if o.Err != nil {
			fmt.Fprintf(&b, "```\n%v\n```\n\n", o.Err)
		}
		for _, d := range o.Details {
			fmt.Fprintf(&b, "- %s\n", mdCell(d))
		}
	}
	return b.String()
}

// mdCell keeps text inside one table cell.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
