package githubsim

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// kind is a JSON value's kind, "null" for null.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return fmt.Sprintf("%T", v)
}

func readFixture(t *testing.T, name string) any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return v
}

// sameShape checks that got has exactly the keys of want, with values of
// the same JSON kind where neither is null, and so on for the nested
// objects named by paths ("commit", "commit.tree", "head").
func sameShape(t *testing.T, name string, got, want any, paths ...string) {
	t.Helper()
	if list, ok := want.([]any); ok {
		gl, ok := got.([]any)
		if !ok || len(gl) == 0 || len(list) == 0 {
			t.Fatalf("%s: got %s with %v; want a non-empty array", name, kind(got), got)
		}
		got, want = gl[0], list[0]
	}
	compareKeys(t, name, got, want)
	for _, p := range paths {
		g, w := got, want
		for part := range strings.SplitSeq(p, ".") {
			g, w = field(g, part), field(w, part)
		}
		compareKeys(t, name+"."+p, g, w)
	}
}

func field(v any, key string) any {
	m, _ := v.(map[string]any)
	return m[key]
}

func compareKeys(t *testing.T, name string, got, want any) {
	t.Helper()
	g, gok := got.(map[string]any)
	w, wok := want.(map[string]any)
	if !gok || !wok {
		t.Errorf("%s: got a %s, the fixture has a %s", name, kind(got), kind(want))
		return
	}
	for k, wv := range w {
		gv, ok := g[k]
		if !ok {
			t.Errorf("%s: key %q of the fixture is missing", name, k)
			continue
		}
		if gk, wk := kind(gv), kind(wv); gk != wk && gk != "null" && wk != "null" {
			t.Errorf("%s: %q is a %s, the fixture has a %s", name, k, gk, wk)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: key %q is not in the fixture", name, k)
		}
	}
}

func TestShapesMatchGitHubsExamples(t *testing.T) {
	s := newServer(t, WithRepo("acme/api"))
	s.AddBranch("acme/api", "latest", "master")
	head := s.Commit("acme/api", "latest", "Fix all the bugs\n\nAnd a few more.", map[string]string{"a.go": "v2"})
	s.SetStatus("acme/api", head, "ci/test", "success")
	s.Protect("acme/api", "master", Protection{RequiredChecks: []string{"ci/test"}})

	sameShape(t, "commit", get(t, s, "repos/acme/api/commits/latest"), readFixture(t, "commit.json"), "commit", "commit.tree", "commit.verification")
	sameShape(t, "branch", get(t, s, "repos/acme/api/branches/master"), readFixture(t, "branch-get.json"),
		"commit", "commit.commit", "protection", "protection.required_status_checks")
	sameShape(t, "branches", get(t, s, "repos/acme/api/branches"), readFixture(t, "short-branch-with-protection-items.json"), "commit")
	sameShape(t, "combined status", get(t, s, "repos/acme/api/commits/"+head+"/status"), readFixture(t, "combined-commit-status.json"))

	created := send(t, s, "POST", "repos/acme/api/deployments", 201, map[string]any{"ref": head, "environment": "staging",
		"auto_merge": false, "required_contexts": []string{}, "payload": map[string]string{"release_id": "7"}})
	sameShape(t, "created deployment", created, readFixture(t, "deployment-simple-example.json"))
	id := int(field(created, "id").(float64))
	sameShape(t, "deployment", get(t, s, fmt.Sprintf("repos/acme/api/deployments/%d", id)), readFixture(t, "deployment.json"))
	sameShape(t, "deployments", get(t, s, "repos/acme/api/deployments"), readFixture(t, "deployment-items.json"))
	status := send(t, s, "POST", fmt.Sprintf("repos/acme/api/deployments/%d/statuses", id), 201,
		map[string]any{"state": "success", "log_url": "http://jenkins/job/1/", "environment_url": "https://staging.example.com/"})
	sameShape(t, "deployment status", status, readFixture(t, "deployment-status.json"))
	sameShape(t, "deployment statuses", get(t, s, fmt.Sprintf("repos/acme/api/deployments/%d/statuses", id)), readFixture(t, "deployment-status-items.json"))

	s.AddBranch("acme/api", "topic", "master")
	s.Commit("acme/api", "master", "Move on", map[string]string{"b.go": "v1"})
	merged := send(t, s, "POST", "repos/acme/api/deployments", 202, map[string]any{"ref": "topic", "environment": "test"})
	sameShape(t, "auto-merged deployment", merged, readFixture(t, "deployment-202-merged-branch-response.json"))

	pr := send(t, s, "POST", "repos/acme/api/pulls", 201, map[string]any{"title": "Promote", "head": "latest", "base": "master", "body": "Hoist"})
	sameShape(t, "pull request", pr, readFixture(t, "pull-request.json"), "head", "base")
	sameShape(t, "pull requests", get(t, s, "repos/acme/api/pulls"), readFixture(t, "pull-request-simple-items.json"), "head", "base")
	result := send(t, s, "PUT", "repos/acme/api/pulls/1/merge", 200, map[string]any{"sha": head, "merge_method": "merge"})
	sameShape(t, "merge", result, readFixture(t, "pull-request-merge-result-response-if-merge-was-successful.json"))
	sameShape(t, "merged pull request", get(t, s, "repos/acme/api/pulls/1"), readFixture(t, "pull-request.json"), "head", "base")
}

// TestFieldsHoistReads pins the values (not only the shapes) Hoist reads.
func TestFieldsHoistReads(t *testing.T) {
	s := newServer(t, WithRepo("acme/api"))
	sha := s.Commit("acme/api", "master", "Fix the checkout\n\nDetails.", map[string]string{"a": "1"})
	c := get(t, s, "repos/acme/api/commits/master")
	if field(c, "sha") != sha || field(field(c, "commit"), "message") != "Fix the checkout\n\nDetails." ||
		!strings.HasPrefix(field(c, "html_url").(string), s.WebURL()) {
		t.Errorf("commit = %v", c)
	}
	ref := get(t, s, "repos/acme/api/git/ref/heads/master")
	if field(field(ref, "object"), "sha") != sha || field(ref, "ref") != "refs/heads/master" {
		t.Errorf("ref = %v", ref)
	}
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	cmp := get(t, s, "repos/acme/api/compare/master..."+sha)
	want := []string{"ahead_by", "base_commit", "behind_by", "commits", "diff_url", "files", "html_url", "merge_base_commit",
		"patch_url", "permalink_url", "status", "total_commits", "url"}
	if got := keys(cmp); !slices.Equal(got, want) {
		t.Errorf("compare keys = %v; want %v", got, want)
	}
	if field(cmp, "status") != "identical" {
		t.Errorf("compare status = %v", field(cmp, "status"))
	}
}
