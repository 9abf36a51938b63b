// Command leadcheck runs the lead validation service (serve), and checks
// values from the command line (validate).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, getenvOf(os.LookupEnv), os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "leadcheck:", err)
		os.Exit(1)
	}
}
