package release_test

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/hoistbot/hoist/internal/release"
)

// fakeSCM is a source host holding one repository: branches (every ref it
// knows is a branch), a commit graph, deployments with their statuses, and
// pull requests that merge by a merge commit.
type fakeSCM struct {
	mu      sync.Mutex
	heads   map[string]string   // branch → SHA
	parents map[string][]string // SHA → parent SHAs; commits without an entry have none
	seq     int

	deployments []fakeDeployment
	pulls       []fakePull
	methods     []release.MergeMethod // the method of each merge asked for

	fail        error // when set, every call fails with it
	deployErr   error // when set, CreateDeployment fails with it
	mergeErr    error // when set, MergePullRequest fails with it
	fastForward []string
	compares    int
}

type fakeDeployment struct {
	ID       int64
	Repo     string
	Request  release.NewDeployment
	Statuses []release.DeploymentStatus
}

type fakePull struct {
	release.PullRequest
	Open, Merged bool
}

func newFakeSCM(refs map[string]string) *fakeSCM {
	heads := map[string]string{}
	for ref, sha := range refs {
		heads[ref] = sha
	}
	return &fakeSCM{heads: heads, parents: map[string][]string{}}
}

// scm returns the harness's source host.
func (h *harness) scm() *fakeSCM {
	h.t.Helper()
	f, ok := h.ports.SCM.(*fakeSCM)
	if !ok {
		h.t.Fatalf("the harness's SCM is a %T", h.ports.SCM)
	}
	return f
}

// commit adds a commit with the given parents and returns its SHA.
func (f *fakeSCM) commit(parents ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	sha := fmt.Sprintf("%07x%033x", 0xf000000+f.seq, 0)
	f.parents[sha] = parents
	return sha
}

func (f *fakeSCM) setHead(branch, sha string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heads[branch] = sha
}

func (f *fakeSCM) head(branch string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heads[branch]
}

// ancestor reports whether a is b or one of b's ancestors. f.mu is held.
func (f *fakeSCM) ancestor(a, b string) bool {
	if a == b {
		return true
	}
	for _, p := range f.parents[b] {
		if f.ancestor(a, p) {
			return true
		}
	}
	return false
}

func (f *fakeSCM) Commit(_ context.Context, _, ref string) (release.Commit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return release.Commit{}, f.fail
	}
	sha, ok := f.heads[ref]
	if !ok {
		for _, s := range f.heads {
			if s == ref {
				sha, ok = s, true
			}
		}
	}
	if !ok {
		return release.Commit{}, fmt.Errorf("commit %q: %w", ref, release.ErrUnknownRef)
	}
	return release.Commit{SHA: sha, Title: "Change " + sha[:3], URL: "https://github.test/acme/api/commit/" + sha}, nil
}

func (f *fakeSCM) BranchHead(_ context.Context, _, branch string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	sha, ok := f.heads[branch]
	if !ok {
		return "", fmt.Errorf("branch %q: %w", branch, release.ErrUnknownRef)
	}
	return sha, nil
}

func (f *fakeSCM) Compare(_ context.Context, _, branch, sha string) (release.Relation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.compares++
	if f.fail != nil {
		return "", f.fail
	}
	head, ok := f.heads[branch]
	switch {
	case !ok:
		return "", fmt.Errorf("branch %q: %w", branch, release.ErrUnknownRef)
	case head == sha:
		return release.Identical, nil
	case f.ancestor(sha, head):
		return release.Behind, nil
	case f.ancestor(head, sha):
		return release.Ahead, nil
	}
	return release.Diverged, nil
}

func (f *fakeSCM) CreateDeployment(_ context.Context, repo string, d release.NewDeployment) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return 0, f.fail
	}
	if f.deployErr != nil {
		return 0, f.deployErr
	}
	id := int64(len(f.deployments) + 1001)
	f.deployments = append(f.deployments, fakeDeployment{ID: id, Repo: repo, Request: d})
	return id, nil
}

func (f *fakeSCM) SetDeploymentStatus(_ context.Context, _ string, id int64, s release.DeploymentStatus) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for i := range f.deployments {
		if f.deployments[i].ID == id {
			f.deployments[i].Statuses = append(f.deployments[i].Statuses, s)
			return nil
		}
	}
	return fmt.Errorf("deployment %d: %w", id, release.ErrNotFound)
}

// deploymentsCopy returns the deployments so far.
func (f *fakeSCM) deploymentsCopy() []fakeDeployment {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]fakeDeployment, len(f.deployments))
	for i, d := range f.deployments {
		d.Statuses = slices.Clone(d.Statuses)
		out[i] = d
	}
	return out
}

func (f *fakeSCM) FindPullRequest(_ context.Context, _, head, base string) (release.PullRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return release.PullRequest{}, f.fail
	}
	for _, p := range f.pulls {
		if p.Open && p.Head == head && p.Base == base {
			return p.PullRequest, nil
		}
	}
	return release.PullRequest{}, fmt.Errorf("pull request %s → %s: %w", head, base, release.ErrNotFound)
}

func (f *fakeSCM) OpenPullRequest(_ context.Context, _ string, pr release.PullRequest) (release.PullRequest, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return release.PullRequest{}, f.fail
	}
	pr.Number = len(f.pulls) + 1
	pr.URL = fmt.Sprintf("https://github.test/acme/api/pull/%d", pr.Number)
	f.pulls = append(f.pulls, fakePull{PullRequest: pr, Open: true})
	return pr, nil
}

func (f *fakeSCM) MergePullRequest(_ context.Context, _ string, number int, sha string, method release.MergeMethod) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.methods = append(f.methods, method)
	if f.mergeErr != nil {
		return "", f.mergeErr
	}
	p := &f.pulls[number-1]
	if f.heads[p.Head] != sha {
		return "", fmt.Errorf("head branch was modified")
	}
	f.seq++
	merge := fmt.Sprintf("%07x%033x", 0xe000000+f.seq, 0)
	f.parents[merge] = []string{f.heads[p.Base], sha}
	f.heads[p.Base] = merge
	p.Open, p.Merged = false, true
	return merge, nil
}

func (f *fakeSCM) ClosePullRequest(_ context.Context, _ string, number int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls[number-1].Open = false
	return nil
}

func (f *fakeSCM) FastForward(_ context.Context, _, branch, sha string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if !f.ancestor(f.heads[branch], sha) {
		return fmt.Errorf("update is not a fast forward")
	}
	f.heads[branch] = sha
	f.fastForward = append(f.fastForward, branch)
	return nil
}

func (f *fakeSCM) pullsCopy() []fakePull {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pulls)
}
