package metrics

import (
	"context"
	"errors"
	"strconv"

	"github.com/hoistbot/hoist/internal/release"
)

// countError counts err in hoist_integration_errors_total, unless it is
// no failure of the system: nil, Hoist's own cancellation, or an answer
// the core acts on (no such ref, a rollout that failed, a queue item
// cancelled in Jenkins, a pull request not found, a namespace Hoist does
// not manage).
func (m *Metrics) countError(system, op string, err error) {
	if err == nil || errors.Is(err, context.Canceled) {
		return
	}
	for _, answer := range []error{release.ErrNotFound, release.ErrUnknownRef, release.ErrNotBuilt, release.ErrRolloutFailed, release.ErrNotManaged} {
		if errors.Is(err, answer) {
			return
		}
	}
	transient := errors.Is(err, release.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
	m.portErrors.WithLabelValues(system, op, strconv.FormatBool(transient)).Inc()
}

// Pipeline returns p with its errors counted under system ("jenkins").
func (m *Metrics) Pipeline(system string, p release.Pipeline) release.Pipeline {
	return &pipeline{Pipeline: p, m: m, system: system}
}

type pipeline struct {
	release.Pipeline
	m      *Metrics
	system string
}

var _ release.Pipeline = (*pipeline)(nil)

func (p *pipeline) Trigger(ctx context.Context, req release.BuildRequest) (int64, error) {
	id, err := p.Pipeline.Trigger(ctx, req)
	p.m.countError(p.system, "trigger", err)
	return id, err
}

func (p *pipeline) FindBuild(ctx context.Context, job string, id release.ID) (release.FoundBuild, bool, error) {
	b, ok, err := p.Pipeline.FindBuild(ctx, job, id)
	p.m.countError(p.system, "find_build", err)
	return b, ok, err
}

func (p *pipeline) WaitForBuild(ctx context.Context, job string, queueID int64) (int64, string, error) {
	n, url, err := p.Pipeline.WaitForBuild(ctx, job, queueID)
	p.m.countError(p.system, "wait_for_build", err)
	return n, url, err
}

func (p *pipeline) Status(ctx context.Context, job string, number int64) (release.BuildStatus, error) {
	st, err := p.Pipeline.Status(ctx, job, number)
	p.m.countError(p.system, "status", err)
	return st, err
}

func (p *pipeline) ReadLog(ctx context.Context, job string, number, offset int64) (release.LogChunk, error) {
	c, err := p.Pipeline.ReadLog(ctx, job, number, offset)
	p.m.countError(p.system, "read_log", err)
	return c, err
}

func (p *pipeline) CancelQueued(ctx context.Context, queueID int64) error {
	err := p.Pipeline.CancelQueued(ctx, queueID)
	p.m.countError(p.system, "cancel_queued", err)
	return err
}

func (p *pipeline) Stop(ctx context.Context, job string, number int64) error {
	err := p.Pipeline.Stop(ctx, job, number)
	p.m.countError(p.system, "stop", err)
	return err
}

// SCM returns s with its errors counted under system ("github").
func (m *Metrics) SCM(system string, s release.SCM) release.SCM {
	return &scm{SCM: s, m: m, system: system}
}

type scm struct {
	release.SCM
	m      *Metrics
	system string
}

var _ release.SCM = (*scm)(nil)

func (s *scm) Commit(ctx context.Context, repo, ref string) (release.Commit, error) {
	c, err := s.SCM.Commit(ctx, repo, ref)
	s.m.countError(s.system, "commit", err)
	return c, err
}

func (s *scm) BranchHead(ctx context.Context, repo, branch string) (string, error) {
	sha, err := s.SCM.BranchHead(ctx, repo, branch)
	s.m.countError(s.system, "branch_head", err)
	return sha, err
}

func (s *scm) Compare(ctx context.Context, repo, branch, sha string) (release.Relation, error) {
	rel, err := s.SCM.Compare(ctx, repo, branch, sha)
	s.m.countError(s.system, "compare", err)
	return rel, err
}

func (s *scm) CreateDeployment(ctx context.Context, repo string, d release.NewDeployment) (int64, error) {
	id, err := s.SCM.CreateDeployment(ctx, repo, d)
	s.m.countError(s.system, "create_deployment", err)
	return id, err
}

func (s *scm) SetDeploymentStatus(ctx context.Context, repo string, id int64, st release.DeploymentStatus) error {
	err := s.SCM.SetDeploymentStatus(ctx, repo, id, st)
	s.m.countError(s.system, "set_deployment_status", err)
	return err
}

func (s *scm) FindPullRequest(ctx context.Context, repo, head, base string) (release.PullRequest, error) {
	pr, err := s.SCM.FindPullRequest(ctx, repo, head, base)
	s.m.countError(s.system, "find_pull_request", err)
	return pr, err
}

func (s *scm) OpenPullRequest(ctx context.Context, repo string, pr release.PullRequest) (release.PullRequest, error) {
	opened, err := s.SCM.OpenPullRequest(ctx, repo, pr)
	s.m.countError(s.system, "open_pull_request", err)
	return opened, err
}

func (s *scm) MergePullRequest(ctx context.Context, repo string, number int, sha string, method release.MergeMethod) (string, error) {
	head, err := s.SCM.MergePullRequest(ctx, repo, number, sha, method)
	s.m.countError(s.system, "merge_pull_request", err)
	return head, err
}

func (s *scm) ClosePullRequest(ctx context.Context, repo string, number int) error {
	err := s.SCM.ClosePullRequest(ctx, repo, number)
	s.m.countError(s.system, "close_pull_request", err)
	return err
}

func (s *scm) FastForward(ctx context.Context, repo, branch, sha string) error {
	err := s.SCM.FastForward(ctx, repo, branch, sha)
	s.m.countError(s.system, "fast_forward", err)
	return err
}

// Cluster returns c with its errors counted under system ("kubernetes").
func (m *Metrics) Cluster(system string, c release.Cluster) release.Cluster {
	return &cluster{Cluster: c, m: m, system: system}
}

type cluster struct {
	release.Cluster
	m      *Metrics
	system string
}

var _ release.Cluster = (*cluster)(nil)

func (c *cluster) EnsureNamespace(ctx context.Context, ns release.Namespace) error {
	err := c.Cluster.EnsureNamespace(ctx, ns)
	c.m.countError(c.system, "ensure_namespace", err)
	return err
}

func (c *cluster) DeleteNamespace(ctx context.Context, name, namespace string) error {
	err := c.Cluster.DeleteNamespace(ctx, name, namespace)
	c.m.countError(c.system, "delete_namespace", err)
	return err
}

func (c *cluster) ListNamespaces(ctx context.Context, name string) ([]release.Namespace, error) {
	nss, err := c.Cluster.ListNamespaces(ctx, name)
	c.m.countError(c.system, "list_namespaces", err)
	return nss, err
}

func (c *cluster) Rollout(ctx context.Context, t release.RolloutTarget, progress func(release.RolloutProgress)) error {
	err := c.Cluster.Rollout(ctx, t, progress)
	c.m.countError(c.system, "rollout", err)
	return err
}
