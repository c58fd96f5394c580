package bot

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
)

// rolloutCells is the width of a rollout's progress bar.
const rolloutCells = 5

// maxStuckShown is how many stuck pods a rollout message names.
const maxStuckShown = 5

// RenderRollout renders the live rollout message in a release's thread as
// Block Kit blocks, and the one-line fallback text for notifications:
//
//	🚢 Rolling out `api` in `api-staging` (cluster main) · 40s
//	▰▰▰▱▱ 3/5 updated · 2 available · 1 old
//	⚠️ `api-7c9f-x2`: CrashLoopBackOff: back-off 10s restarting failed container
//
// A finished rollout says "✅ Rolled out …" or "❌ Rollout … failed" with
// the reason.
func RenderRollout(v release.RolloutView) (blocks []slack.Block, fallback string) {
	blockID := func(part string) string { return "rollout_" + v.Release.String() + "_" + part }
	status := rolloutHeadline(v) + "\n" + rolloutProgress(v)
	if v.Result == "failed" && v.Reason != "" {
		status += "\n" + fitText(SlackText(v.Reason), 1000)
	}
	blocks = append(blocks, cardSection(blockID("status"), status))
	if stuck := stuckLines(v.Progress.Stuck); stuck != "" {
		blocks = append(blocks, cardContext(blockID("stuck"), stuck))
	}
	return blocks, rolloutFallback(v)
}

func rolloutHeadline(v release.RolloutView) string {
	where := fmt.Sprintf("%s in %s (cluster %s)", mdCode(v.Deployment), mdCode(v.Namespace), SlackText(v.Cluster))
	elapsed := formatBuildDuration(max(v.Now.Sub(v.Started), 0))
	switch v.Result {
	case "succeeded":
		return "✅ Rolled out " + where + " in " + elapsed
	case "failed":
		return "❌ Rollout of " + where + " failed after " + elapsed
	}
	return "🚢 Rolling out " + where + " · " + elapsed
}

// rolloutProgress is "▰▰▰▱▱ 3/5 updated · 2 available · 1 old".
func rolloutProgress(v release.RolloutView) string {
	p := v.Progress
	if !v.Seen {
		return "Waiting for Deployment " + mdCode(v.Deployment) + " to appear…"
	}
	filled := 0
	if p.Desired > 0 {
		filled = int(min(p.Updated, p.Desired)) * rolloutCells / int(p.Desired)
	} else if v.Result == "succeeded" {
		filled = rolloutCells
	}
	line := strings.Repeat("▰", filled) + strings.Repeat("▱", rolloutCells-filled)
	line += fmt.Sprintf(" %d/%d updated · %d available", p.Updated, p.Desired, p.Available)
	if p.Old > 0 {
		line += fmt.Sprintf(" · %d old", p.Old)
	}
	return line
}

func stuckLines(stuck []string) string {
	var lines []string
	for i, s := range stuck {
		if i == maxStuckShown {
			lines = append(lines, fmt.Sprintf("…and %d more", len(stuck)-maxStuckShown))
			break
		}
		pod, why, _ := strings.Cut(s, ": ")
		lines = append(lines, "⚠️ "+mdCode(pod)+": "+SlackText(why))
	}
	return strings.Join(lines, "\n")
}

func rolloutFallback(v release.RolloutView) string {
	p := v.Progress
	switch v.Result {
	case "succeeded":
		return fmt.Sprintf("Rolled out %s in %s", v.Deployment, v.Namespace)
	case "failed":
		return fmt.Sprintf("Rollout of %s in %s failed", v.Deployment, v.Namespace)
	}
	return fmt.Sprintf("Rolling out %s in %s: %d/%d updated", v.Deployment, v.Namespace, p.Updated, p.Desired)
}
