package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// buildBinaries compiles the service and the framework floor into dir, so
// each scenario starts a plain process (no `go run` wrapper between the bench
// and the pid whose memory it reads).
func buildBinaries(ctx context.Context, goBin, root, dir string) (server, floor string, err error) {
	server, floor = filepath.Join(dir, "leadcheck"), filepath.Join(dir, "floor")
	for _, b := range []struct{ out, pkg string }{{server, "./cmd/leadcheck"}, {floor, "./bench/floor"}} {
		cmd := exec.CommandContext(ctx, goBin, "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return server, floor, nil
}

// moduleRoot finds the repository root from the go command, so the bench
// works from any directory inside the module (go run ./bench, go test).
func moduleRoot(ctx context.Context, goBin string) (string, error) {
	out, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the leadcheck module; run from the repository")
	}
	return filepath.Dir(mod), nil
}

// proc is a server process the bench started and owns: the leadcheck
// service or the framework floor. Only the tail of its output is kept, for
// error messages.
type proc struct {
	name    string
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	waitErr error
	out     *tailBuffer
	stopped bool
}

// startProc starts bin with args and exactly env (nothing is inherited
// unless the caller puts it in env). Linux kills it if the bench dies.
func startProc(name, bin string, args, env []string) (*proc, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{
		name:   name,
		cmd:    cmd,
		exited: make(chan struct{}),
		out:    newTailBuffer(16 << 10),
	}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	_ = w.Close()
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		p.readOutput(r)
		_ = r.Close()
	}()
	go func() {
		err := cmd.Wait()
		<-outDone
		p.waitErr = err
		close(p.exited)
	}()
	return p, nil
}

// readOutput keeps the tail of the output for error messages.
func (p *proc) readOutput(r io.Reader) {
	_, _ = io.Copy(p.out, r)
}

// freeAddr finds a free loopback port for a server to listen on. The
// port is known before the process starts, so readiness can be polled from
// the first millisecond whatever the server logs.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	return addr, nil
}

// waitReady polls GET /readyz every millisecond and returns the time from
// process start to the first 200.
func (p *proc) waitReady(ctx context.Context, addr string, timeout time.Duration) (time.Duration, error) {
	hc := &http.Client{Timeout: 200 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	url := "http://" + addr + "/readyz"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, fmt.Errorf("%s readyz: %w", p.name, err)
		}
		resp, err := hc.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.started), nil
			}
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("%s exited before ready (%v):\n%s", p.name, p.waitErr, p.out.String())
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s: /readyz not 200 within %v (last error %v):\n%s", p.name, timeout, err, p.out.String())
		}
		time.Sleep(time.Millisecond)
	}
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func (p *proc) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("%s peak rss: %w", p.name, err)
	}
	n, ok := parseVmHWM(b)
	if !ok {
		return 0, fmt.Errorf("%s peak rss: no VmHWM line in /proc/%d/status", p.name, p.cmd.Process.Pid)
	}
	return n, nil
}

// parseVmHWM reads the "VmHWM:   12345 kB" line of /proc/<pid>/status.
func parseVmHWM(status []byte) (int64, bool) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		fields := strings.Fields(string(rest))
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}

// alive reports an error when the process ended on its own.
func (p *proc) alive() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited during the scenario (%v):\n%s", p.name, p.waitErr, p.out.String())
	default:
		return nil
	}
}

// stop asks the process to shut down (SIGTERM), kills it after grace, and
// waits for it. It is safe to call more than once.
func (p *proc) stop(grace time.Duration) error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	early := p.alive()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	return early
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(b) >= t.max {
		// Only the end of b fits.
		t.buf = append(t.buf[:0], b[len(b)-t.max:]...)
		return len(b), nil
	}
	if over := len(t.buf) + len(b) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, b...)
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
