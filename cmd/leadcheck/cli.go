package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Exit statuses of validate and bulk, for scripts (see the usage text and
// the README). main is the only place that exits.
const (
	exitOK      = 0 // done, and nothing was invalid
	exitError   = 1 // could not do what was asked: bad flags, I/O, a server error
	exitInvalid = 2 // done, and at least one lead is invalid
)

// exitStatus is an error that sets the exit status. With an empty message
// main prints nothing (the output already says it all).
type exitStatus struct {
	code int
	msg  string
}

func (e *exitStatus) Error() string {
	if e.msg == "" {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.msg
}

// errSomeInvalid ends a run that worked and found an invalid lead.
var errSomeInvalid = &exitStatus{code: exitInvalid}

// commandFlags are the settings flags validate and bulk accept besides
// their own: the ones that change an in-process check. The other settings
// are the server's (serve lists them) and are read from the environment.
var commandFlags = []string{"dns", "dns-timeout", "validate-timeout"}

// loadCommandConfig is loadConfig for validate and bulk: the environment,
// then the flags, which may come before, between or after the values (a
// "--" ends the flags). Only the settings flags in commandFlags are
// defined. Flag errors name the flag as it was typed.
func loadCommandConfig(fs *flag.FlagSet, args []string, getenv func(string) string, stdout io.Writer) (config, []string, error) {
	c, err := loadEnv(getenv)
	if err != nil {
		return c, nil, err
	}
	for _, s := range settings() {
		if !slices.Contains(commandFlags, s.flag) {
			continue
		}
		set := s.set
		fs.Func(s.flag, s.usage+" (env "+s.env+")", func(v string) error { return set(&c, v) })
	}
	values, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return c, nil, err
	}
	if err != nil {
		return c, nil, fmt.Errorf("%w; see leadcheck %s --help", err, fs.Name())
	}
	return c, values, c.check()
}

// parseInterspersed parses flags wherever they are among the values, as
// GNU tools do; flag.Parse alone stops at the first value, which turned
// "validate a@b.com --country US" into three values.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard) // errors are returned, usage printed on -h only
	var values []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, spellFlag(err, args)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(values, rest...), nil
		}
		if len(rest) == 0 {
			return values, nil
		}
		values = append(values, rest[0])
		args = rest[1:]
	}
}

// spellFlag rewrites the flag package's "-name" in err as the user typed
// it ("--name").
func spellFlag(err error, args []string) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	for _, a := range args {
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		typed := a[:len(a)-len(strings.TrimLeft(a, "-"))] + name
		for _, suffix := range []string{":", ""} {
			old := " -" + name + suffix
			if (suffix == "" && strings.HasSuffix(msg, old)) || (suffix != "" && strings.Contains(msg, old)) {
				return errors.New(strings.Replace(msg, old, " "+typed+suffix, 1))
			}
		}
	}
	return err
}

// printFlags writes a flag set's flags as they are typed: "--name", "-o".
func printFlags(fs *flag.FlagSet, w io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if len(f.Name) == 1 {
			line = "  -" + f.Name
		}
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// rateMeter turns (time, rows done) samples into a rate over the last few
// seconds. The first sample is the job's progress when watching starts, so
// rows done before (during an upload, or between polls) are never counted
// as done in an instant: progressbar's own rate did that and showed rates
// like 8,992,020 rows/s.
type rateMeter struct {
	samples []rateSample
}

type rateSample struct {
	at   time.Time
	done int
}

const rateSpan = 5 * time.Second

// add records a sample and returns the rows per second over the window,
// or 0 while there is none yet.
func (m *rateMeter) add(now time.Time, done int) float64 {
	m.samples = append(m.samples, rateSample{now, done})
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) >= rateSpan {
		m.samples = m.samples[1:]
	}
	first := m.samples[0]
	elapsed := now.Sub(first.at).Seconds()
	if elapsed < 0.2 || done < first.done {
		return 0
	}
	return float64(done-first.done) / elapsed
}
