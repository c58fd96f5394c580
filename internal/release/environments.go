package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hoistbot/hoist/internal/config"
)

// ensureNamespace creates, or refreshes, the namespace of the ephemeral
// environment an env_up release brings up, before its pipeline deploys
// there. It reports done when it has moved the release on (failed) or the
// release must wait (the cluster is unreachable for now).
func (w *Worker) ensureNamespace(ctx context.Context, r Release) (next Release, done bool, err error) {
	cluster := w.envs[r.Env].Cluster
	if cluster == "" || w.ports.Cluster == nil {
		return r, false, nil
	}
	e, err := w.store.GetEnvironment(ctx, r.App, r.Ref)
	if errors.Is(err, ErrNotFound) {
		next, err = w.move(ctx, r, Failed, "the environment was taken down before it came up")
		return next, true, err
	}
	if err != nil {
		return r, true, fmt.Errorf("load environment: %w", err)
	}
	ns := Namespace{Cluster: cluster, Name: e.Namespace, App: r.App, Branch: config.Slug(r.Ref), Owner: e.Owner, ExpiresAt: e.ExpiresAt, Release: r.ID}
	err = w.ports.Cluster.EnsureNamespace(ctx, ns)
	switch {
	case err == nil:
		return r, false, nil
	case ctx.Err() != nil:
		return r, true, ctx.Err()
	case errors.Is(err, ErrNotManaged):
		if err := w.store.DeleteEnvironment(ctx, r.App, r.Ref, ActorHoist); err != nil && !errors.Is(err, ErrNotFound) {
			return r, true, fmt.Errorf("forget environment: %w", err)
		}
		next, err = w.move(ctx, r, Failed, fmt.Sprintf("namespace `%s` already exists in cluster %s and Hoist did not create it, so Hoist leaves it alone: ask its owner, or use another branch name", e.Namespace, cluster))
		return next, true, err
	case errors.Is(err, ErrUnavailable):
		w.logger.WarnContext(ctx, "create namespace later", "release", r.ID, "err", err)
		w.wakeAt(r.ID, w.now().Add(rolloutRetry))
		return r, true, nil
	}
	next, err = w.move(ctx, r, Failed, "create namespace: "+err.Error())
	return next, true, err
}

// teardown deletes an ephemeral environment's namespace, when Hoist
// manages it, and forgets the environment.
func (w *Worker) teardown(ctx context.Context, r Release) (Release, error) {
	e, err := w.store.GetEnvironment(ctx, r.App, r.Ref)
	if errors.Is(err, ErrNotFound) {
		return w.move(ctx, r, Succeeded, "the environment was already gone")
	}
	if err != nil {
		return r, fmt.Errorf("load environment: %w", err)
	}
	cluster := w.envs[e.Env].Cluster
	reason := ""
	switch {
	case cluster == "":
	case w.ports.Cluster == nil:
		reason = fmt.Sprintf("environment forgotten; namespace `%s` was not deleted: Hoist has no connection to cluster %s", e.Namespace, cluster)
	default:
		err := w.ports.Cluster.DeleteNamespace(ctx, cluster, e.Namespace)
		switch {
		case err == nil:
			reason = fmt.Sprintf("namespace `%s` deleted", e.Namespace)
		case errors.Is(err, ErrNoCluster):
			reason = fmt.Sprintf("environment forgotten; namespace `%s` was not deleted: %v", e.Namespace, err)
		case ctx.Err() != nil:
			return r, ctx.Err()
		case errors.Is(err, ErrNotManaged):
			if err := w.store.DeleteEnvironment(ctx, r.App, r.Ref, ActorHoist); err != nil && !errors.Is(err, ErrNotFound) {
				return r, fmt.Errorf("forget environment: %w", err)
			}
			return w.move(ctx, r, Failed, fmt.Sprintf("namespace `%s` in cluster %s was not created by Hoist (it lacks the label %s=hoist), so Hoist did not delete it; the environment is forgotten", e.Namespace, cluster, ManagedByLabel))
		case errors.Is(err, ErrUnavailable):
			w.logger.WarnContext(ctx, "delete namespace later", "release", r.ID, "err", err)
			w.wakeAt(r.ID, w.now().Add(rolloutRetry))
			return r, nil
		default:
			return w.move(ctx, r, Failed, "delete namespace: "+err.Error())
		}
	}
	if err := w.store.DeleteEnvironment(ctx, r.App, r.Ref, ActorHoist); err != nil && !errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("forget environment: %w", err)
	}
	return w.move(ctx, r, Succeeded, reason)
}

// ManagedByLabel is the label that marks the namespaces Hoist created, with
// the value "hoist". Hoist changes and deletes no other namespace.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// RetireEnvironment takes an ephemeral environment down on Hoist's own
// account (expiry, the branch deleted), as `env down` would: it requests an
// env_down release, or returns the one already under way. The error wraps
// ErrNotFound when the app has no environment for the branch.
func (s *Service) RetireEnvironment(ctx context.Context, app, branch, reason string) (Release, error) {
	e, err := s.store.GetEnvironment(ctx, app, branch)
	if err != nil {
		return Release{}, fmt.Errorf("retire environment of %s %s: %w", app, branch, err)
	}
	active, err := s.store.ListReleases(ctx, Filter{App: app, Env: e.Env, States: ActiveStates()})
	if err != nil {
		return Release{}, fmt.Errorf("retire environment of %s %s: %w", app, branch, err)
	}
	for _, r := range active {
		if r.Kind == KindEnvDown && r.Ref == branch {
			return r, nil
		}
	}
	r := Release{Kind: KindEnvDown, App: app, Env: e.Env, Ref: branch, Reason: reason, RequestedBy: ActorHoist,
		Channel: s.channelFor(ctx, app, e)}
	created, err := s.store.CreateRelease(ctx, r)
	if err != nil {
		return Release{}, fmt.Errorf("retire environment of %s %s: %w", app, branch, err)
	}
	s.logger.InfoContext(ctx, "environment retired", "release", created.ID, "app", app, "branch", branch, "reason", reason)
	s.wake(created.ID)
	return created, nil
}

// channelFor is where Hoist speaks of an app's environment on its own
// account: the app's channel, the notify channel, or else the channel where
// the environment was last brought up.
func (s *Service) channelFor(ctx context.Context, app string, e Environment) string {
	if ch := s.apps[app].Channel; ch != "" {
		return ch
	}
	if s.notifyChannel != "" {
		return s.notifyChannel
	}
	if r, err := s.store.GetRelease(ctx, e.LastRelease); err == nil {
		return r.Channel
	}
	return ""
}

// Retirer takes environments down on Hoist's own account.
type Retirer interface {
	RetireEnvironment(ctx context.Context, app, branch, reason string) (Release, error)
}

// Reaper takes down ephemeral environments whose time is up: those Hoist
// tracks, through an env_down release each, and managed namespaces past
// their expiry that Hoist no longer tracks, directly.
type Reaper struct {
	store    Store
	retirer  Retirer
	cluster  Cluster
	chat     Chat
	envs     map[string]config.Environment
	apps     map[string]config.App
	notify   string
	interval time.Duration
	leading  func() bool
	now      func() time.Time
	logger   *slog.Logger
}

// DefaultReapInterval is how often the reaper looks for expired
// environments.
const DefaultReapInterval = time.Minute

// ReaperOptions tune a Reaper.
type ReaperOptions struct {
	// Interval is how often it looks (default DefaultReapInterval).
	Interval time.Duration
	// Leading reports whether this replica runs the background duties;
	// the reaper does nothing while it is false (nil: always).
	Leading func() bool
}

// NewReaper builds a reaper; cluster may be nil (then only tracked
// environments are reaped, and their namespaces are left as teardown says).
func NewReaper(cfg *config.Config, store Store, retirer Retirer, cluster Cluster, chat Chat, opts ReaperOptions, logger *slog.Logger) *Reaper {
	if opts.Interval <= 0 {
		opts.Interval = DefaultReapInterval
	}
	if opts.Leading == nil {
		opts.Leading = func() bool { return true }
	}
	return &Reaper{store: store, retirer: retirer, cluster: cluster, chat: chat, envs: cfg.Environments, apps: cfg.Apps,
		notify: cfg.Slack.NotifyChannel, interval: opts.Interval, leading: opts.Leading, now: time.Now, logger: logger}
}

// SetClock replaces the clock, for tests.
func (p *Reaper) SetClock(now func() time.Time) { p.now = now }

// Run reaps at start and then every interval until ctx ends, while this
// replica leads.
func (p *Reaper) Run(ctx context.Context) error {
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	for {
		if p.leading() {
			p.Reap(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// Reap takes down every environment that has expired by now.
func (p *Reaper) Reap(ctx context.Context) {
	now := p.now()
	tracked, err := p.store.ListEnvironments(ctx, "")
	if err != nil {
		p.logger.ErrorContext(ctx, "list environments to reap", "err", err)
		return
	}
	known := map[string]bool{}
	for _, e := range tracked {
		known[p.envs[e.Env].Cluster+"/"+e.Namespace] = true
		if now.Before(e.ExpiresAt) {
			continue
		}
		reason := "expired " + slackDate(e.ExpiresAt)
		if _, err := p.retirer.RetireEnvironment(ctx, e.App, e.Branch, reason); err != nil && !errors.Is(err, ErrNotFound) {
			p.logger.ErrorContext(ctx, "retire expired environment", "app", e.App, "branch", e.Branch, "err", err)
		}
	}
	if p.cluster != nil {
		p.reapUntracked(ctx, now, known)
	}
}

// reapUntracked deletes managed namespaces past their expiry that no
// tracked environment names (left by a lost database, say).
func (p *Reaper) reapUntracked(ctx context.Context, now time.Time, known map[string]bool) {
	clusters := map[string]bool{}
	for _, e := range p.envs {
		if e.Ephemeral && e.Cluster != "" {
			clusters[e.Cluster] = true
		}
	}
	for cluster := range clusters {
		namespaces, err := p.cluster.ListNamespaces(ctx, cluster)
		if err != nil {
			p.logger.WarnContext(ctx, "list managed namespaces", "cluster", cluster, "err", err)
			continue
		}
		for _, ns := range namespaces {
			if known[cluster+"/"+ns.Name] || ns.ExpiresAt.IsZero() || now.Before(ns.ExpiresAt) {
				continue
			}
			if err := p.cluster.DeleteNamespace(ctx, cluster, ns.Name); err != nil {
				p.logger.WarnContext(ctx, "delete expired namespace", "cluster", cluster, "namespace", ns.Name, "err", err)
				continue
			}
			p.logger.InfoContext(ctx, "expired namespace deleted", "cluster", cluster, "namespace", ns.Name)
			detail := fmt.Sprintf("deleted namespace %s in cluster %s (%s, branch %s): expired %s, tracked by no environment",
				ns.Name, cluster, ns.App, ns.Branch, ns.ExpiresAt.UTC().Format(time.RFC3339))
			if err := p.store.Audit(ctx, Event{At: now, Actor: ActorHoist, Action: "reap", Detail: detail}); err != nil {
				p.logger.ErrorContext(ctx, "audit deleted namespace", "namespace", ns.Name, "err", err)
			}
			p.noticeUntracked(ctx, cluster, ns)
		}
	}
}

func (p *Reaper) noticeUntracked(ctx context.Context, cluster string, ns Namespace) {
	channel := p.apps[ns.App].Channel
	if channel == "" {
		channel = p.notify
	}
	if channel == "" {
		return
	}
	text := fmt.Sprintf("🧹 Deleted namespace `%s` in cluster %s (`%s`, branch `%s`): it expired %s and no environment of Hoist's records names it any more.",
		ns.Name, cluster, ns.App, ns.Branch, slackDate(ns.ExpiresAt))
	if err := p.chat.Announce(ctx, channel, text, MessageRef{}); err != nil {
		p.logger.WarnContext(ctx, "announce deleted namespace", "namespace", ns.Name, "err", err)
	}
}
