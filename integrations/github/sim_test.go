package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/githubsim"
)

// End-to-end tests through the GitHub simulator: real HTTP on loopback,
// go-github's own rate-limit handling, GitHub's error bodies.

const repo = "acme/api"

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newSim(t *testing.T, opts ...githubsim.Option) *githubsim.Server {
	t.Helper()
	s := githubsim.New(append([]githubsim.Option{githubsim.WithRepo(repo)}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

// simClient is a client of s that retries quickly, and whose logs must
// never show the token.
func simClient(t *testing.T, s *githubsim.Server, edit ...func(*Config)) (*Client, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cfg := Config{BaseURL: s.URL(), Token: githubsim.DefaultToken, Retry: RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond}}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), cfg.Token) {
			t.Errorf("the logs show the token")
		}
	})
	return c, logs
}

func TestCommitResolvesEveryKindOfRef(t *testing.T) {
	s := newSim(t)
	sha := s.Commit(repo, "master", "Fix the checkout\n\nIt charged twice.", map[string]string{"cart.go": "v2"})
	s.AddBranch(repo, "feature/login#2", "master")
	s.Tag(repo, "v1.2.0", sha)
	c, _ := simClient(t, s)
	for _, ref := range []string{"master", "feature/login#2", "v1.2.0", sha, sha[:7]} {
		got, err := c.Commit(t.Context(), repo, ref)
		if err != nil {
			t.Fatalf("Commit(%q): %v", ref, err)
		}
		want := release.Commit{SHA: sha, Title: "Fix the checkout", URL: s.WebURL() + repo + "/commit/" + sha}
		if got != want {
			t.Errorf("Commit(%q) = %+v; want %+v", ref, got, want)
		}
	}
}

func TestCommitOfAnUnknownRef(t *testing.T) {
	s := newSim(t)
	c, _ := simClient(t, s)
	_, err := c.Commit(t.Context(), repo, "nope")
	if !errors.Is(err, release.ErrUnknownRef) || !strings.Contains(err.Error(), `acme/api has no branch, tag or commit named "nope"`) {
		t.Errorf("unknown ref: %v", err)
	}
	_, err = c.Commit(t.Context(), "acme/gone", "master")
	if !errors.Is(err, ErrRepoNotFound) || errors.Is(err, release.ErrUnknownRef) ||
		!strings.Contains(err.Error(), "GitHub has no repository acme/gone, or github.token cannot see it") {
		t.Errorf("unknown repository: %v", err)
	}
	if _, err := c.BranchHead(t.Context(), repo, "nope"); !errors.Is(err, release.ErrUnknownRef) {
		t.Errorf("unknown branch: %v", err)
	}
}

func TestATokenGitHubRejects(t *testing.T) {
	s := newSim(t)
	c, _ := simClient(t, s, func(c *Config) { c.Token = "ghp_revoked0123456789" })
	_, err := c.Commit(t.Context(), repo, "master")
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "GitHub rejected github.token (401 Bad credentials): check that it is valid and has not expired") {
		t.Errorf("Commit with a bad token: %v", err)
	}
	if strings.Contains(err.Error(), "ghp_revoked") {
		t.Errorf("the error shows the token: %v", err)
	}
	if _, _, err := c.Check(t.Context()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Check with a bad token: %v", err)
	}
	if n := len(s.Requests()); n != 2 {
		t.Errorf("%d requests; a 401 is not retried", n)
	}
}

func TestCheck(t *testing.T) {
	s := newSim(t, githubsim.WithRateLimit(1000))
	c, _ := simClient(t, s)
	remaining, limit, err := c.Check(t.Context())
	if err != nil || limit != 1000 || remaining != 1000 {
		t.Errorf("Check = %d of %d, %v", remaining, limit, err)
	}
	if err := c.CheckRepo(t.Context(), repo); err != nil {
		t.Errorf("CheckRepo: %v", err)
	}
	if err := c.CheckRepo(t.Context(), "acme/gone"); !errors.Is(err, ErrRepoNotFound) {
		t.Errorf("CheckRepo(gone): %v", err)
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	s := newSim(t)
	s.FailNext(2, http.StatusBadGateway)
	s.FailNext(1, http.StatusTooManyRequests)
	c, _ := simClient(t, s, func(c *Config) { c.Retry.Max = 2 * time.Second })
	if _, err := c.Commit(t.Context(), repo, "master"); err != nil {
		t.Fatalf("Commit after a 502, a 502 and a 429: %v", err)
	}
	if n := len(s.Requests()); n != 4 {
		t.Errorf("%d requests; want 4", n)
	}
}

func TestGivingUpSaysGitHubIsAway(t *testing.T) {
	s := newSim(t)
	s.FailNext(10, http.StatusServiceUnavailable)
	c, _ := simClient(t, s)
	_, err := c.Commit(t.Context(), repo, "master")
	if !errors.Is(err, release.ErrUnavailable) || !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "after 4 tries: GitHub answered 503") {
		t.Errorf("Commit while GitHub answers 503: %v", err)
	}
	if n := len(s.Requests()); n != DefaultAttempts {
		t.Errorf("%d requests; want %d", n, DefaultAttempts)
	}
}

func TestUnreachableGitHub(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := New(Config{BaseURL: "http://" + addr + "/", Token: "ghp_x", Retry: RetryPolicy{Base: time.Millisecond, Max: time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Commit(t.Context(), repo, "master")
	if !errors.Is(err, release.ErrUnavailable) || !strings.Contains(err.Error(), "github unreachable at http://"+addr+"/ after 4 tries") {
		t.Errorf("Commit with nothing listening: %v", err)
	}
}

func TestAHangingGitHubTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // accepts, and never answers
		}
	}()
	c, err := New(Config{BaseURL: "http://" + ln.Addr().String() + "/", Token: "ghp_x",
		HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}, Retry: RetryPolicy{Attempts: 2, Base: time.Millisecond}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = c.Commit(ctx, repo, "master")
	if !errors.Is(err, release.ErrUnavailable) || ctx.Err() != nil {
		t.Errorf("Commit against a GitHub that never answers: %v (test deadline: %v)", err, ctx.Err())
	}
}

func TestRateLimitIsWaitedForWhenItResetsSoon(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.ExhaustRateLimit(200 * time.Millisecond)
	c, _ := simClient(t, s)
	if _, err := c.Commit(t.Context(), repo, "master"); err != nil {
		t.Fatalf("Commit across a rate-limit reset: %v", err)
	}
	var limited, served int
	for _, r := range s.Requests() {
		if r.Status == http.StatusForbidden {
			limited++
		} else {
			served++
		}
	}
	if limited != 1 || served != 1 {
		t.Errorf("%d refused and %d served requests; want one of each: the wait comes from the headers, not from retrying", limited, served)
	}
}

func TestRateLimitThatLastsGivesUpAtOnce(t *testing.T) {
	s := newSim(t)
	s.ExhaustRateLimit(time.Hour)
	c, _ := simClient(t, s)
	_, err := c.Commit(t.Context(), repo, "master")
	if !errors.Is(err, ErrRateLimited) || !errors.Is(err, release.ErrUnavailable) ||
		!strings.Contains(err.Error(), "GitHub's rate limit for github.token (5000 requests an hour) is used up until") {
		t.Errorf("Commit while rate-limited for an hour: %v", err)
	}
	if _, err := c.Commit(t.Context(), repo, "master"); !errors.Is(err, ErrRateLimited) {
		t.Errorf("second Commit: %v", err)
	}
	if n := len(s.Requests()); n != 1 {
		t.Errorf("%d requests; once GitHub said the limit is used up, go-github asks no more until the reset", n)
	}
}

func TestSecondaryRateLimitWaitsRetryAfter(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	s.SecondaryLimitNext(time.Second)
	c, _ := simClient(t, s)
	start := time.Now()
	if _, err := c.Commit(t.Context(), repo, "master"); err != nil {
		t.Fatalf("Commit after a secondary rate limit: %v", err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("retried after %v; GitHub asked for a second", waited)
	}
}

func TestDeployments(t *testing.T) {
	s := newSim(t)
	sha, _ := s.Branch(repo, "master")
	c, _ := simClient(t, s)
	id, err := c.CreateDeployment(t.Context(), repo, release.NewDeployment{Release: 7, SHA: sha, Environment: "test/feature-x",
		Description: "Hoist release #7 of feature-x", Transient: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []release.DeploymentStatus{
		{State: release.DeploymentQueued, Description: "waiting"},
		{State: release.DeploymentInProgress, LogURL: "http://jenkins/job/api/7/", EnvironmentURL: "https://api-feature-x.test/"},
		{State: release.DeploymentSuccess, LogURL: "http://jenkins/job/api/7/", EnvironmentURL: "https://api-feature-x.test/"},
	} {
		if err := c.SetDeploymentStatus(t.Context(), repo, id, st); err != nil {
			t.Fatalf("SetDeploymentStatus(%s): %v", st.State, err)
		}
	}
	ds := s.Deployments(repo)
	if len(ds) != 1 {
		t.Fatalf("deployments = %+v", ds)
	}
	d := ds[0]
	var payload map[string]string
	_ = json.Unmarshal(d.Payload, &payload)
	if d.ID != id || d.SHA != sha || d.Ref != sha || d.Environment != "test/feature-x" || d.AutoMerge || !d.Transient || d.Production ||
		d.RequiredContexts == nil || len(d.RequiredContexts) != 0 || payload["release_id"] != "7" || d.Task != "deploy" {
		t.Errorf("deployment = %+v, payload %s", d, d.Payload)
	}
	last := d.Statuses[2]
	if len(d.Statuses) != 3 || last.State != "success" || last.LogURL != "http://jenkins/job/api/7/" || last.EnvironmentURL != "https://api-feature-x.test/" {
		t.Errorf("statuses = %+v", d.Statuses)
	}
}

func TestDeploymentRefusedByRequiredContexts(t *testing.T) {
	s := newSim(t)
	sha, _ := s.Branch(repo, "master")
	c, _ := simClient(t, s)
	_, err := c.CreateDeployment(t.Context(), repo, release.NewDeployment{SHA: sha, Environment: "production", RequiredContexts: []string{"ci/test"}})
	if err == nil || !strings.Contains(err.Error(), "Conflict: Commit status checks failed for "+sha+".") || !strings.Contains(err.Error(), "(409)") {
		t.Errorf("deployment of a commit whose checks did not pass: %v", err)
	}
	s.SetStatus(repo, sha, "ci/test", "success")
	if _, err := c.CreateDeployment(t.Context(), repo, release.NewDeployment{SHA: sha, Environment: "production", RequiredContexts: []string{"ci/test"}}); err != nil {
		t.Errorf("deployment once the checks passed: %v", err)
	}
}

// promotionRepo has latest one commit ahead of master.
func promotionRepo(t *testing.T) (*githubsim.Server, string) {
	s := newSim(t)
	s.AddBranch(repo, "latest", "master")
	return s, s.Commit(repo, "latest", "Ship it", map[string]string{"app.go": "v2"})
}

func TestCompareAndBranchHead(t *testing.T) {
	s, head := promotionRepo(t)
	master, _ := s.Branch(repo, "master")
	c, _ := simClient(t, s)
	for _, tt := range []struct {
		branch, sha string
		want        release.Relation
	}{{"master", head, release.Ahead}, {"master", master, release.Identical}, {"latest", master, release.Behind}} {
		if got, err := c.Compare(t.Context(), repo, tt.branch, tt.sha); err != nil || got != tt.want {
			t.Errorf("Compare(%s, %s) = %q, %v; want %q", tt.branch, tt.sha[:7], got, err, tt.want)
		}
	}
	s.Commit(repo, "master", "Hotfix", map[string]string{"fix.go": "1"})
	if got, _ := c.Compare(t.Context(), repo, "master", head); got != release.Diverged {
		t.Errorf("Compare after a hotfix = %q", got)
	}
	if got, err := c.BranchHead(t.Context(), repo, "latest"); err != nil || got != head {
		t.Errorf("BranchHead = %s, %v", got, err)
	}
}

func TestPullRequestPromotion(t *testing.T) {
	s, head := promotionRepo(t)
	c, _ := simClient(t, s)
	ctx := t.Context()
	if _, err := c.FindPullRequest(ctx, repo, "latest", "master"); !errors.Is(err, release.ErrNotFound) {
		t.Fatalf("FindPullRequest before any: %v", err)
	}
	pr, err := c.OpenPullRequest(ctx, repo, release.PullRequest{Head: "latest", Base: "master", Title: "Promote", Body: "<!-- hoist-release: 2 -->"})
	if err != nil || pr.Number != 1 || pr.URL != s.WebURL()+repo+"/pull/1" || pr.Head != "latest" || pr.Base != "master" {
		t.Fatalf("OpenPullRequest = %+v, %v", pr, err)
	}
	again, err := c.OpenPullRequest(ctx, repo, release.PullRequest{Head: "latest", Base: "master", Title: "Promote again"})
	if err != nil || again.Number != 1 || again.Body != pr.Body {
		t.Errorf("opening it again = %+v, %v; want the open one", again, err)
	}
	merged, err := c.MergePullRequest(ctx, repo, pr.Number, head, "squash")
	if err != nil {
		t.Fatal(err)
	}
	if master, _ := s.Branch(repo, "master"); merged != master {
		t.Errorf("merged = %s; master is %s", merged, master)
	}
	if got := s.PullRequests(repo)[0]; !got.Merged || got.MergeMethod != "squash" {
		t.Errorf("pull request = %+v", got)
	}
}

func TestMergeRefusals(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *githubsim.Server)
		want  string
	}{
		{"protection", func(s *githubsim.Server) { s.Protect(repo, "master", githubsim.Protection{RequiredReviews: 1}) },
			"At least 1 approving review is required by reviewers with write access. (405)"},
		{"conflict", func(s *githubsim.Server) { s.Commit(repo, "master", "Other", map[string]string{"app.go": "v3"}) },
			"Pull Request is not mergeable (405)"},
		{"head moved", func(s *githubsim.Server) { s.Commit(repo, "latest", "More", map[string]string{"b.go": "1"}) },
			"its head moved away from"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, head := promotionRepo(t)
			c, _ := simClient(t, s)
			pr, err := c.OpenPullRequest(t.Context(), repo, release.PullRequest{Head: "latest", Base: "master", Title: "Promote"})
			if err != nil {
				t.Fatal(err)
			}
			tt.setup(s)
			_, err = c.MergePullRequest(t.Context(), repo, pr.Number, head, "merge")
			if err == nil || !strings.Contains(err.Error(), tt.want) || errors.Is(err, release.ErrUnavailable) {
				t.Errorf("merge = %v; want %q", err, tt.want)
			}
			if err := c.ClosePullRequest(t.Context(), repo, pr.Number); err != nil {
				t.Fatal(err)
			}
			if got := s.PullRequests(repo)[0]; got.State != "closed" || got.Merged {
				t.Errorf("pull request after closing = %+v", got)
			}
		})
	}
}

func TestFastForward(t *testing.T) {
	s, head := promotionRepo(t)
	c, _ := simClient(t, s)
	if err := c.FastForward(t.Context(), repo, "master", head); err != nil {
		t.Fatal(err)
	}
	if master, _ := s.Branch(repo, "master"); master != head {
		t.Errorf("master = %s", master)
	}
	hotfix := s.Commit(repo, "master", "Hotfix", map[string]string{"fix.go": "1"})
	s.AddBranch(repo, "old", head)
	err := c.FastForward(t.Context(), repo, "old", hotfix)
	if err != nil {
		t.Fatalf("fast-forward of old: %v", err)
	}
	s.Commit(repo, "latest", "Diverge", map[string]string{"x.go": "1"})
	latest, _ := s.Branch(repo, "latest")
	if err := c.FastForward(t.Context(), repo, "master", latest); err == nil || !strings.Contains(err.Error(), "Update is not a fast forward (422)") {
		t.Errorf("non fast-forward = %v", err)
	}
	s.Protect(repo, "old", githubsim.Protection{RequiredReviews: 1})
	if err := c.FastForward(t.Context(), repo, "old", latest); err == nil || !strings.Contains(err.Error(), "Protected branch update failed") {
		t.Errorf("protected = %v", err)
	}
}
