package app_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/githubsim"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

const (
	githubRepo    = "acme/api" // apps.api.repo in the embedded example
	webhookSecret = "e2e-webhook-secret-0123456789"
)

// gitHubEnv points Hoist at a GitHub simulator whose acme/api has
// latest and feature-x a commit ahead of master each.
func gitHubEnv(t *testing.T) (*githubsim.Server, []string) {
	t.Helper()
	gh := githubsim.New(githubsim.WithRepo(githubRepo))
	t.Cleanup(gh.Close)
	gh.AddBranch(githubRepo, "latest", "master")
	gh.Commit(githubRepo, "latest", "Faster checkout\n\nCaches the cart.", map[string]string{"cart.go": "v2"})
	gh.AddBranch(githubRepo, "feature-x", "master")
	gh.Commit(githubRepo, "feature-x", "Login page", map[string]string{"login.go": "v1"})
	return gh, []string{
		"HOIST_GITHUB_BASE_URL=" + gh.URL(),
		"HOIST_GITHUB_TOKEN=" + githubsim.DefaultToken,
		"HOIST_GITHUB_WEBHOOK_SECRET=" + webhookSecret,
	}
}

// gitHubConfig is the example's environments without a cluster, whose
// pipelines deploy by themselves, and the test environment's URL.
const gitHubConfig = `environments:
  production:
    branch: master
    jenkins_job: "{app}/production"
    protected: true
  staging:
    branch: latest
    jenkins_job: "{app}/staging"
    protected: true
    promotes_to: production
  test:
    branch: "*"
    namespace: "{app}-{branch}"
    jenkins_job: "{app}/preview"
    ephemeral: true
    ttl: 72h
    url: "https://{app}-{branch}.preview.example.com/"
apps:
  api:
    repo: acme/api
    channel: ` + appChannel + `
`

// startWithGitHub runs Hoist against GitHub and Jenkins simulators.
func startWithGitHub(t *testing.T, job jenkinssim.Job) (*hoist, *jenkinssim.Server, *githubsim.Server) {
	t.Helper()
	gh, env := gitHubEnv(t)
	j := jenkinssim.New(
		jenkinssim.WithJob("api/preview", job),
		jenkinssim.WithJob("api/staging", job),
		jenkinssim.WithJob("api/production", job),
	)
	t.Cleanup(j.Close)
	path := filepath.Join(t.TempDir(), "hoist.yaml")
	if err := os.WriteFile(path, []byte(gitHubConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	h := launch(t, release.Ports{}, nil, func(h *hoist) { h.configFile = path }, append(env,
		"HOIST_JENKINS_URL="+j.URL(),
		"HOIST_JENKINS_USER="+jenkinssim.DefaultUser,
		"HOIST_JENKINS_TOKEN="+jenkinssim.DefaultToken,
	)...)
	h.secrets = append(h.secrets, jenkinssim.DefaultToken, githubsim.DefaultToken, webhookSecret)
	return h, j, gh
}

// waitShown waits for a message whose text or blocks, as Slack shows
// them, contain want.
func (h *hoist) waitShown(t *testing.T, want string) slackapi.Message {
	t.Helper()
	var found slackapi.Message
	h.eventually(t, "a message showing "+want, func() bool {
		for _, m := range h.slack.Messages() {
			if strings.Contains(m.Text, want) || strings.Contains(unescapeJSON(m.Blocks), want) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func quickJob() jenkinssim.Job {
	return jenkinssim.Job{Lines: 3, Duration: 50 * time.Millisecond, QueueWait: -1}
}

// deploymentStates is the states of a deployment, oldest first.
func deploymentStates(d githubsim.Deployment) string {
	var states []string
	for _, s := range d.Statuses {
		states = append(states, s.State)
	}
	return strings.Join(states, " ")
}

func (h *hoist) waitDeployment(t *testing.T, gh *githubsim.Server, n int, states string) githubsim.Deployment {
	t.Helper()
	var d githubsim.Deployment
	h.eventually(t, "deployment statuses "+states, func() bool {
		ds := gh.Deployments(githubRepo)
		if len(ds) <= n {
			return false
		}
		d = ds[n]
		return deploymentStates(d) == states
	})
	return d
}

func TestAnUnknownRefIsRefusedAtOnce(t *testing.T) {
	_, env := gitHubEnv(t)
	h := start(t, release.Ports{}, env...)
	st := h.openStore()
	if a := h.command(developer, "/deploy", "api nope"); !strings.Contains(a.reply.Text, "Release #1 requested") {
		t.Fatalf("deploy: %+v", a.reply)
	}
	got := h.waitResponse(t, "cmd")
	if !strings.Contains(got, "Release #1 stopped, nothing was deployed: `acme/api` has no branch, tag or commit named `nope`") {
		t.Errorf("reply = %q", got)
	}
	h.waitRelease(st, 1, release.Failed)
	if msgs := h.slack.Messages(); len(msgs) != 0 {
		t.Errorf("messages posted for a ref that does not exist: %+v", msgs)
	}
}

func TestGitHubShowsWhatRunsWhere(t *testing.T) {
	h, j, gh := startWithGitHub(t, quickJob())
	st := h.openStore()
	sha, _ := gh.Branch(githubRepo, "feature-x")
	h.command(developer, "/deploy", "api feature-x")
	r := h.waitRelease(st, 1, release.Succeeded)
	if r.Commit != sha || r.CommitTitle != "Login page" || r.CommitURL != gh.WebURL()+githubRepo+"/commit/"+sha {
		t.Errorf("commit = %q %q %q", r.Commit, r.CommitTitle, r.CommitURL)
	}
	h.waitShown(t, "Commit <"+gh.WebURL()+githubRepo+"/commit/"+sha+"|"+sha[:7]+">: Login page")

	d := h.waitDeployment(t, gh, 0, "queued in_progress success")
	builds := j.Builds("api/preview")
	if len(builds) != 1 || builds[0].Params["COMMIT"] != sha {
		t.Fatalf("builds = %+v", builds)
	}
	buildURL := j.URL() + "job/api/job/preview/1/"
	if d.SHA != sha || d.Environment != "test/feature-x" || !d.Transient || d.Production || d.AutoMerge ||
		d.RequiredContexts == nil || len(d.RequiredContexts) != 0 || !strings.Contains(string(d.Payload), `"release_id":"1"`) {
		t.Errorf("deployment = %+v", d)
	}
	if last := d.Statuses[2]; last.LogURL != buildURL || last.EnvironmentURL != "https://api-feature-x.preview.example.com/" {
		t.Errorf("success status = %+v; want the log at %s and the environment's URL", last, buildURL)
	}
}

func TestGitHubShowsAFailedBuild(t *testing.T) {
	job := quickJob()
	job.Result = jenkinssim.ResultFailure
	h, _, gh := startWithGitHub(t, job)
	st := h.openStore()
	h.command(developer, "/deploy", "api feature-x")
	h.waitRelease(st, 1, release.Failed)
	d := h.waitDeployment(t, gh, 0, "queued in_progress failure")
	if !strings.Contains(d.Statuses[2].Description, "Hoist release #1 failed: build #1 failure") {
		t.Errorf("failure status = %+v", d.Statuses[2])
	}
}

// promoteStaging deploys latest to staging (release 1) and promotes it to
// production (release 2), approving both.
func promoteStaging(t *testing.T, h *hoist) {
	t.Helper()
	st := h.openStore()
	h.command(developer, "/deploy", "api latest")
	h.waitRelease(st, 1, release.AwaitingApproval)
	h.click(admin, bot.ActionApprove, 1, "approve1")
	h.waitRelease(st, 1, release.Succeeded)
	if a := h.command(developer, "/promote", "api"); !strings.Contains(a.reply.Text, "Release #2 requested: promote") {
		t.Fatalf("promote: %+v", a.reply)
	}
	h.waitRelease(st, 2, release.AwaitingApproval)
	h.click(admin, bot.ActionApprove, 2, "approve2")
}

func TestPromotionMergesThroughGitHub(t *testing.T) {
	h, j, gh := startWithGitHub(t, quickJob())
	latest, _ := gh.Branch(githubRepo, "latest")
	promoteStaging(t, h)
	h.waitRelease(h.openStore(), 2, release.Succeeded)
	prs := gh.PullRequests(githubRepo)
	if len(prs) != 1 || prs[0].Head != "latest" || prs[0].Base != "master" || !prs[0].Merged || prs[0].MergeMethod != "merge" ||
		!strings.Contains(prs[0].Title, "Hoist release #2") {
		t.Fatalf("pull requests = %+v", prs)
	}
	if !gh.Contains(githubRepo, "master", latest) {
		t.Error("master does not contain the promoted commit")
	}
	builds := j.Builds("api/production")
	if len(builds) != 1 || builds[0].Params["COMMIT"] != latest || builds[0].Params["RELEASE_ID"] != "2" {
		t.Errorf("production builds = %+v; want one of exactly %s", builds, latest)
	}
	h.waitShown(t, "Merged <"+gh.WebURL()+githubRepo+"/pull/1|pull request #1> into `master` (merge)")
}

func TestPromotionRefusedByBranchProtection(t *testing.T) {
	h, j, gh := startWithGitHub(t, quickJob())
	gh.Protect(githubRepo, "master", githubsim.Protection{RequiredReviews: 1})
	master, _ := gh.Branch(githubRepo, "master")
	promoteStaging(t, h)
	r := h.waitRelease(h.openStore(), 2, release.Failed)
	if !strings.Contains(r.StateReason, "At least 1 approving review is required by reviewers with write access.") ||
		!strings.Contains(r.StateReason, "nothing was deployed") {
		t.Errorf("reason = %q", r.StateReason)
	}
	if prs := gh.PullRequests(githubRepo); len(prs) != 1 || prs[0].State != "closed" || prs[0].Merged {
		t.Errorf("pull requests = %+v; want Hoist's closed again", prs)
	}
	if now, _ := gh.Branch(githubRepo, "master"); now != master {
		t.Error("master moved")
	}
	if builds := j.Builds("api/production"); len(builds) != 0 {
		t.Errorf("production builds = %+v", builds)
	}
}

func TestPromotionRefusedWhenStagingsBranchMovedOn(t *testing.T) {
	h, j, gh := startWithGitHub(t, quickJob())
	st := h.openStore()
	h.command(developer, "/deploy", "api latest")
	h.waitRelease(st, 1, release.AwaitingApproval)
	h.click(admin, bot.ActionApprove, 1, "approve1")
	h.waitRelease(st, 1, release.Succeeded)
	gh.Commit(githubRepo, "latest", "Not yet on staging", map[string]string{"wip.go": "1"})
	h.command(developer, "/promote", "api")
	h.waitRelease(st, 2, release.AwaitingApproval)
	h.click(admin, bot.ActionApprove, 2, "approve2")
	r := h.waitRelease(st, 2, release.Failed)
	if !strings.Contains(r.StateReason, "`latest` now points at") || !strings.Contains(r.StateReason, "which *staging* runs") {
		t.Errorf("reason = %q", r.StateReason)
	}
	if prs := gh.PullRequests(githubRepo); len(prs) != 0 {
		t.Errorf("pull requests = %+v", prs)
	}
	if builds := j.Builds("api/production"); len(builds) != 0 {
		t.Errorf("production builds = %+v", builds)
	}
}

func TestDeletingABranchTearsItsEnvironmentDown(t *testing.T) {
	h, _, gh := startWithGitHub(t, quickJob())
	st := h.openStore()
	h.command(developer, "/env", "up api feature-x")
	h.waitRelease(st, 1, release.Succeeded)
	h.waitDeployment(t, gh, 0, "queued in_progress success")
	gh.SetWebhook(h.url+"/github/webhook", webhookSecret)

	gh.DeleteBranch(githubRepo, "feature-x")
	down := h.waitRelease(st, 2, release.Succeeded)
	if down.Kind != release.KindEnvDown || down.Ref != "feature-x" || down.RequestedBy != release.ActorHoist ||
		!strings.Contains(down.Reason, "branch `feature-x` was deleted on GitHub") {
		t.Errorf("teardown = %+v", down)
	}
	if _, err := st.GetEnvironment(context.Background(), "api", "feature-x"); err == nil {
		t.Error("the environment is still there")
	}
	h.waitDeployment(t, gh, 0, "queued in_progress success inactive")
	if ds := gh.Deliveries(); len(ds) != 1 || ds[0].Status != http.StatusOK {
		t.Errorf("deliveries = %+v", ds)
	}
	card := h.waitShown(t, "*Env down*")
	if card.Channel != appChannel {
		t.Errorf("the teardown was shown in %s; want the app's channel %s", card.Channel, appChannel)
	}
}

func TestTheWebhookRefusesUnsignedDeliveries(t *testing.T) {
	h, _, gh := startWithGitHub(t, quickJob())
	st := h.openStore()
	h.command(developer, "/env", "up api feature-x")
	h.waitRelease(st, 1, release.Succeeded)
	body := gh.DeleteEvent(githubRepo, "feature-x")
	for _, secret := range []string{"", "not-the-secret"} {
		req, err := githubsim.NewDelivery(t.Context(), h.url+"/github/webhook", "delete", "d-forged", secret, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("delivery signed with %q: %d; want 401", secret, resp.StatusCode)
		}
	}
	time.Sleep(100 * time.Millisecond) // two worker sweeps
	if rs, _ := st.ListReleases(context.Background(), release.Filter{}); len(rs) != 1 {
		t.Errorf("%d releases after forged deliveries; want the env up alone", len(rs))
	}
}

func TestNoWebhookWithoutASecret(t *testing.T) {
	h := start(t, release.Ports{})
	resp, err := http.Post(h.url+"/github/webhook", "application/json", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /github/webhook without github.webhook_secret: %d; want 404", resp.StatusCode)
	}
}
