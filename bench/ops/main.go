// Command ops measures Hoist as the people who run it see it, and prints
// one markdown table of the figures, each beside its target:
//
//   - acknowledgement latency of signed slash commands and clicks at a
//     fixed rate, against the real hoist binary, beside a floor server
//     (bench/floor) under the same load in the same run;
//   - resident memory, idle and with many releases in flight, beside a
//     minimal Go HTTP server (the floor) built in the same run;
//   - how builds are shown in Slack, for 1 and 50 concurrent builds
//     (bench/builds);
//   - how fast a finished rollout is reported, and the Kubernetes API
//     requests it takes (integrations/kube's BenchmarkRollout), when the
//     control plane binaries of `make k8s-bins` exist.
//
// The machine is shared and noisy, so every latency is also given as a
// ratio to its baseline measured in the same run, and repeated measures
// are reported as medians. Progress goes to stderr, the table to stdout.
//
//	go run ./bench/ops                                  (make bench)
//	go run ./bench/ops -rounds 1 -build-duration 20s    (quicker, rougher)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hoistbot/hoist/bench/internal/proc"
)

// options are the command's flags.
type options struct {
	rate          float64
	load          time.Duration
	rounds        int
	inFlight      int
	buildLines    int
	buildDuration time.Duration
	rollouts      int
	sections      string
	keep          bool
}

func main() {
	var o options
	flag.Float64Var(&o.rate, "rate", 200, "requests a second in the acknowledgement measure")
	flag.DurationVar(&o.load, "load", 10*time.Second, "how long each acknowledgement measure sends for")
	flag.IntVar(&o.rounds, "rounds", 3, "how many times the acknowledgement and memory measures are repeated (medians are reported)")
	flag.IntVar(&o.inFlight, "in-flight", 1000, "releases in flight in the memory measure")
	flag.IntVar(&o.buildLines, "build-lines", 5000, "console lines each build prints in the Slack measure")
	flag.DurationVar(&o.buildDuration, "build-duration", time.Minute, "how long each build prints for in the Slack measure")
	flag.IntVar(&o.rollouts, "rollouts", 5, "rollouts followed per Deployment in the Kubernetes measure")
	flag.StringVar(&o.sections, "sections", "ack,memory,slack,kube", "the measures to run, comma-separated")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (binaries, logs, databases) and say where it is")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// bench is one run of the measures: where its binaries are, and the rows
// of the table it prints.
type bench struct {
	options
	root     string // the module's directory
	dir      string // the working directory of this run
	hoist    string // the hoist binary
	floor    string // the floor binary
	progress io.Writer
	rows     []row
}

func run(ctx context.Context, o options, out, progress io.Writer) error {
	started := time.Now()
	if o.rounds < 1 || o.rate <= 0 || o.inFlight < 1 || o.rollouts < 1 {
		return fmt.Errorf("-rounds, -rate, -in-flight and -rollouts must be positive")
	}
	sections := map[string]bool{}
	for s := range strings.SplitSeq(o.sections, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains([]string{"ack", "memory", "slack", "kube"}, s) {
			return fmt.Errorf("-sections: unknown measure %q; known: ack, memory, slack, kube", s)
		}
		sections[s] = true
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hoist-ops-bench-")
	if err != nil {
		return fmt.Errorf("make working directory: %w", err)
	}
	if o.keep {
		fmt.Fprintln(progress, "working directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	b := &bench{options: o, root: root, dir: dir, progress: progress,
		hoist: filepath.Join(dir, "hoist"), floor: filepath.Join(dir, "floor")}

	if sections["ack"] || sections["memory"] {
		b.logf("building hoist and the floor server")
		if err := proc.Build(ctx, root, "./cmd/hoist", b.hoist); err != nil {
			return err
		}
		if err := proc.Build(ctx, root, "./bench/floor", b.floor); err != nil {
			return err
		}
	}
	measures := []struct {
		name    string
		measure func(context.Context) error
	}{
		{"ack", b.ack},
		{"memory", b.memory},
		{"slack", b.slack},
		{"kube", b.kube},
	}
	var failed []string
	for _, m := range measures {
		if !sections[m.name] {
			continue
		}
		if err := m.measure(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.logf("%s: %v", m.name, err)
			b.add(row{figure: "The " + m.name + " measure", value: "failed: " + firstLine(err.Error()), verdict: verdict(false)})
			failed = append(failed, m.name)
		}
	}
	b.logf("done in %v", time.Since(started).Round(time.Second))
	fmt.Fprintf(out, "Measured %s on %s (%d cores), in %v.\n\n", time.Now().Format("2006-01-02"), machine(), runtime.NumCPU(), time.Since(started).Round(time.Second))
	writeTable(out, b.rows)
	if len(failed) > 0 {
		return fmt.Errorf("measures that failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (b *bench) add(r row) { b.rows = append(b.rows, r) }

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the module: run from inside Hoist's repository")
	}
	return filepath.Dir(gomod), nil
}
