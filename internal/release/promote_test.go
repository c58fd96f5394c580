package release_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
)

// stagingRuns deploys latest (bbbbbbb) to staging, as release 1.
func stagingRuns(h *harness) {
	h.t.Helper()
	h.do(dev, "deploy api latest")
	h.waitState(1, release.AwaitingApproval)
	h.do(admin1, "approve 1")
	h.waitState(1, release.Succeeded)
}

// promoteApproved promotes staging to production as release 2, approved.
func promoteApproved(h *harness) {
	h.t.Helper()
	h.do(dev, "promote api")
	h.waitState(2, release.AwaitingApproval)
	h.do(admin1, "approve 2")
}

// latestAheadOfMaster makes latest's commit descend from master's.
func latestAheadOfMaster(_ *config.Config, p *release.Ports) {
	p.SCM.(*fakeSCM).parents[sha("b")] = []string{sha("a")}
}

// recordBuilds keeps the last build request in *got.
func recordBuilds(got *release.BuildRequest) func(*config.Config, *release.Ports) {
	return func(_ *config.Config, p *release.Ports) {
		p.Pipeline = &recordingPipeline{fakePipeline: p.Pipeline.(*fakePipeline), req: got}
	}
}

func (h *harness) threadText() string {
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	return strings.Join(h.chat.thread, "\n")
}

func TestPromoteMergesAPullRequestWhenMasterIsBehind(t *testing.T) {
	var build release.BuildRequest
	h := newHarness(t, latestAheadOfMaster, recordBuilds(&build), func(c *config.Config, _ *release.Ports) { c.GitHub.MergeMethod = "squash" })
	stagingRuns(h)
	promoteApproved(h)
	h.waitState(2, release.Succeeded)

	pulls := h.scm().pullsCopy()
	if len(pulls) != 1 {
		t.Fatalf("pull requests = %+v; want one", pulls)
	}
	pr := pulls[0]
	if pr.Head != "latest" || pr.Base != "master" || !pr.Merged {
		t.Errorf("pull request = %+v; want latest merged into master", pr)
	}
	if pr.Title != "Promote api bbbbbbb from staging to production (Hoist release #2)" {
		t.Errorf("title = %q", pr.Title)
	}
	for _, want := range []string{sha("b"), "(Change bbb)", "https://example.slack.com/archives/CASK/p", "<!-- hoist-release: 2 -->"} {
		if !strings.Contains(pr.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, pr.Body)
		}
	}
	if methods := h.scm().methods; len(methods) != 1 || methods[0] != "squash" {
		t.Errorf("merge methods = %v; want [squash]", methods)
	}
	if build.Params["RELEASE_ID"] != "2" || build.Params["COMMIT"] != sha("b") || build.Job != "api/production" {
		t.Errorf("build = %+v; want production's job with exactly the promoted commit", build)
	}
	if got := h.threadText(); !strings.Contains(got, "Merged <https://github.test/acme/api/pull/1|pull request #1> into `master` (squash)") {
		t.Errorf("thread = %q", got)
	}
}

func TestPromoteWhenMasterIsThereAlready(t *testing.T) {
	h := newHarness(t)
	stagingRuns(h)
	h.scm().setHead("master", sha("b"))
	promoteApproved(h)
	h.waitState(2, release.Succeeded)
	if pulls := h.scm().pullsCopy(); len(pulls) != 0 {
		t.Errorf("pull requests = %+v; master already points at the commit", pulls)
	}
	if h.ci.builds(2) != 1 {
		t.Errorf("builds of the promotion = %d; want 1", h.ci.builds(2))
	}
	if got := h.threadText(); !strings.Contains(got, "`master` already points at <https://github.test/acme/api/commit/"+sha("b")+"|bbbbbbb>: nothing to merge.") {
		t.Errorf("thread = %q", got)
	}
}

func TestPromoteRefusedByBranchProtection(t *testing.T) {
	h := newHarness(t, latestAheadOfMaster, func(_ *config.Config, p *release.Ports) {
		p.SCM.(*fakeSCM).mergeErr = errors.New("At least 1 approving review is required by reviewers with write access (405)")
	})
	stagingRuns(h)
	promoteApproved(h)
	r := h.waitState(2, release.Failed)
	for _, want := range []string{"GitHub refused to merge <https://github.test/acme/api/pull/1|pull request #1> into `master`",
		"At least 1 approving review is required", "nothing was deployed"} {
		if !strings.Contains(r.StateReason, want) {
			t.Errorf("reason = %q; want %q in it", r.StateReason, want)
		}
	}
	if pulls := h.scm().pullsCopy(); len(pulls) != 1 || pulls[0].Open || pulls[0].Merged {
		t.Errorf("pull requests = %+v; want the one Hoist opened closed again", pulls)
	}
	if got := h.scm().head("master"); got != sha("a") {
		t.Errorf("master moved to %s", got)
	}
	if n := h.ci.builds(2); n != 0 {
		t.Errorf("%d builds of a promotion GitHub refused", n)
	}
	if got := h.threadText(); !strings.Contains(got, "⚠️ GitHub refused to merge") {
		t.Errorf("thread = %q", got)
	}
}

func TestPromoteKeepsAPullRequestItDidNotOpen(t *testing.T) {
	h := newHarness(t, latestAheadOfMaster, func(_ *config.Config, p *release.Ports) {
		p.SCM.(*fakeSCM).mergeErr = errors.New("Pull Request is not mergeable (405)")
	})
	stagingRuns(h)
	theirs := h.scm()
	theirs.mu.Lock()
	theirs.pulls = append(theirs.pulls, fakePull{PullRequest: release.PullRequest{Number: 1, URL: "https://github.test/acme/api/pull/1",
		Head: "latest", Base: "master", Title: "Release week 48", Body: "by a person"}, Open: true})
	theirs.mu.Unlock()
	promoteApproved(h)
	h.waitState(2, release.Failed)
	if pulls := h.scm().pullsCopy(); len(pulls) != 1 || !pulls[0].Open {
		t.Errorf("pull requests = %+v; a person's pull request stays open", pulls)
	}
}

func TestPromoteRefusesWhenFromMovedOn(t *testing.T) {
	h := newHarness(t, latestAheadOfMaster)
	stagingRuns(h)
	f := h.scm()
	f.setHead("latest", f.commit(sha("b")))
	promoteApproved(h)
	r := h.waitState(2, release.Failed)
	if !strings.Contains(r.StateReason, "`latest` now points at `f000001`, not at `bbbbbbb`, which *staging* runs") ||
		!strings.Contains(r.StateReason, "Deploy `latest` to *staging* first, then promote again; nothing was deployed") {
		t.Errorf("reason = %q", r.StateReason)
	}
	if pulls := f.pullsCopy(); len(pulls) != 0 {
		t.Errorf("pull requests = %+v", pulls)
	}
	if n := h.ci.builds(2); n != 0 {
		t.Errorf("%d builds", n)
	}
}

func TestPromoteFastForwardOnly(t *testing.T) {
	h := newHarness(t, latestAheadOfMaster, func(c *config.Config, _ *release.Ports) { c.GitHub.FastForwardOnly = true })
	stagingRuns(h)
	promoteApproved(h)
	h.waitState(2, release.Succeeded)
	if got := h.scm().head("master"); got != sha("b") {
		t.Errorf("master = %s; want it fast-forwarded to %s", got, sha("b"))
	}
	if pulls := h.scm().pullsCopy(); len(pulls) != 0 {
		t.Errorf("pull requests = %+v; a fast-forward needs none", pulls)
	}
}

func TestPromoteFastForwardOnlyRefusesDivergedBranches(t *testing.T) {
	h := newHarness(t, latestAheadOfMaster, func(c *config.Config, _ *release.Ports) { c.GitHub.FastForwardOnly = true })
	stagingRuns(h)
	f := h.scm()
	hotfix := f.commit(sha("a"))
	f.setHead("master", hotfix)
	promoteApproved(h)
	r := h.waitState(2, release.Failed)
	if !strings.Contains(r.StateReason, "`master` has commits that `bbbbbbb` lacks, so it cannot be fast-forwarded to it") {
		t.Errorf("reason = %q", r.StateReason)
	}
	if got := f.head("master"); got != hotfix {
		t.Errorf("master moved to %s", got)
	}
}

func TestPromoteWaitsForGitHub(t *testing.T) {
	h := newHarness(t, latestAheadOfMaster)
	stagingRuns(h)
	f := h.scm()
	f.mu.Lock()
	f.fail = errors.Join(errors.New("github unreachable"), release.ErrUnavailable)
	f.mu.Unlock()
	promoteApproved(h)
	h.waitStored(2, release.Approved)
	h.eventually("a few tries", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.compares >= 3
	})
	if r, _ := h.store.GetRelease(t.Context(), 2); r.State != release.Approved {
		t.Fatalf("release #2 is %s (%s) while GitHub is away; want it to wait, approved", r.State, r.StateReason)
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	h.waitState(2, release.Succeeded)
	if pulls := f.pullsCopy(); len(pulls) != 1 || !pulls[0].Merged {
		t.Errorf("pull requests = %+v", pulls)
	}
}
