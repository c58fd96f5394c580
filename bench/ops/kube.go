package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/hoistbot/hoist/internal/kubelocal"
)

const (
	shortRollout = "BenchmarkRollout/short/replicas=1"
	longRollout  = "BenchmarkRollout/long/replicas=10"
)

// kube runs integrations/kube's BenchmarkRollout against the local
// control plane (or the cluster HOIST_TEST_KUBECONFIG names): how soon
// Hoist reports a rollout its Deployment says is complete, and how many
// API requests following one takes, for a short and a long rollout.
func (b *bench) kube(ctx context.Context) error {
	if os.Getenv("HOIST_TEST_KUBECONFIG") == "" {
		dir, err := kubelocal.BinDir()
		if err != nil || kubelocal.Missing(dir) != "" {
			b.logf("kubernetes: skipped, no control plane binaries: run make k8s-bins")
			b.add(row{figure: "Kubernetes: rollout reported after rolled out; API requests per rollout", value: "skipped: run make k8s-bins"})
			return nil
		}
	}
	b.logf("kubernetes: %d rollouts of 1 and of 10 replicas (go test -bench Rollout ./integrations/kube/)", b.rollouts)
	args := []string{"test", "-run", "^$", "-bench", "^BenchmarkRollout$", "-benchtime", strconv.Itoa(b.rollouts) + "x", "-count", "1", "./integrations/kube/"}
	cmd := exec.CommandContext(ctx, "go", args...) //nolint:gosec // the go tool, on Hoist's own package
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "HOIST_TEST_KUBE=1") // fail, not skip, when the control plane does not start
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("BenchmarkRollout: %w\n%s", err, tail(out, 20))
	}
	results := parseBenchmarks(out)
	short, long := results[shortRollout], results[longRollout]
	if short == nil || long == nil {
		return fmt.Errorf("BenchmarkRollout printed no figures for %s and %s:\n%s", shortRollout, longRollout, tail(out, 20))
	}
	worst := max(short["report-max-ms"], long["report-max-ms"])
	b.add(row{
		figure: fmt.Sprintf("Rollout reported after the Deployment rolled out: mean, worst (%d rollouts of 1 replica / of 10, one at a time)", b.rollouts),
		value:  fmt.Sprintf("%.1f ms, %.1f ms / %.1f ms, %.1f ms", short["report-ms"], short["report-max-ms"], long["report-ms"], long["report-max-ms"]),
		target: "≤ 1 s", verdict: verdict(worst <= 1000)})
	b.add(row{
		figure: fmt.Sprintf("Kubernetes API requests per followed rollout (rollouts of %s / %s)", seconds(short["rollout-s"]), seconds(long["rollout-s"])),
		value:  fmt.Sprintf("%g / %g", short["requests/rollout"], long["requests/rollout"]),
		target: "the same however long", verdict: verdict(short["requests/rollout"] == long["requests/rollout"])})
	return nil
}

// parseBenchmarks reads go test -bench output: for each benchmark, by
// name without its -GOMAXPROCS suffix, its figures by unit.
func parseBenchmarks(out []byte) map[string]map[string]float64 {
	results := map[string]map[string]float64{}
	scanner := bufio.NewScanner(bytes.NewReader(out))
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || len(fields)%2 != 0 {
			continue
		}
		figures := map[string]float64{}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			figures[fields[i+1]] = v
		}
		results[withoutProcs(fields[0])] = figures
	}
	return results
}

// withoutProcs removes the -GOMAXPROCS suffix go test adds to a
// benchmark's name.
func withoutProcs(name string) string {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+1:]); err != nil {
		return name
	}
	return name[:i]
}

// tail is the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

func seconds(s float64) string { return durationText(time.Duration(s * float64(time.Second))) }
