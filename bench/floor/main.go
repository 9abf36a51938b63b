// Command floor is the framework floor of the benchmarks (B1 in
// BENCHMARKS.md): an Echo server whose one handler returns a fixed small
// JSON object. A cached GET /v1/validate cannot be faster than this, so the
// bench program loads both with the same generator and reports the ratio.
//
// It listens on FLOOR_ADDR and logs {"msg":"listening","addr":...} to
// stdout, as the service does.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// floorBody is what the floor answers: about the size of a small verdict.
type floorBody struct {
	Verdict string `json:"verdict"`
	Score   int    `json:"score"`
	Cached  bool   `json:"cached"`
}

// run serves GET /floor and /readyz on FLOOR_ADDR (default 127.0.0.1:0)
// until ctx ends.
func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	addr := getenv("FLOOR_ADDR")
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	logger := slog.New(slog.NewJSONHandler(stdout, nil))
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/floor", func(c echo.Context) error {
		return c.JSON(http.StatusOK, floorBody{Verdict: "valid", Score: 100, Cached: true})
	})
	e.GET("/readyz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	// The same server timeouts as the service, so neither side gets a
	// cheaper connection handling.
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	logger.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
