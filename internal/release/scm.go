package release

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hoistbot/hoist/internal/mrkdwn"
)

// Commit is one commit as the source host shows it.
type Commit struct {
	SHA string
	// Title is the first line of the commit's message.
	Title string
	// URL is the commit's web page.
	URL string
}

// ErrUnknownRef is wrapped by SCM errors when a repository has no branch,
// tag or commit of the name given.
var ErrUnknownRef = errors.New("no such ref")

// Relation says how a commit relates to a branch's head, as GitHub's
// compare says it (base = the branch, head = the commit).
type Relation string

// The relations Compare returns.
const (
	// Identical: the branch points at the commit.
	Identical Relation = "identical"
	// Ahead: the commit descends from the branch's head, which can be
	// fast-forwarded to it.
	Ahead Relation = "ahead"
	// Behind: the branch already contains the commit and more.
	Behind Relation = "behind"
	// Diverged: each has commits the other lacks.
	Diverged Relation = "diverged"
)

// DeploymentState is the state of a deployment as GitHub shows it.
type DeploymentState string

// The deployment states Hoist posts.
const (
	DeploymentQueued     DeploymentState = "queued"
	DeploymentInProgress DeploymentState = "in_progress"
	DeploymentSuccess    DeploymentState = "success"
	DeploymentFailure    DeploymentState = "failure"
	DeploymentError      DeploymentState = "error"
	DeploymentInactive   DeploymentState = "inactive"
)

// NewDeployment is a deployment to record on the source host: one release
// of one commit to one environment.
type NewDeployment struct {
	Release     ID
	SHA         string
	Environment string
	Description string
	// Transient marks an environment that will be torn down (ephemeral).
	Transient bool
	// Production marks the environment end users reach.
	Production bool
	// RequiredContexts are the status checks that must have passed on the
	// commit; empty means none.
	RequiredContexts []string
}

// DeploymentStatus is one state a deployment reaches, with its links.
type DeploymentStatus struct {
	State       DeploymentState
	Description string
	// LogURL is where the deployment's log is (the build's page).
	LogURL string
	// EnvironmentURL is where people reach what was deployed.
	EnvironmentURL string
}

// MergeMethod is how a pull request is merged: "merge", "squash" or "rebase".
type MergeMethod string

// PullRequest is a pull request as Hoist needs it.
type PullRequest struct {
	Number int
	URL    string
	Title  string
	Body   string
	// Head and Base are the branches it merges from and into.
	Head, Base string
}

// SCM is the port to the source host (GitHub). Implementations retry
// transient failures themselves, return ErrUnavailable (wrapped) once they
// give up, and otherwise errors that say what to fix.
type SCM interface {
	// Commit returns the commit that ref (a branch, tag or SHA) names in
	// repo ("owner/name"); ErrUnknownRef (wrapped) when there is none.
	Commit(ctx context.Context, repo, ref string) (Commit, error)
	// BranchHead returns the SHA a branch points at; ErrUnknownRef
	// (wrapped) when there is no such branch.
	BranchHead(ctx context.Context, repo, branch string) (string, error)
	// Compare says how the commit sha relates to branch.
	Compare(ctx context.Context, repo, branch, sha string) (Relation, error)

	// CreateDeployment records a deployment and returns its ID. It never
	// merges anything into the commit's branch.
	CreateDeployment(ctx context.Context, repo string, d NewDeployment) (int64, error)
	// SetDeploymentStatus adds a status to a deployment.
	SetDeploymentStatus(ctx context.Context, repo string, id int64, s DeploymentStatus) error

	// FindPullRequest returns the open pull request from head into base;
	// ErrNotFound (wrapped) when there is none.
	FindPullRequest(ctx context.Context, repo, head, base string) (PullRequest, error)
	// OpenPullRequest opens a pull request from pr.Head into pr.Base.
	OpenPullRequest(ctx context.Context, repo string, pr PullRequest) (PullRequest, error)
	// MergePullRequest merges a pull request whose head is still sha, and
	// returns the SHA of the commit its base then points at.
	MergePullRequest(ctx context.Context, repo string, number int, sha string, method MergeMethod) (string, error)
	// ClosePullRequest closes a pull request without merging it.
	ClosePullRequest(ctx context.Context, repo string, number int) error
	// FastForward moves branch to sha, which must descend from its head.
	FastForward(ctx context.Context, repo, branch, sha string) error
}

// scmTimeout bounds one question to the source host, retries included, on
// the worker's path.
const scmTimeout = 2 * time.Minute

// resolveCommit resolves a requested release's ref to a commit before its
// card is posted. A ref that names nothing, or a source host that cannot
// be asked, ends the release at once with a reply to the requester; no
// card is posted then. A release whose commit is known already (promote,
// rollback) gets the commit's title and link when they are missing.
func (w *Worker) resolveCommit(ctx context.Context, r Release) (Release, error) {
	if r.State != Requested || w.ports.SCM == nil || r.Kind == KindEnvDown || r.CommitTitle != "" {
		return r, nil
	}
	repo := w.apps[r.App].Repo
	ref := r.Ref
	if r.Commit != "" {
		ref = r.Commit
	}
	sctx, cancel := context.WithTimeout(ctx, scmTimeout)
	c, err := w.ports.SCM.Commit(sctx, repo, ref)
	cancel()
	switch {
	case ctx.Err() != nil:
		return r, ctx.Err()
	case err != nil && r.Commit != "":
		w.logger.WarnContext(ctx, "look up the commit of a release", "release", r.ID, "commit", r.Commit, "err", err)
		return r, nil
	case err != nil:
		return w.refuseRef(ctx, r, repo, err)
	}
	if r.Commit != "" && c.SHA != r.Commit {
		w.logger.WarnContext(ctx, "look up the commit of a release: the source host named another commit", "release", r.ID, "commit", r.Commit, "answer", c.SHA)
		return r, nil
	}
	if err := w.store.SetCommit(ctx, r.ID, c, ActorHoist); err != nil {
		return r, fmt.Errorf("record commit: %w", err)
	}
	r.Commit, r.CommitTitle, r.CommitURL = c.SHA, c.Title, c.URL
	return r, nil
}

// refuseRef ends a release whose ref could not be resolved, and tells the
// requester why: on its card once it has one, or else in a reply.
func (w *Worker) refuseRef(ctx context.Context, r Release, repo string, cause error) (Release, error) {
	var reason string
	if errors.Is(cause, ErrUnknownRef) {
		reason = fmt.Sprintf("`%s` has no branch, tag or commit named `%s`: check the name, or push it first", repo, mrkdwn.Escape(r.Ref))
	} else {
		reason = fmt.Sprintf("could not resolve `%s` in `%s`: %v", mrkdwn.Escape(r.Ref), repo, cause)
	}
	if r.MessageTS == "" && r.ResponseURL != "" {
		text := fmt.Sprintf("Release #%d stopped, nothing was deployed: %s.", r.ID, reason)
		if err := w.ports.Chat.Respond(ctx, r.ResponseURL, text); err != nil {
			w.logger.WarnContext(ctx, "reply to requester", "release", r.ID, "err", err)
		}
	}
	return w.move(ctx, r, Failed, reason)
}
