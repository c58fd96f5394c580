package metrics

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/store"
)

// Store returns s timed, each call observed in
// hoist_store_operation_duration_seconds by operation. As every decision
// on a release is a transition in the store, it also counts approval
// outcomes there (hoist_approvals_total): a release leaving
// awaiting_approval approved, denied or expired, and a vote the core
// audits as refused.
func (m *Metrics) Store(s release.Store) release.Store {
	return &timedStore{Store: s, m: m}
}

type timedStore struct {
	release.Store
	m *Metrics
}

var _ release.Store = (*timedStore)(nil)

func (s *timedStore) observe(op string, start time.Time) {
	s.m.storeSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *timedStore) Transition(ctx context.Context, t release.Transition) (release.Release, error) {
	defer s.observe("transition", time.Now())
	r, err := s.Store.Transition(ctx, t)
	if err == nil && t.From == release.AwaitingApproval {
		switch t.To {
		case release.Approved, release.Denied, release.Expired:
			s.m.approvals.WithLabelValues(string(t.To)).Inc()
		}
	}
	return r, err
}

func (s *timedStore) Audit(ctx context.Context, e release.Event) error {
	defer s.observe("audit", time.Now())
	err := s.Store.Audit(ctx, e)
	if err == nil && refusedVote(e) {
		s.m.approvals.WithLabelValues("refused").Inc()
	}
	return err
}

// refusedVote reports whether e audits a vote the core refused: its
// detail starts with the verb, "approve: " or "deny: ".
func refusedVote(e release.Event) bool {
	return e.Action == "refuse" && (strings.HasPrefix(e.Detail, "approve: ") || strings.HasPrefix(e.Detail, "deny: "))
}

func (s *timedStore) CreateRelease(ctx context.Context, r release.Release) (release.Release, error) {
	defer s.observe("create_release", time.Now())
	return s.Store.CreateRelease(ctx, r)
}

func (s *timedStore) GetRelease(ctx context.Context, id release.ID) (release.Release, error) {
	defer s.observe("get_release", time.Now())
	return s.Store.GetRelease(ctx, id)
}

func (s *timedStore) ListReleases(ctx context.Context, f release.Filter) ([]release.Release, error) {
	defer s.observe("list_releases", time.Now())
	return s.Store.ListReleases(ctx, f)
}

func (s *timedStore) CountReleases(ctx context.Context, f release.Filter) (int, error) {
	defer s.observe("count_releases", time.Now())
	return s.Store.CountReleases(ctx, f)
}

func (s *timedStore) SetMessage(ctx context.Context, id release.ID, channel, ts string) error {
	defer s.observe("set_message", time.Now())
	return s.Store.SetMessage(ctx, id, channel, ts)
}

func (s *timedStore) SetCommit(ctx context.Context, id release.ID, c release.Commit, actor string) error {
	defer s.observe("set_commit", time.Now())
	return s.Store.SetCommit(ctx, id, c, actor)
}

func (s *timedStore) GetDeployment(ctx context.Context, id release.ID) (release.DeploymentRecord, error) {
	defer s.observe("get_deployment", time.Now())
	return s.Store.GetDeployment(ctx, id)
}

func (s *timedStore) PutDeployment(ctx context.Context, d release.DeploymentRecord) error {
	defer s.observe("put_deployment", time.Now())
	return s.Store.PutDeployment(ctx, d)
}

func (s *timedStore) PutMessage(ctx context.Context, id release.ID, role string, ref release.MessageRef) error {
	defer s.observe("put_message", time.Now())
	return s.Store.PutMessage(ctx, id, role, ref)
}

func (s *timedStore) Messages(ctx context.Context, id release.ID) (map[string]release.MessageRef, error) {
	defer s.observe("messages", time.Now())
	return s.Store.Messages(ctx, id)
}

func (s *timedStore) GetBuild(ctx context.Context, id release.ID) (release.Build, error) {
	defer s.observe("get_build", time.Now())
	return s.Store.GetBuild(ctx, id)
}

func (s *timedStore) PutBuild(ctx context.Context, b release.Build) error {
	defer s.observe("put_build", time.Now())
	return s.Store.PutBuild(ctx, b)
}

func (s *timedStore) AppendLog(ctx context.Context, id release.ID, offset int64, data []byte, next int64) error {
	defer s.observe("append_log", time.Now())
	return s.Store.AppendLog(ctx, id, offset, data, next)
}

func (s *timedStore) Log(ctx context.Context, id release.ID) ([]byte, error) {
	defer s.observe("log", time.Now())
	return s.Store.Log(ctx, id)
}

func (s *timedStore) AcquireLease(ctx context.Context, id release.ID, owner string, now time.Time, ttl time.Duration) (bool, error) {
	defer s.observe("acquire_lease", time.Now())
	return s.Store.AcquireLease(ctx, id, owner, now, ttl)
}

func (s *timedStore) ReleaseLease(ctx context.Context, id release.ID, owner string) error {
	defer s.observe("release_lease", time.Now())
	return s.Store.ReleaseLease(ctx, id, owner)
}

func (s *timedStore) AddVote(ctx context.Context, v release.Vote) (bool, error) {
	defer s.observe("add_vote", time.Now())
	return s.Store.AddVote(ctx, v)
}

func (s *timedStore) Votes(ctx context.Context, id release.ID) ([]release.Vote, error) {
	defer s.observe("votes", time.Now())
	return s.Store.Votes(ctx, id)
}

func (s *timedStore) Lock(ctx context.Context, l release.Lock) (release.Lock, error) {
	defer s.observe("lock", time.Now())
	return s.Store.Lock(ctx, l)
}

func (s *timedStore) Unlock(ctx context.Context, env, actor string) (release.Lock, error) {
	defer s.observe("unlock", time.Now())
	return s.Store.Unlock(ctx, env, actor)
}

func (s *timedStore) GetLock(ctx context.Context, env string) (release.Lock, error) {
	defer s.observe("get_lock", time.Now())
	return s.Store.GetLock(ctx, env)
}

func (s *timedStore) ListLocks(ctx context.Context) ([]release.Lock, error) {
	defer s.observe("list_locks", time.Now())
	return s.Store.ListLocks(ctx)
}

func (s *timedStore) PutEnvironment(ctx context.Context, e release.Environment, actor string) error {
	defer s.observe("put_environment", time.Now())
	return s.Store.PutEnvironment(ctx, e, actor)
}

func (s *timedStore) GetEnvironment(ctx context.Context, app, branch string) (release.Environment, error) {
	defer s.observe("get_environment", time.Now())
	return s.Store.GetEnvironment(ctx, app, branch)
}

func (s *timedStore) ListEnvironments(ctx context.Context, app string) ([]release.Environment, error) {
	defer s.observe("list_environments", time.Now())
	return s.Store.ListEnvironments(ctx, app)
}

func (s *timedStore) DeleteEnvironment(ctx context.Context, app, branch, actor string) error {
	defer s.observe("delete_environment", time.Now())
	return s.Store.DeleteEnvironment(ctx, app, branch, actor)
}

// ReleaseCounter counts releases by state and environment; the store is one.
type ReleaseCounter interface {
	TallyReleases(ctx context.Context) ([]store.ReleaseCount, error)
}

// scrapeTimeout bounds how long a scrape waits for the store's count.
const scrapeTimeout = 2 * time.Second

// releaseCollector reports hoist_releases from the store at each scrape,
// so that every replica reports the same figure, right after a restart too.
type releaseCollector struct {
	counter ReleaseCounter
	envs    []string
	desc    *prometheus.Desc
}

func newReleaseCollector(c ReleaseCounter, envs []string) *releaseCollector {
	return &releaseCollector{counter: c, envs: envs, desc: prometheus.NewDesc("hoist_releases",
		"Releases in the store, by state and environment.", []string{"state", "env"}, nil)}
}

func (c *releaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *releaseCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	counts, err := c.counter.TallyReleases(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("count releases: %w", err))
		return
	}
	n := map[[2]string]int{}
	for _, env := range c.envs {
		for _, st := range release.AllStates() {
			n[[2]string{string(st), env}] = 0
		}
	}
	for _, rc := range counts {
		n[[2]string{string(rc.State), rc.Env}] += rc.N
	}
	for k, v := range n {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(v), k[0], k[1])
	}
}
