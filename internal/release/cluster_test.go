package release_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
)

func TestRolloutIsFollowedAndShownInTheThread(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Succeeded)
	if !strings.Contains(r.StateReason, "success; rolled out in") {
		t.Errorf("reason = %q; want the build and the rollout", r.StateReason)
	}
	h.cluster.mu.Lock()
	targets := h.cluster.rollouts
	h.cluster.mu.Unlock()
	want := release.RolloutTarget{Cluster: "main", Namespace: "api-feature-x", Deployment: "api"}
	if len(targets) != 1 || targets[0] != want {
		t.Errorf("followed %+v; want once %+v", targets, want)
	}
	views := h.chat.rolloutViews()
	if len(views) != 1 {
		t.Fatalf("rollout messages = %d; want 1", len(views))
	}
	for _, vs := range views {
		last := vs[len(vs)-1]
		if last.Result != "succeeded" || last.Progress.Updated != 2 || !last.Seen {
			t.Errorf("last view = %+v; want succeeded with 2 updated", last)
		}
		if mid := vs[0]; mid.Progress.Updated != 1 || mid.Progress.Old != 1 || mid.Result != "" {
			t.Errorf("progress view = %+v; want 1 updated, 1 old, running", mid)
		}
	}
}

func TestRolloutFailureFailsTheRelease(t *testing.T) {
	h := newHarness(t)
	h.cluster.fail = fmt.Errorf("%w: deployment api exceeded its progress deadline; api-1: CrashLoopBackOff: back-off", release.ErrRolloutFailed)
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Failed)
	if !strings.Contains(r.StateReason, "exceeded its progress deadline; api-1: CrashLoopBackOff") {
		t.Errorf("reason = %q", r.StateReason)
	}
	for _, vs := range h.chat.rolloutViews() {
		if last := vs[len(vs)-1]; last.Result != "failed" || !strings.Contains(last.Reason, "CrashLoopBackOff") {
			t.Errorf("last view = %+v; want failed with the reason", last)
		}
	}
}

func TestRolloutTimesOut(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *release.Ports) {
		e := c.Environments["test"]
		e.RolloutTimeout = 100 * time.Millisecond
		c.Environments["test"] = e
	})
	h.cluster.hang = true
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Failed)
	for _, want := range []string{"did not finish within 100ms", "environments.test.rollout_timeout", "2 of 2 replicas updated"} {
		if !strings.Contains(r.StateReason, want) {
			t.Errorf("reason = %q; want %q", r.StateReason, want)
		}
	}
}

func TestRestartWhileRollingOutResumesFollowing(t *testing.T) {
	h := newHarness(t)
	h.cluster.hang = true
	h.do(dev, "deploy api feature-x")
	h.eventually("the rollout to be followed", func() bool {
		r, _ := h.store.GetRelease(context.Background(), 1)
		return r.State == release.RollingOut && len(h.chat.rolloutViews()) == 1
	})
	h.stop()
	h.cluster.mu.Lock()
	h.cluster.hang = false
	h.cluster.mu.Unlock()
	h.startWorker()
	h.waitState(1, release.Succeeded)
	if n := len(h.chat.rolloutViews()); n != 1 {
		t.Errorf("rollout messages = %d; a restart must reuse the one posted", n)
	}
	if n := h.ci.builds(1); n != 1 {
		t.Errorf("builds = %d; want 1", n)
	}
}

func TestEnvUpCreatesAndExtendsTheNamespace(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "env up api feature/Login_v2")
	h.waitState(1, release.Succeeded)
	first, ok := h.cluster.namespace("main", "api-feature-login-v2")
	if !ok {
		t.Fatal("namespace api-feature-login-v2 not created")
	}
	want := release.Namespace{Cluster: "main", Name: "api-feature-login-v2", App: "api", Branch: "feature-login-v2", Owner: dev,
		ExpiresAt: h.clock().Add(72 * time.Hour), Release: 1}
	if !first.ExpiresAt.Equal(want.ExpiresAt) {
		t.Errorf("expires %v; want %v", first.ExpiresAt, want.ExpiresAt)
	}
	first.ExpiresAt = want.ExpiresAt
	if first != want {
		t.Errorf("namespace = %+v; want %+v", first, want)
	}

	h.advance(time.Hour)
	h.do(dev, "env up api feature/Login_v2")
	h.waitState(2, release.Succeeded)
	again, _ := h.cluster.namespace("main", "api-feature-login-v2")
	if !again.ExpiresAt.After(first.ExpiresAt) || again.Release != 2 {
		t.Errorf("second env up: %+v; want a later expiry and release 2", again)
	}
	if envs, _ := h.store.ListEnvironments(context.Background(), "api"); len(envs) != 1 {
		t.Errorf("environments = %d; want one", len(envs))
	}
}

func TestEnvUpRefusesANamespaceHoistDidNotCreate(t *testing.T) {
	h := newHarness(t)
	h.cluster.unmanaged["main/api-feature-x"] = true
	h.do(dev, "env up api feature-x")
	r := h.waitState(1, release.Failed)
	if !strings.Contains(r.StateReason, "namespace `api-feature-x` already exists in cluster main and Hoist did not create it") {
		t.Errorf("reason = %q", r.StateReason)
	}
	if h.ci.builds(1) != 0 {
		t.Error("a build ran into a namespace Hoist does not manage")
	}
	if got := h.do(dev, "env list").Text; !strings.Contains(got, "No test environments") {
		t.Errorf("env list = %q; the environment never came up", got)
	}
}

func TestEnvDownDeletesOnlyManagedNamespaces(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "env up api feature-x")
	h.waitState(1, release.Succeeded)
	h.do(dev, "env down api feature-x")
	r := h.waitState(2, release.Succeeded)
	if _, ok := h.cluster.namespace("main", "api-feature-x"); ok {
		t.Error("namespace still there after env down")
	}
	if !strings.Contains(r.StateReason, "namespace `api-feature-x` deleted") {
		t.Errorf("reason = %q", r.StateReason)
	}

	h.do(dev, "env up api feature-y")
	h.waitState(3, release.Succeeded)
	h.cluster.mu.Lock()
	h.cluster.unmanaged["main/api-feature-y"] = true // relabelled by someone else since
	h.cluster.mu.Unlock()
	h.do(dev, "env down api feature-y")
	r = h.waitState(4, release.Failed)
	if !strings.Contains(r.StateReason, "was not created by Hoist") || !strings.Contains(r.StateReason, "did not delete it") {
		t.Errorf("reason = %q", r.StateReason)
	}
	if _, ok := h.cluster.namespace("main", "api-feature-y"); !ok {
		t.Error("Hoist deleted a namespace it does not manage")
	}
}

func TestReaperRetiresExpiredEnvironments(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "env up api feature-x")
	h.waitState(1, release.Succeeded)
	h.do(dev, "env up api feature-y")
	h.waitState(2, release.Succeeded)
	// a managed namespace that no record names any more, long expired
	h.cluster.namespaces["main/api-orphan"] = release.Namespace{Cluster: "main", Name: "api-orphan", App: "api", Branch: "orphan", ExpiresAt: h.clock().Add(-time.Hour)}

	reaper := release.NewReaper(h.cfg, h.store, h.svc, h.cluster, h.chat, release.ReaperOptions{Interval: time.Hour}, slog.New(slog.DiscardHandler))
	reaper.SetClock(h.clock)
	reaper.Reap(context.Background())
	if got := h.releases(); len(got) != 2 {
		t.Fatalf("releases = %d; nothing tracked has expired yet", len(got))
	}
	if _, ok := h.cluster.namespace("main", "api-orphan"); ok {
		t.Error("expired untracked namespace not deleted")
	}
	events, err := h.store.Events(context.Background(), release.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var audited bool
	for _, e := range events {
		audited = audited || e.Action == "reap" && e.Actor == release.ActorHoist && strings.Contains(e.Detail, "namespace api-orphan")
	}
	if !audited {
		t.Error("the deleted namespace is not in the audit log")
	}

	h.advance(73 * time.Hour)
	h.do(dev, "env up api feature-y") // extended: expires 72h from now
	h.waitState(3, release.Succeeded)
	reaper.Reap(context.Background())
	reaper.Reap(context.Background()) // a second pass must not request a second teardown
	r := h.waitState(4, release.Succeeded)
	if r.Kind != release.KindEnvDown || r.Ref != "feature-x" || r.RequestedBy != release.ActorHoist || !strings.HasPrefix(r.Reason, "expired ") {
		t.Errorf("reaped release = %+v", r)
	}
	if r.Channel != "CAPI" {
		t.Errorf("teardown card in %q; want the app's channel", r.Channel)
	}
	if _, ok := h.cluster.namespace("main", "api-feature-x"); ok {
		t.Error("expired namespace not deleted")
	}
	if _, ok := h.cluster.namespace("main", "api-feature-y"); !ok {
		t.Error("extended environment deleted")
	}
	if n := len(h.releases()); n != 4 {
		t.Errorf("releases = %d; want exactly one teardown", n)
	}
	var notice bool
	for _, a := range h.announcements() {
		notice = notice || strings.Contains(a, "namespace `api-orphan`")
	}
	if !notice {
		t.Errorf("announcements = %q; want a notice of the deleted orphan", h.announcements())
	}
}

// brokenCluster is a cluster whose configuration could not be loaded.
type brokenCluster struct{}

var errBroken = fmt.Errorf("cluster main: %w: no in-cluster configuration", release.ErrNoCluster)

func (brokenCluster) EnsureNamespace(context.Context, release.Namespace) error { return errBroken }
func (brokenCluster) DeleteNamespace(context.Context, string, string) error    { return errBroken }
func (brokenCluster) ListNamespaces(context.Context, string) ([]release.Namespace, error) {
	return nil, errBroken
}
func (brokenCluster) Rollout(context.Context, release.RolloutTarget, func(release.RolloutProgress)) error {
	return errBroken
}

func TestUnconnectedClusterIsSaidPlainly(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, p *release.Ports) { p.Cluster = brokenCluster{} })
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Succeeded)
	if !strings.Contains(r.StateReason, "rollout not watched: cluster main: not connected: no in-cluster configuration") {
		t.Errorf("deploy reason = %q", r.StateReason)
	}
	h.do(dev, "env up api feature-y")
	r = h.waitState(2, release.Failed)
	if !strings.Contains(r.StateReason, "create namespace: cluster main: not connected") {
		t.Errorf("env up reason = %q", r.StateReason)
	}
}
