// Package proc builds and starts the programs a benchmark measures, as
// separate processes, and reads what the kernel says about them.
package proc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Build compiles the main package pkg into out as a release build would:
// static, trimmed, without symbols. dir is the module's root.
func Build(ctx context.Context, dir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg) //nolint:gosec // the go tool, on the benchmark's own packages
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", pkg, err, output)
	}
	return nil
}

// Process is a running program.
type Process struct {
	cmd *exec.Cmd
	// Addr is the address the program said it listens on.
	Addr   string
	exited chan struct{}
	err    error
}

// Spec says how to start a program.
type Spec struct {
	Path string
	Args []string
	// Env is the program's whole environment: nothing of the benchmark's
	// own leaks into what is measured.
	Env []string
	// Log receives what the program writes, stdout and stderr.
	Log *os.File
	// Serving is the message of the JSON log line (log/slog's "msg") with
	// which the program says it serves; its "addr" field is the address.
	Serving string
}

// Start starts the program and waits for its log to say where it serves.
// ctx bounds the wait only: the program runs until Stop, or until the
// benchmark's process ends, however it ends.
func Start(ctx context.Context, spec Spec) (*Process, error) {
	cmd := exec.Command(spec.Path, spec.Args...) //nolint:gosec // a program the benchmark built
	cmd.Env = spec.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = spec.Log
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	addrs := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		scanner := bufio.NewScanner(stderr)
		scanner.Buffer(make([]byte, 64<<10), 1<<20)
		for scanner.Scan() {
			line := scanner.Bytes()
			if addr, ok := ServingAddr(line, spec.Serving); ok {
				select {
				case addrs <- addr:
				default:
				}
			}
			fmt.Fprintf(spec.Log, "%s\n", line)
		}
		_, _ = io.Copy(spec.Log, stderr)
	}()
	go func() {
		<-copied
		p.err = cmd.Wait()
		close(p.exited)
	}()
	select {
	case p.Addr = <-addrs:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("start %s: exited before serving: %w", spec.Path, p.err)
	case <-ctx.Done():
		p.kill()
		return nil, fmt.Errorf("start %s: not serving: %w", spec.Path, ctx.Err())
	}
}

// ServingAddr reads the "addr" field of a JSON log line whose "msg" is
// serving.
func ServingAddr(line []byte, serving string) (string, bool) {
	var entry struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal(line, &entry) != nil || entry.Msg != serving || entry.Addr == "" {
		return "", false
	}
	return entry.Addr, true
}

// PID is the process's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Memory is a process's resident memory, in bytes.
type Memory struct {
	// RSS is VmRSS: all the process's pages in memory.
	RSS int64
	// Anon is RssAnon: its heap, stacks and other private pages.
	Anon int64
	// File is RssFile: pages of mapped files, chiefly its own binary,
	// which the kernel can drop and read again.
	File int64
}

// Memory reads the process's resident memory now.
func (p *Process) Memory() (Memory, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID()))
	if err != nil {
		return Memory{}, fmt.Errorf("read memory: %w", err)
	}
	return ParseStatus(status)
}

// ParseStatus reads the resident memory from the content of a
// /proc/PID/status file.
func ParseStatus(status []byte) (Memory, error) {
	var m Memory
	fields := map[string]*int64{"VmRSS": &m.RSS, "RssAnon": &m.Anon, "RssFile": &m.File}
	for line := range bytes.Lines(status) {
		name, value, ok := strings.Cut(string(line), ":")
		into := fields[name]
		if !ok || into == nil {
			continue
		}
		kb, err := kilobytes(value)
		if err != nil {
			return Memory{}, fmt.Errorf("parse %s: %w", name, err)
		}
		*into = kb * 1024
		delete(fields, name)
	}
	if len(fields) > 0 {
		return Memory{}, errors.New("no VmRSS, RssAnon or RssFile line: the process has exited, or is a kernel thread")
	}
	return m, nil
}

func kilobytes(value string) (int64, error) {
	fields := strings.Fields(value)
	if len(fields) != 2 || fields[1] != "kB" {
		return 0, fmt.Errorf("%q: want a number of kB", strings.TrimSpace(value))
	}
	return strconv.ParseInt(fields[0], 10, 64)
}

// Stop asks the process to stop with SIGTERM, and kills it after grace.
func (p *Process) Stop(grace time.Duration) error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.cmd.Path, err)
	}
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		p.kill()
		return fmt.Errorf("stop %s: still running %v after SIGTERM; killed", p.cmd.Path, grace)
	}
}

func (p *Process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}
