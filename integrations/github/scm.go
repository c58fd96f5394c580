package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	gh "github.com/google/go-github/v93/github"

	"github.com/hoistbot/hoist/internal/release"
)

// Permissions of a fine-grained token that calls need, for advice.
const (
	permContents     = "the Contents read permission"
	permContentsRW   = "the Contents read and write permission"
	permDeployments  = "the Deployments read and write permission"
	permPullRequests = "the Pull requests read and write permission"
	permMetadata     = "the Metadata read permission"
)

// maxTitle bounds a commit's title as Hoist shows it, in characters.
const maxTitle = 200

// Commit returns the commit ref (a branch, tag or SHA) names in repo.
func (c *Client) Commit(ctx context.Context, repo, ref string) (_ release.Commit, err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return release.Commit{}, err
	}
	unknown := fmt.Errorf("%s has no branch, tag or commit named %q: %w", repo, ref, release.ErrUnknownRef)
	if strings.TrimSpace(ref) == "" || strings.Contains(ref, "..") {
		return release.Commit{}, unknown
	}
	var rc *gh.RepositoryCommit
	err = c.call(ctx, op{doing: fmt.Sprintf("resolve %q in %s", ref, repo), repo: repo, perm: permContents}, func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		rc, resp, err = c.gh.Repositories.GetCommit(ctx, owner, name, escapeRef(ref), &gh.ListOptions{PerPage: 1})
		return resp, err
	})
	switch statusOf(err) {
	case 0:
	case http.StatusUnprocessableEntity:
		return release.Commit{}, unknown // "No commit found for SHA: …"
	case http.StatusConflict:
		return release.Commit{}, fmt.Errorf("%s is empty: %w", repo, release.ErrUnknownRef)
	case http.StatusNotFound:
		return release.Commit{}, c.notFound(ctx, owner, name, unknown)
	}
	if err != nil {
		return release.Commit{}, err
	}
	return release.Commit{SHA: rc.GetSHA(), Title: title(rc.GetCommit().GetMessage()), URL: webURL(rc.GetHTMLURL())}, nil
}

// BranchHead returns the SHA branch points at.
func (c *Client) BranchHead(ctx context.Context, repo, branch string) (_ string, err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	var ref *gh.Reference
	err = c.call(ctx, op{doing: fmt.Sprintf("read branch %q of %s", branch, repo), repo: repo, perm: permContents}, func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		ref, resp, err = c.gh.Git.GetRef(ctx, owner, name, "heads/"+branch)
		return resp, err
	})
	if statusOf(err) == http.StatusNotFound {
		return "", c.notFound(ctx, owner, name, fmt.Errorf("%s has no branch %q: %w", repo, branch, release.ErrUnknownRef))
	}
	if err != nil {
		return "", err
	}
	return ref.GetObject().GetSHA(), nil
}

// Compare says how the commit sha relates to branch.
func (c *Client) Compare(ctx context.Context, repo, branch, sha string) (_ release.Relation, err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	var comp *gh.CommitsComparison
	err = c.call(ctx, op{doing: fmt.Sprintf("compare branch %q of %s with %s", branch, repo, release.ShortSHA(sha)), repo: repo, perm: permContents},
		func(ctx context.Context) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			comp, resp, err = c.gh.Repositories.CompareCommits(ctx, owner, name, branch, sha, &gh.ListOptions{PerPage: 1})
			return resp, err
		})
	if statusOf(err) == http.StatusNotFound {
		return "", c.notFound(ctx, owner, name, fmt.Errorf("%s has no branch %q, or no commit %s: %w", repo, branch, sha, release.ErrUnknownRef))
	}
	if err != nil {
		return "", err
	}
	switch rel := release.Relation(comp.GetStatus()); rel {
	case release.Identical, release.Ahead, release.Behind, release.Diverged:
		return rel, nil
	}
	return "", fmt.Errorf("compare branch %q of %s with %s: GitHub answered with status %q", branch, repo, release.ShortSHA(sha), comp.GetStatus())
}

// CreateDeployment records a deployment of d.SHA, with auto_merge off and
// the release's ID in its payload.
func (c *Client) CreateDeployment(ctx context.Context, repo string, d release.NewDeployment) (_ int64, err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return 0, err
	}
	contexts := d.RequiredContexts
	if contexts == nil {
		contexts = []string{} // none; GitHub checks every context when the list is left out
	}
	req := gh.DeploymentRequest{
		Ref:                   d.SHA,
		Task:                  new("deploy"),
		AutoMerge:             new(false),
		RequiredContexts:      contexts,
		Payload:               map[string]string{"release_id": d.Release.String()},
		Environment:           new(d.Environment),
		Description:           new(d.Description),
		TransientEnvironment:  new(d.Transient),
		ProductionEnvironment: new(d.Production),
	}
	var dep *gh.Deployment
	err = c.call(ctx, op{doing: fmt.Sprintf("create a deployment of %s to %s in %s", release.ShortSHA(d.SHA), d.Environment, repo), repo: repo, perm: permDeployments},
		func(ctx context.Context) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			dep, resp, err = c.gh.Repositories.CreateDeployment(ctx, owner, name, req)
			return resp, err
		})
	if err != nil {
		return 0, err
	}
	return dep.GetID(), nil
}

// SetDeploymentStatus adds a status to deployment id.
func (c *Client) SetDeploymentStatus(ctx context.Context, repo string, id int64, s release.DeploymentStatus) (err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	req := gh.DeploymentStatusRequest{State: string(s.State), Description: new(s.Description)}
	if s.LogURL != "" {
		req.LogURL = new(s.LogURL)
	}
	if s.EnvironmentURL != "" {
		req.EnvironmentURL = new(s.EnvironmentURL)
	}
	return c.call(ctx, op{doing: fmt.Sprintf("set deployment %d of %s %s", id, repo, s.State), repo: repo, perm: permDeployments},
		func(ctx context.Context) (*gh.Response, error) {
			_, resp, err := c.gh.Repositories.CreateDeploymentStatus(ctx, owner, name, id, req)
			return resp, err
		})
}

// FindPullRequest returns the open pull request from head into base.
func (c *Client) FindPullRequest(ctx context.Context, repo, head, base string) (_ release.PullRequest, err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return release.PullRequest{}, err
	}
	var prs []*gh.PullRequest
	opts := &gh.PullRequestListOptions{State: "open", Head: owner + ":" + head, Base: base, ListOptions: gh.ListOptions{PerPage: 10}}
	err = c.call(ctx, op{doing: fmt.Sprintf("list pull requests from %q into %q in %s", head, base, repo), repo: repo, perm: permPullRequests},
		func(ctx context.Context) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			prs, resp, err = c.gh.PullRequests.List(ctx, owner, name, opts)
			return resp, err
		})
	if statusOf(err) == http.StatusNotFound {
		return release.PullRequest{}, c.notFound(ctx, owner, name, err)
	}
	if err != nil {
		return release.PullRequest{}, err
	}
	for _, pr := range prs {
		if pr.GetHead().GetRef() == head && pr.GetBase().GetRef() == base {
			return pullRequest(pr), nil
		}
	}
	return release.PullRequest{}, fmt.Errorf("no open pull request from %q into %q in %s: %w", head, base, repo, release.ErrNotFound)
}

// OpenPullRequest opens a pull request from pr.Head into pr.Base, or
// returns the one open already.
func (c *Client) OpenPullRequest(ctx context.Context, repo string, pr release.PullRequest) (_ release.PullRequest, err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return release.PullRequest{}, err
	}
	req := gh.CreatePullRequest{Title: new(pr.Title), Head: pr.Head, Base: pr.Base, Body: new(pr.Body)}
	var created *gh.PullRequest
	err = c.call(ctx, op{doing: fmt.Sprintf("open a pull request from %q into %q in %s", pr.Head, pr.Base, repo), repo: repo, perm: permPullRequests},
		func(ctx context.Context) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			created, resp, err = c.gh.PullRequests.Create(ctx, owner, name, req)
			return resp, err
		})
	if statusOf(err) == http.StatusUnprocessableEntity && strings.Contains(err.Error(), "already exists") {
		return c.FindPullRequest(ctx, repo, pr.Head, pr.Base)
	}
	if err != nil {
		return release.PullRequest{}, err
	}
	return pullRequest(created), nil
}

// MergePullRequest merges pull request number with method, provided its
// head is still sha, and returns the SHA its base then points at.
func (c *Client) MergePullRequest(ctx context.Context, repo string, number int, sha string, method release.MergeMethod) (_ string, err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return "", err
	}
	var res *gh.PullRequestMergeResult
	err = c.call(ctx, op{doing: fmt.Sprintf("merge pull request #%d of %s", number, repo), repo: repo, perm: permContentsRW},
		func(ctx context.Context) (*gh.Response, error) {
			var resp *gh.Response
			var err error
			res, resp, err = c.gh.PullRequests.Merge(ctx, owner, name, number, "", &gh.PullRequestOptions{SHA: sha, MergeMethod: string(method)})
			return resp, err
		})
	var se *statusError
	switch {
	case errors.As(err, &se) && se.status == http.StatusConflict:
		return "", fmt.Errorf("its head moved away from %s while Hoist merged it (%w)", release.ShortSHA(sha), se)
	case errors.As(err, &se) && se.status == http.StatusMethodNotAllowed:
		return "", se // branch protection, conflicts, a method the repository does not allow
	case err != nil:
		return "", err
	case !res.GetMerged():
		return "", fmt.Errorf("merge pull request #%d of %s: GitHub did not merge it: %s", number, repo, res.GetMessage())
	}
	return res.GetSHA(), nil
}

// ClosePullRequest closes pull request number without merging it.
func (c *Client) ClosePullRequest(ctx context.Context, repo string, number int) (err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	return c.call(ctx, op{doing: fmt.Sprintf("close pull request #%d of %s", number, repo), repo: repo, perm: permPullRequests},
		func(ctx context.Context) (*gh.Response, error) {
			_, resp, err := c.gh.PullRequests.Edit(ctx, owner, name, number, &gh.PullRequest{State: new("closed")})
			return resp, err
		})
}

// FastForward moves branch to sha, never forcing it.
func (c *Client) FastForward(ctx context.Context, repo, branch, sha string) (err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	err = c.call(ctx, op{doing: fmt.Sprintf("move branch %q of %s to %s", branch, repo, release.ShortSHA(sha)), repo: repo, perm: permContentsRW},
		func(ctx context.Context) (*gh.Response, error) {
			_, resp, err := c.gh.Git.UpdateRef(ctx, owner, name, "heads/"+branch, gh.UpdateRef{SHA: sha, Force: new(false)})
			return resp, err
		})
	var se *statusError
	if errors.As(err, &se) && se.status == http.StatusUnprocessableEntity {
		return se // not a fast-forward, or a protected branch
	}
	return err
}

// repoExists says whether the token can see owner/name.
func (c *Client) repoExists(ctx context.Context, owner, name string) error {
	repo := owner + "/" + name
	err := c.call(ctx, op{doing: "read repository " + repo, repo: repo, perm: permMetadata}, func(ctx context.Context) (*gh.Response, error) {
		_, resp, err := c.gh.Repositories.Get(ctx, owner, name)
		return resp, err
	})
	if statusOf(err) == http.StatusNotFound {
		return &adviceError{kind: ErrRepoNotFound, msg: fmt.Sprintf(
			"GitHub has no repository %s, or github.token cannot see it: check the app's repo, and give the token access to it", repo)}
	}
	return err
}

// notFound explains a 404: the repository when the token cannot see it,
// otherwise what the caller was looking for.
func (c *Client) notFound(ctx context.Context, owner, name string, otherwise error) error {
	if err := c.repoExists(ctx, owner, name); errors.Is(err, ErrRepoNotFound) {
		return err
	}
	return otherwise
}

func pullRequest(pr *gh.PullRequest) release.PullRequest {
	return release.PullRequest{
		Number: pr.GetNumber(),
		URL:    webURL(pr.GetHTMLURL()),
		Title:  pr.GetTitle(),
		Body:   pr.GetBody(),
		Head:   pr.GetHead().GetRef(),
		Base:   pr.GetBase().GetRef(),
	}
}

// title is the first line of a commit message, without control
// characters, at most maxTitle characters.
func title(message string) string {
	line, _, _ := strings.Cut(message, "\n")
	line = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(line))
	if runes := []rune(line); len(runes) > maxTitle {
		line = string(runes[:maxTitle-1]) + "…"
	}
	return line
}

// webURL keeps a link GitHub gave when it is a plain http(s) URL that can
// sit in a Slack link, and drops it otherwise.
func webURL(u string) string {
	if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") || strings.ContainsAny(u, "<>| \t\r\n") {
		return ""
	}
	return u
}
