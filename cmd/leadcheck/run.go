package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

const usage = `leadcheck — lead validation API

Usage:
  leadcheck serve    [flags]            run the HTTP service
  leadcheck validate [flags] VALUE...   check emails, phones and domains and print JSON
  leadcheck bulk     [flags] FILE       validate a whole file (CSV, TSV, TXT, NDJSON, JSON) into a results file
  leadcheck keys new [flags]            make an API key and its keys-file entry
  leadcheck help                        print this text

Run "leadcheck COMMAND --help" for the flags of a command; flags may come
before or after the values. Every setting is an environment variable
(LEADCHECK_*, listed in the README); the flags of serve mirror most of them.

Exit status of validate and bulk: 0 when nothing is invalid, 2 when at
least one lead is invalid, 1 on an error (nothing was decided).
`

// run is the whole program; main only calls it and exits on its error.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stdout, usage)
		return errors.New("no command given; the commands are serve, validate, bulk and help")
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stdout)
		cfg, _, err := loadConfig(fs, rest, getenv)
		if err != nil {
			return flagError(err)
		}
		return serve(ctx, cfg, stdout)
	case "validate":
		return validateCommand(ctx, rest, getenv, stdout)
	case "bulk":
		return bulkCommand(ctx, rest, getenv, stdout)
	case "keys":
		return keysCommand(rest, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("unknown command %q; the commands are serve, validate, bulk and help", cmd)
	}
}

// flagError keeps -h quiet: asking for help is not a failure.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return fmt.Errorf("configuration: %w", err)
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
