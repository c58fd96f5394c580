package load

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name   string
		sorted []int
		p      float64
		want   int
	}{
		{"none", nil, 0.5, 0},
		{"one", []int{7}, 0.99, 7},
		{"median of four is the lower middle", []int{1, 2, 3, 4}, 0.5, 2},
		{"p50 of 100", hundred, 0.50, 50},
		{"p99 of 100", hundred, 0.99, 99},
		{"max", hundred, 1, 100},
		{"p99 of 10 is the max", []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.99, 10},
		{"tiny p is the min", hundred, 0.001, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(%v, %v) = %d, want %d", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestMedianLeavesItsInputAlone(t *testing.T) {
	values := []float64{3, 1, 2}
	if got := Median(values); got != 2 {
		t.Errorf("Median = %v, want 2", got)
	}
	if values[0] != 3 || values[1] != 1 || values[2] != 2 {
		t.Errorf("Median sorted its input: %v", values)
	}
}

func TestSummarizeCountsFailuresAndTheirTime(t *testing.T) {
	results := []Result{
		{Latency: 3 * time.Millisecond},
		{Latency: 2500 * time.Millisecond, Err: errors.New("apology")},
		{Latency: 1 * time.Millisecond},
		{Latency: 2 * time.Millisecond},
	}
	got := Summarize(results)
	want := Summary{Count: 4, Failed: 1, P50: 2 * time.Millisecond, P99: 2500 * time.Millisecond, Max: 2500 * time.Millisecond}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
}

func TestPlanDue(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	p := Plan{Rate: 200, Count: 2000}
	for i, want := range map[int]time.Duration{0: 0, 1: 5 * time.Millisecond, 200: time.Second, 1999: 9995 * time.Millisecond} {
		if got := p.Due(start, i).Sub(start); got != want {
			t.Errorf("Due(%d) = start+%v, want start+%v", i, got, want)
		}
	}
}

// fakeClock jumps to the time a sleeper waits for.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(_ context.Context, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, t)
	if t.After(c.now) {
		c.now = t
	}
}

// TestRunIsAnOpenLoop holds every answer back until the last request has
// left: a sender that waited for answers would never get there. Each
// latency then runs from the request's own scheduled time to the last
// one's.
func TestRunIsAnOpenLoop(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &fakeClock{now: start}
	p := Plan{Rate: 100, Count: 5}
	var left sync.WaitGroup
	left.Add(p.Count)
	allLeft := make(chan struct{})
	go func() { left.Wait(); close(allLeft) }()

	done := make(chan []Result)
	go func() {
		done <- run(context.Background(), p, c, func(_ context.Context, i int) error {
			left.Done()
			<-allLeft
			if i == 3 {
				return errors.New("refused")
			}
			return nil
		})
	}()
	var results []Result
	select {
	case results = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run waited for an answer before sending the next request")
	}

	for i, at := range c.sleeps {
		if want := start.Add(time.Duration(i) * 10 * time.Millisecond); !at.Equal(want) {
			t.Errorf("request %d scheduled at start+%v, want start+%v", i, at.Sub(start), want.Sub(start))
		}
	}
	if len(results) != p.Count {
		t.Fatalf("%d results, want %d", len(results), p.Count)
	}
	for i, r := range results {
		want := time.Duration(p.Count-1-i) * 10 * time.Millisecond
		if r.Index != i || r.Latency != want {
			t.Errorf("result %d = %+v, want latency %v", i, r, want)
		}
		if (r.Err != nil) != (i == 3) {
			t.Errorf("result %d error = %v", i, r.Err)
		}
	}
}

func TestRunSendsNothingOnceCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results := run(ctx, Plan{Rate: 10, Count: 10}, &fakeClock{now: time.Now()}, func(context.Context, int) error {
		t.Error("a request was sent after the run was cancelled")
		return nil
	})
	if len(results) != 0 {
		t.Errorf("%d results, want none", len(results))
	}
}
