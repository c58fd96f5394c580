// Package load sends requests on a fixed schedule, in an open loop: request
// i leaves at start + i/rate whether or not earlier ones have been answered,
// and its latency counts from that scheduled moment. A server that falls
// behind therefore shows its queue in the figures, instead of slowing the
// sender down and hiding it (coordinated omission).
package load

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// Plan is a fixed schedule: Count requests at Rate a second.
type Plan struct {
	Rate  float64
	Count int
}

// Due is when request i is scheduled to leave, for a run that starts at
// start.
func (p Plan) Due(start time.Time, i int) time.Time {
	return start.Add(time.Duration(float64(i) * float64(time.Second) / p.Rate))
}

// Result is the outcome of one request.
type Result struct {
	Index int
	// Latency runs from the request's scheduled departure to its answer,
	// or to the error.
	Latency time.Duration
	Err     error
}

// clock is the time source of a run; tests replace it.
type clock interface {
	Now() time.Time
	SleepUntil(ctx context.Context, t time.Time)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// Run sends the plan's requests, each through send in its own goroutine at
// its scheduled time, waits for every answer, and returns the results in
// the order of the plan. A request whose time has passed (the sender was
// descheduled) leaves at once and is charged for the delay. Requests not
// yet sent when ctx ends are left out.
func Run(ctx context.Context, p Plan, send func(ctx context.Context, i int) error) []Result {
	return run(ctx, p, realClock{}, send)
}

func run(ctx context.Context, p Plan, c clock, send func(ctx context.Context, i int) error) []Result {
	results := make([]Result, p.Count)
	start := c.Now()
	var wg sync.WaitGroup
	sent := 0
	for i := range p.Count {
		due := p.Due(start, i)
		c.SleepUntil(ctx, due)
		if ctx.Err() != nil {
			break
		}
		sent++
		wg.Go(func() {
			err := send(ctx, i)
			results[i] = Result{Index: i, Latency: c.Now().Sub(due), Err: err}
		})
	}
	wg.Wait()
	return results[:sent]
}

// Summary describes the latencies of the requests of a run. Failed
// requests count among them: the time until an error or an unexpected
// answer is time the caller waited too.
type Summary struct {
	Count  int
	Failed int
	P50    time.Duration
	P99    time.Duration
	Max    time.Duration
}

// Summarize computes the Summary of results.
func Summarize(results []Result) Summary {
	latencies := make([]time.Duration, 0, len(results))
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
		}
		latencies = append(latencies, r.Latency)
	}
	slices.Sort(latencies)
	return Summary{
		Count:  len(results),
		Failed: failed,
		P50:    Percentile(latencies, 0.50),
		P99:    Percentile(latencies, 0.99),
		Max:    Percentile(latencies, 1),
	}
}

// Percentile returns the p-th quantile (0 < p ≤ 1) of sorted by the
// nearest-rank method: the smallest value with at least a share p of the
// values at or below it. It is 0 for no values.
func Percentile[T cmp.Ordered](sorted []T, p float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	rank := int(math.Ceil(p * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Median returns the median of values (the lower of the middle two for an
// even count), leaving values as they were.
func Median[T cmp.Ordered](values []T) T {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	return Percentile(sorted, 0.5)
}
