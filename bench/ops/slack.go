package main

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hoistbot/hoist/bench/internal/streaming"
)

// slack measures how builds are shown in Slack, for a lone build and for
// 50 at once, both at once: each runs its own Hoist and simulators.
func (b *bench) slack(ctx context.Context) error {
	b.logf("slack: 1 and 50 builds of %d lines over %s, side by side", b.buildLines, durationText(b.buildDuration))
	var one, fifty streaming.Result
	g, gctx := errgroup.WithContext(ctx)
	for _, m := range []struct {
		builds int
		into   *streaming.Result
	}{{1, &one}, {50, &fifty}} {
		g.Go(func() error {
			r, err := streaming.Run(gctx, streaming.Options{Builds: m.builds, Lines: b.buildLines, Duration: b.buildDuration, Budget: 50, Tier: 50})
			if err != nil {
				return fmt.Errorf("%d builds: %w", m.builds, err)
			}
			*m.into = r
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	b.logf("slack: 1 build: %d calls, %d 429s, lag max %s, gap %s; 50 builds: %d calls, %d 429s, gap %s",
		one.Calls, one.Limited, durationText(one.LagMax), durationText(one.MaxGap), fifty.Calls, fifty.Limited, durationText(fifty.MaxGap))

	pair := func(f func(streaming.Result) string) string { return f(one) + " / " + f(fifty) }
	shape := fmt.Sprintf("1 / 50 builds × %s lines over %s", thousands(b.buildLines), durationText(b.buildDuration))
	b.add(row{figure: "Slack calls (" + shape + ")",
		value: pair(func(r streaming.Result) string { return fmt.Sprintf("%d (%d chat.update)", r.Calls, r.Updates) }),
		baseline: pair(func(r streaming.Result) string {
			return fmt.Sprintf("%s updates, one per log poll", thousands(r.Polls))
		}),
		ratio: pair(func(r streaming.Result) string { return fmt.Sprintf("%.3f", r.UpdatesPerPoll()) })})
	b.add(row{figure: "Slack 429s received (1 / 50 builds)", value: pair(func(r streaming.Result) string { return fmt.Sprint(r.Limited) }),
		target: "0", verdict: verdict(one.Limited == 0 && fifty.Limited == 0)})
	b.add(row{figure: "Line lag, Jenkins → Slack, lone build", value: lagText(one), target: "≤ 3 s", verdict: verdict(one.LagMax <= 3*time.Second)})
	b.add(row{figure: "Line lag, Jenkins → Slack, 50 builds", value: lagText(fifty)})
	for _, r := range []struct {
		streaming.Result
		name string
	}{{one, "a lone build"}, {fifty, "50 builds"}} {
		b.add(row{figure: "Longest wait between refreshes of a live message, " + r.name + ", 50 updates/min",
			value: durationText(r.MaxGap), baseline: "bound 1.5 × N/B = " + durationText(r.Bound), ratio: fmt.Sprintf("%.2f of the bound", ratio(r.MaxGap, r.Bound)),
			target: "≤ bound", verdict: verdict(r.MaxGap <= r.Bound)})
	}
	b.add(row{figure: "Jenkins log bytes fetched per byte of log (1 / 50 builds)",
		value:  pair(func(r streaming.Result) string { return fmt.Sprintf("%.4f", r.BytesPerLogByte()) }),
		target: "≤ 1.05", verdict: verdict(one.BytesPerLogByte() <= 1.05 && fifty.BytesPerLogByte() <= 1.05)})
	b.add(row{figure: "Until Slack showed every final state, from the first command (1 / 50 builds)",
		value: pair(func(r streaming.Result) string { return durationText(r.Shown) })})
	return nil
}

func lagText(r streaming.Result) string {
	return fmt.Sprintf("p50 %s, p95 %s, max %s", durationText(r.LagP50), durationText(r.LagP95), durationText(r.LagMax))
}
