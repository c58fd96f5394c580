package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// row is one figure of the table: Hoist's value, the baseline measured in
// the same run, their ratio, and the target with whether it is met.
type row struct {
	figure   string
	value    string
	baseline string
	ratio    string
	target   string
	verdict  string
}

func writeTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| figure | Hoist | baseline, same run | ratio | target | |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		cells := []string{r.figure, r.value, r.baseline, r.ratio, r.target, r.verdict}
		for i, c := range cells {
			if c == "" {
				cells[i] = "—"
			}
			cells[i] = strings.ReplaceAll(cells[i], "|", "\\|")
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

func verdict(ok bool) string {
	if ok {
		return "pass"
	}
	return "**FAIL**"
}

func ratio(value, baseline time.Duration) float64 {
	if baseline <= 0 {
		return 0
	}
	return float64(value) / float64(baseline)
}

func times(r float64) string { return fmt.Sprintf("%.2f ×", r) }

// durationText writes d with the precision that matters at its size.
func durationText(d time.Duration) string {
	switch {
	case d >= time.Minute:
		d = d.Round(time.Second)
		if d%time.Minute == 0 {
			return fmt.Sprintf("%d min", int(d.Minutes()))
		}
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int((d % time.Minute).Seconds()))
	case d >= 10*time.Second:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func mb(bytes int64) string { return fmt.Sprintf("%.1f MB", float64(bytes)/(1<<20)) }

// machine names the CPU, from /proc/cpuinfo.
func machine() string {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for line := range strings.Lines(string(info)) {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimLeft(name, " \t:"))
		}
	}
	return runtime.GOARCH
}
