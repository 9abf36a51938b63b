// Command leadcheck runs the lead validation service (serve), and checks
// values (validate) and whole files (bulk) from the command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, getenvOf(os.LookupEnv), os.Stdout)
	stop()
	if err == nil {
		return
	}
	code := exitError
	var st *exitStatus
	if errors.As(err, &st) {
		code = st.code
	}
	if st == nil || st.msg != "" {
		fmt.Fprintln(os.Stderr, "leadcheck:", err)
	}
	os.Exit(code)
}
