package githubsim

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

const repoName = "acme/api"

func TestAuthentication(t *testing.T) {
	s := newServer(t, WithRepo(repoName))
	errorOf(t, "no token", doAs(t, s, "", "GET", "repos/acme/api", nil), 401, "Requires authentication")
	errorOf(t, "wrong token", doAs(t, s, "Bearer ghp_wrong", "GET", "repos/acme/api", nil), 401, "Bad credentials")
	if a := doAs(t, s, "token "+DefaultToken, "GET", "repos/acme/api", nil); a.status != 200 {
		t.Errorf("the token scheme: %d %s", a.status, a.body)
	}
}

func TestRefsResolveAsOnGitHub(t *testing.T) {
	s := newServer(t, WithRepo(repoName))
	sha := s.Commit(repoName, "master", "One", map[string]string{"a": "1"})
	s.AddBranch(repoName, "feature/login", sha)
	s.Tag(repoName, "v1.0.0", sha)
	for _, ref := range []string{"master", "feature/login", "v1.0.0", "heads/master", "tags/v1.0.0", "refs/heads/master", sha, sha[:7]} {
		if got := field(get(t, s, "repos/acme/api/commits/"+ref), "sha"); got != sha {
			t.Errorf("commits/%s = %v; want %s", ref, got, sha)
		}
	}
	errorOf(t, "unknown ref", do(t, s, "GET", "repos/acme/api/commits/nope", nil), 422, "No commit found for SHA: nope")
	errorOf(t, "unknown repository", do(t, s, "GET", "repos/acme/nope/commits/master", nil), 404, "Not Found")
	errorOf(t, "unknown branch", do(t, s, "GET", "repos/acme/api/git/ref/heads/nope", nil), 404, "Not Found")
}

func TestCompare(t *testing.T) {
	s := newServer(t, WithRepo(repoName))
	base, _ := s.Branch(repoName, "master")
	s.AddBranch(repoName, "latest", "master")
	one := s.Commit(repoName, "latest", "One", map[string]string{"a": "1"})
	two := s.Commit(repoName, "latest", "Two", map[string]string{"a": "2"})
	s.AddBranch(repoName, "hotfix", "master")
	fix := s.Commit(repoName, "hotfix", "Fix", map[string]string{"b": "1"})
	tests := []struct {
		base, head      string
		status          string
		ahead, behind   float64
		commitsIncluded int
	}{
		{"master", base, "identical", 0, 0, 0},
		{"master", two, "ahead", 2, 0, 2},
		{"latest", one, "behind", 0, 1, 0},
		{"hotfix", two, "diverged", 2, 1, 2},
		{"master", fix, "ahead", 1, 0, 1},
	}
	for _, tt := range tests {
		c := get(t, s, "repos/acme/api/compare/"+tt.base+"..."+tt.head)
		if field(c, "status") != tt.status || field(c, "ahead_by") != tt.ahead || field(c, "behind_by") != tt.behind ||
			len(field(c, "commits").([]any)) != tt.commitsIncluded {
			t.Errorf("compare %s...%s = %v ahead %v behind %v, %d commits; want %s %v %v",
				tt.base, tt.head[:min(7, len(tt.head))], field(c, "status"), field(c, "ahead_by"), field(c, "behind_by"),
				len(field(c, "commits").([]any)), tt.status, tt.ahead, tt.behind)
		}
	}
	if n := len(field(get(t, s, "repos/acme/api/compare/master..."+two+"?per_page=1"), "commits").([]any)); n != 1 {
		t.Errorf("per_page=1 gave %d commits", n)
	}
	errorOf(t, "unknown base", do(t, s, "GET", "repos/acme/api/compare/nope..."+two, nil), 404, "Not Found")
}

func TestRefUpdatesFastForwardOnly(t *testing.T) {
	s := newServer(t, WithRepo(repoName))
	s.AddBranch(repoName, "latest", "master")
	ahead := s.Commit(repoName, "latest", "Ahead", map[string]string{"a": "1"})
	s.AddBranch(repoName, "other", "master")
	other := s.Commit(repoName, "other", "Other", map[string]string{"b": "1"})

	send(t, s, "PATCH", "repos/acme/api/git/refs/heads/master", 200, map[string]any{"sha": ahead, "force": false})
	if got, _ := s.Branch(repoName, "master"); got != ahead {
		t.Fatalf("master = %s after a fast-forward", got)
	}
	errorOf(t, "not a fast-forward", do(t, s, "PATCH", "repos/acme/api/git/refs/heads/master", map[string]any{"sha": other}), 422, "Update is not a fast forward")
	send(t, s, "PATCH", "repos/acme/api/git/refs/heads/master", 200, map[string]any{"sha": other, "force": true})
	s.Protect(repoName, "master", Protection{RequiredReviews: 1})
	errorOf(t, "protected", do(t, s, "PATCH", "repos/acme/api/git/refs/heads/master", map[string]any{"sha": other}), 422,
		"Protected branch update failed for refs/heads/master.")
}

func TestDeploymentsCheckRequiredContexts(t *testing.T) {
	s := newServer(t, WithRepo(repoName))
	sha, _ := s.Branch(repoName, "master")
	create := func(body map[string]any) answer {
		t.Helper()
		body["ref"] = sha
		return do(t, s, "POST", "repos/acme/api/deployments", body)
	}
	a := create(map[string]any{"required_contexts": []string{"ci/test"}})
	errorOf(t, "missing context", a, 409, "Conflict: Commit status checks failed for "+sha+".")
	var body struct {
		Errors []struct {
			Contexts []struct{ Context, State string } `json:"contexts"`
			Field    string                            `json:"field"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil || len(body.Errors) != 1 || body.Errors[0].Field != "required_contexts" ||
		len(body.Errors[0].Contexts) != 1 || body.Errors[0].Contexts[0].Context != "ci/test" {
		t.Errorf("409 body = %s", a.body)
	}
	s.SetStatus(repoName, sha, "ci/test", "success")
	s.SetStatus(repoName, sha, "lint", "failure")
	if a := create(map[string]any{"required_contexts": []string{"ci/test"}}); a.status != 201 {
		t.Errorf("ci/test passed: %d %s", a.status, a.body)
	}
	errorOf(t, "every context when left out", create(map[string]any{}), 409, "Commit status checks failed")
	if a := create(map[string]any{"required_contexts": []string{}}); a.status != 201 {
		t.Errorf("no context required: %d %s", a.status, a.body)
	}
	errorOf(t, "unknown ref", do(t, s, "POST", "repos/acme/api/deployments", map[string]any{"ref": "nope"}), 422, "No ref found for: nope")
	ds := s.Deployments(repoName)
	if len(ds) != 2 || ds[0].RequiredContexts[0] != "ci/test" || ds[1].RequiredContexts == nil || len(ds[1].RequiredContexts) != 0 {
		t.Errorf("deployments = %+v", ds)
	}
}

func TestDeploymentAutoMergeMergesTheDefaultBranchIn(t *testing.T) {
	s := newServer(t, WithRepo(repoName))
	s.AddBranch(repoName, "topic", "master")
	s.Commit(repoName, "master", "On master", map[string]string{"m": "1"})
	before, _ := s.Branch(repoName, "topic")
	send(t, s, "POST", "repos/acme/api/deployments", 201, map[string]any{"ref": "topic", "auto_merge": false, "required_contexts": []string{}})
	if after, _ := s.Branch(repoName, "topic"); after != before {
		t.Fatal("auto_merge false moved the branch")
	}
	send(t, s, "POST", "repos/acme/api/deployments", 202, map[string]any{"ref": "topic", "required_contexts": []string{}})
	if master, _ := s.Branch(repoName, "master"); !s.Contains(repoName, "topic", master) {
		t.Error("auto_merge did not merge master into topic")
	}
}

func TestSuccessMarksEarlierDeploymentsInactive(t *testing.T) {
	s := newServer(t, WithRepo(repoName))
	sha, _ := s.Branch(repoName, "master")
	deploy := func(env string, transient bool) string {
		d := send(t, s, "POST", "repos/acme/api/deployments", 201, map[string]any{"ref": sha, "environment": env,
			"required_contexts": []string{}, "transient_environment": transient, "production_environment": false})
		id := strconv.Itoa(int(field(d, "id").(float64)))
		send(t, s, "POST", "repos/acme/api/deployments/"+id+"/statuses", 201, map[string]any{"state": "success"})
		return id
	}
	deploy("staging", false)
	deploy("review/a", true)
	deploy("staging", false)
	deploy("review/a", true)
	ds := s.Deployments(repoName)
	last := func(d Deployment) string { return d.Statuses[len(d.Statuses)-1].State }
	if last(ds[0]) != "inactive" || last(ds[2]) != "success" || last(ds[1]) != "success" || last(ds[3]) != "success" {
		t.Errorf("states = %s %s %s %s; want only the earlier non-transient one inactive", last(ds[0]), last(ds[1]), last(ds[2]), last(ds[3]))
	}
	errorOf(t, "bad state", do(t, s, "POST", "repos/acme/api/deployments/"+strconv.FormatInt(ds[0].ID, 10)+"/statuses", map[string]any{"state": "done"}), 422, "Validation Failed")
}

// promotionRepo has latest two commits ahead of master.
func promotionRepo(t *testing.T) (*Server, string) {
	s := newServer(t, WithRepo(repoName))
	s.AddBranch(repoName, "latest", "master")
	s.Commit(repoName, "latest", "One", map[string]string{"a.go": "1"})
	head := s.Commit(repoName, "latest", "Two", map[string]string{"b.go": "1"})
	return s, head
}

func openPull(t *testing.T, s *Server) {
	t.Helper()
	send(t, s, "POST", "repos/acme/api/pulls", 201, map[string]any{"title": "Promote", "head": "acme:latest", "base": "master"})
}

func TestMergeMethods(t *testing.T) {
	for _, method := range []string{"merge", "squash", "rebase"} {
		t.Run(method, func(t *testing.T) {
			s, head := promotionRepo(t)
			s.Commit(repoName, "master", "Hotfix", map[string]string{"c.go": "1"})
			base, _ := s.Branch(repoName, "master")
			openPull(t, s)
			res := send(t, s, "PUT", "repos/acme/api/pulls/1/merge", 200, map[string]any{"sha": head, "merge_method": method})
			master, _ := s.Branch(repoName, "master")
			if field(res, "sha") != master || field(res, "merged") != true {
				t.Errorf("merge result = %v; master is %s", res, master)
			}
			tip, _ := s.CommitInfo(repoName, master)
			for _, f := range []string{"a.go", "b.go", "c.go"} {
				if tip.Files[f] != "1" {
					t.Errorf("master's tree lacks %s: %v", f, tip.Files)
				}
			}
			switch method {
			case "merge":
				if len(tip.Parents) != 2 || tip.Parents[0] != base || tip.Parents[1] != head {
					t.Errorf("merge commit parents = %v", tip.Parents)
				}
			case "squash":
				if len(tip.Parents) != 1 || tip.Parents[0] != base || tip.Title() != "Promote (#1)" || s.Contains(repoName, "master", head) {
					t.Errorf("squash commit = %+v", tip)
				}
			case "rebase":
				parent, _ := s.CommitInfo(repoName, tip.Parents[0])
				if tip.Title() != "Two" || parent.Title() != "One" || parent.Parents[0] != base || s.Contains(repoName, "master", head) {
					t.Errorf("rebased commits = %+v, %+v", tip, parent)
				}
			}
			pr := s.PullRequests(repoName)[0]
			if pr.State != "closed" || !pr.Merged || pr.MergeMethod != method || pr.MergeCommitSHA != master {
				t.Errorf("pull request = %+v", pr)
			}
		})
	}
}

func TestMergeRefusals(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(s *Server, head string) (sha, method string)
		status int
		want   string
	}{
		{"head moved", func(s *Server, head string) (string, string) {
			s.Commit(repoName, "latest", "Three", map[string]string{"d.go": "1"})
			return head, "merge"
		}, 409, "Head branch was modified. Review and try the merge again."},
		{"reviews required", func(s *Server, head string) (string, string) {
			s.Protect(repoName, "master", Protection{RequiredReviews: 1})
			return head, "merge"
		}, 405, "At least 1 approving review is required by reviewers with write access."},
		{"check required", func(s *Server, head string) (string, string) {
			s.Protect(repoName, "master", Protection{RequiredChecks: []string{"ci/test"}})
			return head, "squash"
		}, 405, `Required status check "ci/test" is expected.`},
		{"conflict", func(s *Server, head string) (string, string) {
			s.Commit(repoName, "master", "Other b", map[string]string{"b.go": "2"})
			return head, "merge"
		}, 405, "Pull Request is not mergeable"},
		{"rebase conflict", func(s *Server, head string) (string, string) {
			s.Commit(repoName, "master", "Other b", map[string]string{"b.go": "2"})
			return head, "rebase"
		}, 405, "Pull Request is not mergeable"},
		{"method not allowed", func(s *Server, head string) (string, string) {
			s.AllowMergeMethods(repoName, "squash")
			return head, "rebase"
		}, 405, "Rebase merges are not allowed on this repository."},
		{"unknown method", func(_ *Server, head string) (string, string) { return head, "octopus" }, 422, "Validation Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, head := promotionRepo(t)
			openPull(t, s)
			master, _ := s.Branch(repoName, "master")
			sha, method := tt.setup(s, head)
			master2, _ := s.Branch(repoName, "master")
			errorOf(t, tt.name, do(t, s, "PUT", "repos/acme/api/pulls/1/merge", map[string]any{"sha": sha, "merge_method": method}), tt.status, tt.want)
			if now, _ := s.Branch(repoName, "master"); now != master2 || s.PullRequests(repoName)[0].State != "open" {
				t.Errorf("a refused merge changed master (%s → %s) or the pull request", master[:7], now[:7])
			}
		})
	}
	t.Run("closed", func(t *testing.T) {
		s, head := promotionRepo(t)
		openPull(t, s)
		s.ClosePullRequest(repoName, 1)
		errorOf(t, "closed", do(t, s, "PUT", "repos/acme/api/pulls/1/merge", map[string]any{"sha": head}), 405, "Pull Request is not mergeable")
	})
}

func TestPullRequestValidation(t *testing.T) {
	s, _ := promotionRepo(t)
	openPull(t, s)
	errorOf(t, "duplicate", do(t, s, "POST", "repos/acme/api/pulls", map[string]any{"title": "Again", "head": "latest", "base": "master"}),
		422, "Validation Failed")
	a := do(t, s, "POST", "repos/acme/api/pulls", map[string]any{"title": "Again", "head": "latest", "base": "master"})
	var body struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	if json.Unmarshal(a.body, &body) != nil || len(body.Errors) != 1 || body.Errors[0].Message != "A pull request already exists for acme:latest." {
		t.Errorf("duplicate: %s", a.body)
	}
	s.AddBranch(repoName, "old", "master")
	errorOf(t, "no commits", do(t, s, "POST", "repos/acme/api/pulls", map[string]any{"title": "Nothing", "head": "old", "base": "latest"}), 422, "Validation Failed")
	errorOf(t, "no head", do(t, s, "POST", "repos/acme/api/pulls", map[string]any{"title": "X", "head": "nope", "base": "master"}), 422, "Validation Failed")
	list := get(t, s, "repos/acme/api/pulls?state=open&head=acme:latest&base=master").([]any)
	if len(list) != 1 {
		t.Errorf("open pulls from acme:latest = %d", len(list))
	}
	if list := get(t, s, "repos/acme/api/pulls?head=other:latest").([]any); len(list) != 0 {
		t.Errorf("pulls from another owner's fork = %d", len(list))
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newServer(t, WithRepo(repoName), WithRateLimit(2), WithClock(clock))
	for i := range 2 {
		a := do(t, s, "GET", "repos/acme/api", nil)
		if a.status != 200 || a.header.Get("X-RateLimit-Remaining") != strconv.Itoa(1-i) || a.header.Get("X-RateLimit-Limit") != "2" ||
			a.header.Get("X-RateLimit-Resource") != "core" || a.header.Get("X-RateLimit-Used") != strconv.Itoa(i+1) {
			t.Fatalf("request %d: %d %v", i, a.status, a.header)
		}
	}
	a := do(t, s, "GET", "repos/acme/api", nil)
	errorOf(t, "limit used up", a, 403, "API rate limit exceeded")
	if a.header.Get("X-RateLimit-Remaining") != "0" || a.header.Get("X-RateLimit-Reset") != strconv.FormatInt(now.Add(time.Hour).Unix(), 10) {
		t.Errorf("headers = %v", a.header)
	}
	if a := do(t, s, "GET", "rate_limit", nil); a.status != 200 {
		t.Errorf("rate_limit costs nothing and stays open: %d", a.status)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if a := do(t, s, "GET", "repos/acme/api", nil); a.status != 200 {
		t.Errorf("after the reset: %d", a.status)
	}
}

func TestFailuresOnDemand(t *testing.T) {
	s := newServer(t, WithRepo(repoName))
	s.FailNext(1, 502)
	errorOf(t, "502", do(t, s, "GET", "repos/acme/api", nil), 502, "Bad Gateway")
	s.FailNext(1, 429)
	a := do(t, s, "GET", "repos/acme/api", nil)
	if a.status != 429 || a.header.Get("Retry-After") != "1" {
		t.Errorf("429: %d %v", a.status, a.header)
	}
	s.SecondaryLimitNext(3 * time.Second)
	a = do(t, s, "GET", "repos/acme/api", nil)
	errorOf(t, "secondary", a, 403, "secondary rate limit")
	if a.header.Get("Retry-After") != "3" {
		t.Errorf("secondary Retry-After = %q", a.header.Get("Retry-After"))
	}
	if a := do(t, s, "GET", "repos/acme/api", nil); a.status != 200 {
		t.Errorf("after the failures: %d", a.status)
	}
}

func TestWebhookDeliveries(t *testing.T) {
	type got struct {
		event, sig, sha1, delivery string
		body                       []byte
	}
	var mu sync.Mutex
	var received []got
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		received = append(received, got{r.Header.Get("X-GitHub-Event"), r.Header.Get("X-Hub-Signature-256"), r.Header.Get("X-Hub-Signature"),
			r.Header.Get("X-GitHub-Delivery"), body})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer receiver.Close()
	s, head := promotionRepo(t)
	s.SetWebhook(receiver.URL, "hook-secret")
	openPull(t, s)
	send(t, s, "PUT", "repos/acme/api/pulls/1/merge", 200, map[string]any{"sha": head})
	s.AddBranch(repoName, "feature-x", "master")
	s.DeleteBranch(repoName, "feature-x")
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Deliveries()) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if ds := s.Deliveries(); len(ds) != 2 || ds[0].Status != 202 || ds[1].Status != 202 {
		t.Fatalf("deliveries = %+v", ds)
	}
	mu.Lock()
	defer mu.Unlock()
	events := map[string]map[string]any{}
	for _, r := range received {
		if !hmac.Equal([]byte(r.sig), []byte(Sign("hook-secret", r.body))) || r.sha1 == "" || r.delivery == "" {
			t.Errorf("%s delivery: signature %q, delivery %q", r.event, r.sig, r.delivery)
		}
		var v map[string]any
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Fatal(err)
		}
		events[r.event] = v
	}
	del := events["delete"]
	if del["ref"] != "feature-x" || del["ref_type"] != "branch" || field(del["repository"], "full_name") != repoName {
		t.Errorf("delete event = %v", del)
	}
	pr := events["pull_request"]
	if pr["action"] != "closed" || field(pr["pull_request"], "merged") != true || field(field(pr["pull_request"], "head"), "ref") != "latest" {
		t.Errorf("pull_request event: action %v, merged %v", pr["action"], field(pr["pull_request"], "merged"))
	}
	if fmt.Sprint(field(pr["repository"], "full_name")) != repoName {
		t.Errorf("pull_request repository = %v", field(pr["repository"], "full_name"))
	}
}
