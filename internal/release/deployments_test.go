package release_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
)

// deploymentStates waits until the n-th deployment (from 0) has want
// statuses, and returns it.
func (h *harness) deployment(n int, states ...release.DeploymentState) fakeDeployment {
	h.t.Helper()
	var d fakeDeployment
	h.eventually("deployment statuses "+strings.Join(stateNames(states), ", "), func() bool {
		ds := h.scm().deploymentsCopy()
		if len(ds) <= n {
			return false
		}
		d = ds[n]
		return slices.Equal(stateNames(statesOf(d)), stateNames(states))
	})
	return d
}

func statesOf(d fakeDeployment) []release.DeploymentState {
	var out []release.DeploymentState
	for _, s := range d.Statuses {
		out = append(out, s.State)
	}
	return out
}

func stateNames(states []release.DeploymentState) []string {
	var out []string
	for _, s := range states {
		out = append(out, string(s))
	}
	return out
}

func withEnvironmentURL(env, url string) func(*config.Config, *release.Ports) {
	return func(c *config.Config, _ *release.Ports) {
		e := c.Environments[env]
		e.URL = url
		c.Environments[env] = e
	}
}

func TestDeploymentFollowsASuccessfulRelease(t *testing.T) {
	h := newHarness(t, withEnvironmentURL("test", "https://{app}-{branch}.preview.test/"))
	h.do(dev, "deploy api feature-x")
	h.waitState(1, release.Succeeded)
	d := h.deployment(0, release.DeploymentQueued, release.DeploymentInProgress, release.DeploymentSuccess)
	want := release.NewDeployment{Release: 1, SHA: sha("c"), Environment: "test/feature-x", Transient: true,
		Description: "Hoist release #1 of feature-x"}
	if d.Repo != "acme/api" || d.Request.Release != want.Release || d.Request.SHA != want.SHA || d.Request.Environment != want.Environment ||
		d.Request.Transient != want.Transient || d.Request.Production || len(d.Request.RequiredContexts) != 0 || d.Request.Description != want.Description {
		t.Errorf("deployment = %s %+v; want %+v", d.Repo, d.Request, want)
	}
	running, done := d.Statuses[1], d.Statuses[2]
	if running.LogURL != "http://jenkins.test/job/api/preview/1/" || done.LogURL != running.LogURL {
		t.Errorf("log URLs = %q, %q; want the build's page", running.LogURL, done.LogURL)
	}
	if done.EnvironmentURL != "https://api-feature-x.preview.test/" {
		t.Errorf("environment URL = %q", done.EnvironmentURL)
	}
	if done.Description != "Hoist release #1 succeeded" {
		t.Errorf("description = %q", done.Description)
	}
}

func TestDeploymentOfAFailedBuild(t *testing.T) {
	h := newHarness(t)
	h.ci.result = "FAILURE"
	h.do(dev, "deploy api feature-x")
	h.waitState(1, release.Failed)
	d := h.deployment(0, release.DeploymentQueued, release.DeploymentInProgress, release.DeploymentFailure)
	failed := d.Statuses[2]
	if failed.Description != "Hoist release #1 failed: build #1 failure" || failed.EnvironmentURL != "" {
		t.Errorf("failure status = %+v", failed)
	}
}

func TestDeploymentOfABuildThatNeverStarted(t *testing.T) {
	h := newHarness(t)
	h.ci.failWith = errors.New("no jenkins job \"api/preview\"")
	h.do(dev, "deploy api feature-x")
	h.waitState(1, release.Failed)
	h.deployment(0, release.DeploymentQueued, release.DeploymentError)
}

func TestProductionDeployment(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api master")
	h.waitState(1, release.AwaitingApproval)
	if n := len(h.scm().deploymentsCopy()); n != 0 {
		t.Fatalf("%d deployments before approval; want none until the build stage", n)
	}
	h.do(admin1, "approve 1")
	h.waitState(1, release.Succeeded)
	d := h.deployment(0, release.DeploymentQueued, release.DeploymentInProgress, release.DeploymentSuccess)
	if d.Request.Environment != "production" || !d.Request.Production || d.Request.Transient {
		t.Errorf("production deployment = %+v", d.Request)
	}
}

func TestRequiredContextsGateTheBuild(t *testing.T) {
	h := newHarness(t, func(c *config.Config, p *release.Ports) {
		c.GitHub.RequiredContexts = []string{"ci/test", "lint"}
		p.SCM.(*fakeSCM).deployErr = errors.New(`GitHub refused the deployment (409): Conflict: Commit status checks failed for feature-x`)
	})
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Failed)
	for _, want := range []string{"the checks it requires (ci/test, lint) are not known to have passed", "Commit status checks failed"} {
		if !strings.Contains(r.StateReason, want) {
			t.Errorf("reason = %q; want %q in it", r.StateReason, want)
		}
	}
	if n := h.ci.builds(1); n != 0 {
		t.Errorf("%d builds triggered past a failed gate", n)
	}
}

func TestDeploymentsAreOptionalWithoutRequiredContexts(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, p *release.Ports) {
		p.SCM.(*fakeSCM).deployErr = errors.New("GitHub refused the deployment (403)")
	})
	h.do(dev, "deploy api feature-x")
	h.waitState(1, release.Succeeded)
}

func TestTeardownMarksTheBranchDeploymentsInactive(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "env up api feature-x")
	h.waitState(1, release.Succeeded)
	h.do(dev, "deploy api feature-y")
	h.waitState(2, release.Succeeded)
	h.deployment(0, release.DeploymentQueued, release.DeploymentInProgress, release.DeploymentSuccess)
	h.do(dev, "env down api feature-x")
	h.waitState(3, release.Succeeded)
	d := h.deployment(0, release.DeploymentQueued, release.DeploymentInProgress, release.DeploymentSuccess, release.DeploymentInactive)
	if got := d.Statuses[3].Description; got != "taken down by Hoist release #3" {
		t.Errorf("inactive description = %q", got)
	}
	if other := h.scm().deploymentsCopy()[1]; len(other.Statuses) != 3 {
		t.Errorf("feature-y's deployment = %v; it was not torn down", statesOf(other))
	}
	if n := len(h.scm().deploymentsCopy()); n != 2 {
		t.Errorf("%d deployments; a teardown creates none", n)
	}
}
