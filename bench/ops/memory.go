package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hoistbot/hoist/bench/internal/load"
	"github.com/hoistbot/hoist/bench/internal/proc"
)

// memory measures resident memory: the floor server's and Hoist's after
// start, then Hoist's with b.inFlight releases in flight.
func (b *bench) memory(ctx context.Context) error {
	var floorIdle, hoistIdle, inFlight []proc.Memory
	var states map[string]int
	for round := 1; round <= b.rounds; round++ {
		f, err := b.floorMemory(ctx, round)
		if err != nil {
			return err
		}
		h, busy, s, err := b.hoistMemory(ctx, round)
		if err != nil {
			return err
		}
		floorIdle, hoistIdle, inFlight, states = append(floorIdle, f), append(hoistIdle, h), append(inFlight, busy), s
		b.logf("memory round %d: floor idle %s; hoist idle %s, with %d releases in flight %s (%s)",
			round, memoryText(f), memoryText(h), b.inFlight, memoryText(busy), statesText(states))
	}
	floor := medianMemory(floorIdle)
	idle, busy := medianMemory(hoistIdle), medianMemory(inFlight)
	baseline := "minimal Go HTTP server (the floor) " + mb(floor.RSS)
	b.add(row{figure: "Memory (RSS) idle, after start", value: memoryText(idle), baseline: baseline,
		ratio: fmt.Sprintf("%.1f ×", float64(idle.RSS)/float64(floor.RSS)), target: "≤ 25 MB", verdict: verdict(idle.RSS <= 25<<20)})
	b.add(row{figure: fmt.Sprintf("Memory (RSS) with %s releases in flight (%s)", thousands(b.inFlight), statesText(states)),
		value: memoryText(busy), baseline: baseline, ratio: fmt.Sprintf("%.1f ×", float64(busy.RSS)/float64(floor.RSS)),
		target: "≤ 150 MB", verdict: verdict(busy.RSS <= 150<<20)})
	return nil
}

// memoryText is RSS with its two parts: "40.0 MB (6.4 MB anonymous, 33.6 MB
// of files)".
func memoryText(m proc.Memory) string {
	return fmt.Sprintf("%s (%s anonymous, %s of files)", mb(m.RSS), mb(m.Anon), mb(m.File))
}

func (b *bench) floorMemory(ctx context.Context, round int) (proc.Memory, error) {
	p, log, err := b.startFloor(ctx, fmt.Sprintf("memory-%d-floor", round))
	if err != nil {
		return proc.Memory{}, err
	}
	defer log.Close()
	time.Sleep(time.Second)
	m, err := residentMemory(p)
	return m, errors.Join(err, p.Stop(10*time.Second))
}

// hoistMemory starts Hoist, measures it idle, asks for b.inFlight deploys
// whose builds last minutes, and measures it again once every release is
// building or waiting for a worker.
func (b *bench) hoistMemory(ctx context.Context, round int) (idle, busy proc.Memory, states map[string]int, err error) {
	r, err := b.startHoist(ctx, fmt.Sprintf("memory-%d-hoist", round))
	if err != nil {
		return idle, busy, nil, err
	}
	defer func() { err = errors.Join(err, r.stop(ctx)) }()
	time.Sleep(2 * time.Second)
	if idle, err = residentMemory(r.hoist); err != nil {
		return idle, busy, nil, err
	}
	reqs := make([]request, b.inFlight)
	for i := range reqs {
		reqs[i] = deploy(i, r.slack.ResponseURL("bench-"+strconv.Itoa(i)))
	}
	if s := load.Summarize(fire(ctx, r.base, reqs, b.rate, checkHoist)); s.Failed > 0 {
		return idle, busy, nil, fmt.Errorf("%d of %d deploys not requested", s.Failed, s.Count)
	}
	if states, err = waitInFlight(ctx, r, b.inFlight); err != nil {
		return idle, busy, nil, err
	}
	busy, err = residentMemory(r.hoist)
	return idle, busy, states, err
}

// waitInFlight waits until the n releases are all building or waiting for
// a worker, and the number building has stayed the same for 3 seconds.
// It reads the states from Hoist's /metrics, and the builds from Jenkins.
func waitInFlight(ctx context.Context, r *rig, n int) (map[string]int, error) {
	const poll, steadyPolls = 500 * time.Millisecond, 6
	deadline := time.Now().Add(3 * time.Minute)
	steady, last := 0, -1
	for {
		states, err := releaseStates(ctx, r.base)
		if err != nil {
			return nil, err
		}
		running := r.runningBuilds()
		settled := states["building"] == running && states["building"]+states["requested"] == n && running == last
		if settled {
			steady++
		} else {
			steady = 0
		}
		if steady >= steadyPolls {
			return states, nil
		}
		last = running
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("releases not settled after 3 minutes: %s, %d Jenkins builds running", statesText(states), running)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// releaseStates reads hoist_releases from Hoist's /metrics: the number of
// releases in each state, all environments together.
func releaseStates(ctx context.Context, base string) (map[string]int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read metrics: HTTP %d", resp.StatusCode)
	}
	return parseReleaseStates(resp.Body)
}

// parseReleaseStates sums the hoist_releases samples of a Prometheus text
// exposition by state.
func parseReleaseStates(r io.Reader) (map[string]int, error) {
	states := map[string]int{}
	found := false
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		rest, ok := strings.CutPrefix(line, "hoist_releases{")
		if !ok {
			continue
		}
		labels, value, closed := strings.Cut(rest, "} ")
		_, state, labelled := strings.Cut(labels, `state="`)
		state, _, _ = strings.Cut(state, `"`)
		count, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if !closed || !labelled || err != nil {
			return nil, fmt.Errorf("parse metrics: %q", line)
		}
		states[state] += int(count)
		found = true
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	if !found {
		return nil, errors.New("read metrics: no hoist_releases")
	}
	return states, nil
}

// statesText lists the states that have releases, building first.
func statesText(states map[string]int) string {
	var parts []string
	for _, s := range []string{"building", "requested", "awaiting_approval", "approved", "succeeded", "failed", "cancelled"} {
		if states[s] > 0 {
			name := s
			if s == "requested" {
				name = "waiting for a worker"
			}
			parts = append(parts, fmt.Sprintf("%d %s", states[s], name))
		}
	}
	return strings.Join(parts, ", ")
}

// thousands writes n with a comma between thousands: 1,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
