package bot

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
)

func baseRolloutView() release.RolloutView {
	return release.RolloutView{
		Release: 42, Cluster: "main", Namespace: "api-staging", Deployment: "api", Seen: true,
		Progress: release.RolloutProgress{Desired: 5, Updated: 3, Available: 2, Old: 1},
		Started:  buildStart, Now: buildStart.Add(40 * time.Second),
	}
}

func TestRenderRolloutGolden(t *testing.T) {
	with := func(f func(v *release.RolloutView)) release.RolloutView {
		v := baseRolloutView()
		f(&v)
		return v
	}
	var stuck []string
	for i := range 7 {
		stuck = append(stuck, fmt.Sprintf("api-7c9f-%d: CrashLoopBackOff: back-off 10s restarting failed container <api>", i))
	}
	for _, tc := range []struct {
		name     string
		view     release.RolloutView
		progress string
		fallback string
	}{
		{"progressing", baseRolloutView(), "▰▰▰▱▱ 3/5 updated · 2 available · 1 old", "Rolling out api in api-staging: 3/5 updated"},
		{"waiting", with(func(v *release.RolloutView) { v.Seen, v.Progress = false, release.RolloutProgress{} }), "Waiting for Deployment `api` to appear…", "Rolling out api in api-staging: 0/0 updated"},
		{"stuck", with(func(v *release.RolloutView) { v.Progress.Stuck = stuck }), "▰▰▰▱▱ 3/5 updated", ""},
		{"succeeded", with(func(v *release.RolloutView) {
			v.Result, v.Progress = "succeeded", release.RolloutProgress{Desired: 5, Updated: 5, Available: 5}
		}), "▰▰▰▰▰ 5/5 updated · 5 available", "Rolled out api in api-staging"},
		{"failed", with(func(v *release.RolloutView) {
			v.Result, v.Reason = "failed", "deployment api exceeded its progress deadline"
		}), "exceeded its progress deadline", "Rollout of api in api-staging failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blocks, fallback := RenderRollout(tc.view)
			checkGolden(t, filepath.Join("testdata", "rollout_"+tc.name+".golden.json"), marshalBlocks(t, blocks))
			if tc.fallback != "" && fallback != tc.fallback {
				t.Errorf("fallback = %q, want %q", fallback, tc.fallback)
			}
			var texts []string
			for _, b := range blockMaps(t, blocks) {
				walkTexts("", b, func(_, text string) { texts = append(texts, text) })
			}
			all := strings.Join(texts, "\n")
			if !strings.Contains(all, tc.progress) {
				t.Errorf("texts %q lack %q", all, tc.progress)
			}
			if strings.Contains(all, "<api>") {
				t.Errorf("texts %q carry an unescaped <api>", all)
			}
		})
	}
}

func TestRenderRolloutNamesAtMostFiveStuckPods(t *testing.T) {
	v := baseRolloutView()
	for i := range 7 {
		v.Progress.Stuck = append(v.Progress.Stuck, fmt.Sprintf("api-%d: ImagePullBackOff: not found", i))
	}
	blocks, _ := RenderRollout(v)
	var texts []string
	for _, b := range blockMaps(t, blocks) {
		walkTexts("", b, func(_, text string) { texts = append(texts, text) })
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "`api-4`: ImagePullBackOff: not found") || strings.Contains(all, "api-5") || !strings.Contains(all, "…and 2 more") {
		t.Errorf("stuck lines = %q; want five pods named and the rest counted", all)
	}
}
