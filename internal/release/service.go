package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hoistbot/hoist/commands"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/mrkdwn"
	"github.com/hoistbot/hoist/internal/policy"
)

// Store is what the release core keeps in the database. Every mutating
// method records its audit event in the same transaction as its change.
type Store interface {
	CreateRelease(ctx context.Context, r Release) (Release, error)
	GetRelease(ctx context.Context, id ID) (Release, error)
	ListReleases(ctx context.Context, f Filter) ([]Release, error)
	// CountReleases counts the releases f selects, ignoring its Limit.
	CountReleases(ctx context.Context, f Filter) (int, error)
	Transition(ctx context.Context, t Transition) (Release, error)
	SetMessage(ctx context.Context, id ID, channel, ts string) error
	SetCommit(ctx context.Context, id ID, c Commit, actor string) error
	GetDeployment(ctx context.Context, id ID) (DeploymentRecord, error)
	PutDeployment(ctx context.Context, d DeploymentRecord) error
	PutMessage(ctx context.Context, id ID, role string, ref MessageRef) error
	Messages(ctx context.Context, id ID) (map[string]MessageRef, error)
	GetBuild(ctx context.Context, id ID) (Build, error)
	PutBuild(ctx context.Context, b Build) error
	AppendLog(ctx context.Context, id ID, offset int64, data []byte, next int64) error
	Log(ctx context.Context, id ID) ([]byte, error)
	AcquireLease(ctx context.Context, id ID, owner string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, id ID, owner string) error
	AddVote(ctx context.Context, v Vote) (bool, error)
	Votes(ctx context.Context, id ID) ([]Vote, error)
	Lock(ctx context.Context, l Lock) (Lock, error)
	Unlock(ctx context.Context, env, actor string) (Lock, error)
	GetLock(ctx context.Context, env string) (Lock, error)
	ListLocks(ctx context.Context) ([]Lock, error)
	PutEnvironment(ctx context.Context, e Environment, actor string) error
	GetEnvironment(ctx context.Context, app, branch string) (Environment, error)
	ListEnvironments(ctx context.Context, app string) ([]Environment, error)
	DeleteEnvironment(ctx context.Context, app, branch, actor string) error
	Audit(ctx context.Context, e Event) error
}

// Request is one verified command from Slack.
type Request struct {
	User        string // Slack user ID from the verified payload
	Channel     string
	ResponseURL string
	Command     commands.Command
}

// Reply is what the requester sees in answer to a command.
type Reply struct {
	Text string
	// Public replies are shown to the whole channel; the rest only to the requester.
	Public bool
}

// Waker is told when a release needs the worker's attention.
type Waker interface {
	Wake(id ID)
}

// Service answers commands on Slack's request path. It only reads and
// writes the store: everything that calls Slack, Jenkins, GitHub or
// Kubernetes happens in the Worker, which Wake tells about new work.
type Service struct {
	store   Store
	policy  *policy.Policy
	waker   Waker
	timeout time.Duration
	envs    map[string]config.Environment
	apps    map[string]config.App
	// notifyChannel is where Hoist speaks on its own account when an app
	// has no channel.
	notifyChannel string
	now           func() time.Time
	logger        *slog.Logger
}

// NewService builds the service. waker may be nil in tests.
func NewService(cfg *config.Config, pol *policy.Policy, store Store, waker Waker, logger *slog.Logger) *Service {
	return &Service{
		store:   store,
		policy:  pol,
		waker:   waker,
		timeout: cfg.Approvals.Timeout,
		envs:    cfg.Environments,
		apps:    cfg.Apps,
		now:     time.Now,
		logger:  logger,

		notifyChannel: cfg.Slack.NotifyChannel,
	}
}

// SetClock replaces the clock, for tests.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Handle runs one command. Refusals come back as a Reply (and are
// audited); the error is for internal failures only.
func (s *Service) Handle(ctx context.Context, req Request) (Reply, error) {
	reply, err := s.dispatch(ctx, req)
	var refusal *policy.Refusal
	if errors.As(err, &refusal) {
		s.audit(ctx, req, "refuse", string(req.Command.Verb)+": "+refusal.Reason)
		return Reply{Text: refusal.Reason}, nil
	}
	if err == nil && readOnly(req.Command.Verb) {
		s.audit(ctx, req, "query", queryText(req.Command))
	}
	return reply, err
}

// readOnly reports whether a verb only reads; the others audit what they
// change as they change it.
func readOnly(v commands.Verb) bool {
	switch v {
	case commands.VerbStatus, commands.VerbHistory, commands.VerbEnvList, commands.VerbHelp:
		return true
	}
	return false
}

func queryText(c commands.Command) string {
	return strings.TrimSpace(strings.Join([]string{string(c.Verb), c.App, c.Env, c.Topic}, " "))
}

func (s *Service) dispatch(ctx context.Context, req Request) (Reply, error) {
	c := req.Command
	switch c.Verb {
	case commands.VerbDeploy:
		return s.deploy(ctx, req)
	case commands.VerbEnvUp:
		return s.envUp(ctx, req)
	case commands.VerbEnvDown:
		return s.envDown(ctx, req)
	case commands.VerbEnvList:
		return s.envList(ctx, c.App)
	case commands.VerbPromote:
		return s.promote(ctx, req)
	case commands.VerbRollback:
		return s.rollback(ctx, req)
	case commands.VerbStatus:
		return s.status(ctx, c.App)
	case commands.VerbHistory:
		return s.history(ctx, c.App, c.Env)
	case commands.VerbLock:
		return s.lock(ctx, req)
	case commands.VerbUnlock:
		return s.unlock(ctx, req)
	case commands.VerbApprove, commands.VerbDeny:
		return s.vote(ctx, req.User, ID(c.ID), c.Verb == commands.VerbApprove, c.Reason)
	case commands.VerbCancel:
		return s.cancel(ctx, req)
	case commands.VerbHelp:
		return Reply{Text: commands.Help(c.Topic)}, nil
	}
	return Reply{}, fmt.Errorf("dispatch %q: no handler", c.Verb)
}

func (s *Service) deploy(ctx context.Context, req Request) (Reply, error) {
	c := req.Command
	if _, err := s.policy.App(c.App); err != nil {
		return Reply{}, err
	}
	env, err := s.policy.DeployTarget(c.Ref, c.Env)
	if err != nil {
		return Reply{}, err
	}
	return s.request(ctx, req, Release{Kind: KindDeploy, App: c.App, Env: env, Ref: c.Ref})
}

func (s *Service) envUp(ctx context.Context, req Request) (Reply, error) {
	c := req.Command
	if _, err := s.policy.App(c.App); err != nil {
		return Reply{}, err
	}
	env, err := s.policy.EphemeralTarget(c.Branch)
	if err != nil {
		return Reply{}, err
	}
	if err := s.checkLock(ctx, env, req.User); err != nil {
		return Reply{}, err
	}
	now := s.now()
	e, err := s.store.GetEnvironment(ctx, c.App, c.Branch)
	switch {
	case errors.Is(err, ErrNotFound):
		e = Environment{App: c.App, Branch: c.Branch, Env: env, Owner: req.User, CreatedAt: now,
			Namespace: s.envs[env].NamespaceFor(c.App, env, c.Branch)}
	case err != nil:
		return Reply{}, fmt.Errorf("env up: %w", err)
	}
	e.ExpiresAt = now.Add(s.envs[env].TTL)
	r, err := s.create(ctx, req, Release{Kind: KindEnvUp, App: c.App, Env: env, Ref: c.Branch})
	if err != nil {
		return Reply{}, err
	}
	e.LastRelease = r.ID
	if err := s.store.PutEnvironment(ctx, e, req.User); err != nil {
		return Reply{}, fmt.Errorf("env up: %w", err)
	}
	return Reply{Text: fmt.Sprintf("%s Namespace `%s`, expires %s.", s.requestedText(r), e.Namespace, slackDate(e.ExpiresAt))}, nil
}

func (s *Service) envDown(ctx context.Context, req Request) (Reply, error) {
	c := req.Command
	if _, err := s.policy.App(c.App); err != nil {
		return Reply{}, err
	}
	e, err := s.store.GetEnvironment(ctx, c.App, c.Branch)
	if errors.Is(err, ErrNotFound) {
		return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("`%s` has no environment for branch `%s`. See `/hoist env list %s`.", c.App, mrkdwn.Escape(c.Branch), c.App)}
	}
	if err != nil {
		return Reply{}, fmt.Errorf("env down: %w", err)
	}
	if e.Owner != req.User {
		admin, err := s.policy.IsAdmin(ctx, req.User)
		if err != nil {
			return Reply{}, fmt.Errorf("env down: %w", err)
		}
		if !admin {
			return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("The environment of `%s` `%s` belongs to <@%s>; only they or an admin can take it down.", c.App, mrkdwn.Escape(c.Branch), e.Owner)}
		}
	}
	return s.request(ctx, req, Release{Kind: KindEnvDown, App: c.App, Env: e.Env, Ref: c.Branch})
}

func (s *Service) promote(ctx context.Context, req Request) (Reply, error) {
	c := req.Command
	if _, err := s.policy.App(c.App); err != nil {
		return Reply{}, err
	}
	from, to, err := s.policy.PromotionPath(c.From, c.To)
	if err != nil {
		return Reply{}, err
	}
	last, err := s.store.ListReleases(ctx, Filter{App: c.App, Env: from, States: []State{Succeeded}, Limit: 1})
	if err != nil {
		return Reply{}, fmt.Errorf("promote: %w", err)
	}
	if len(last) == 0 {
		return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("`%s` has no successful release in *%s* to promote.", c.App, from)}
	}
	src := last[0]
	if src.Commit == "" {
		return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("Release #%d in *%s* has no recorded commit, and a promotion must move that exact commit. Hoist records commits once it is connected to GitHub (`github.token`).", src.ID, from)}
	}
	return s.request(ctx, req, Release{Kind: KindPromote, App: c.App, Env: to, FromEnv: from, Ref: src.Ref,
		Commit: src.Commit, CommitTitle: src.CommitTitle, CommitURL: src.CommitURL})
}

func (s *Service) rollback(ctx context.Context, req Request) (Reply, error) {
	c := req.Command
	if _, err := s.policy.App(c.App); err != nil {
		return Reply{}, err
	}
	if err := s.policy.CheckEnvironment(c.Env); err != nil {
		return Reply{}, err
	}
	done, err := s.store.ListReleases(ctx, Filter{App: c.App, Env: c.Env, States: []State{Succeeded}, Limit: 50})
	if err != nil {
		return Reply{}, fmt.Errorf("rollback: %w", err)
	}
	if len(done) == 0 {
		return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("`%s` has no successful release in *%s* yet.", c.App, c.Env)}
	}
	current := done[0]
	if current.Commit == "" {
		return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("Release #%d in *%s* has no recorded commit, so Hoist cannot tell which earlier version differs. Hoist records commits once it is connected to GitHub (`github.token`).", current.ID, c.Env)}
	}
	for _, prev := range done[1:] {
		if version(prev) != version(current) {
			return s.request(ctx, req, Release{Kind: KindRollback, App: c.App, Env: c.Env, Ref: prev.Ref,
				Commit: prev.Commit, CommitTitle: prev.CommitTitle, CommitURL: prev.CommitURL})
		}
	}
	return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("`%s` has no earlier version in *%s* than %s to roll back to.", c.App, c.Env, versionText(current))}
}

// version identifies what a release put in place: its commit, or its ref
// while the commit is unknown.
func version(r Release) string {
	if r.Commit != "" {
		return r.Commit
	}
	return r.Ref
}

// request checks the target environment's lock and records the release.
func (s *Service) request(ctx context.Context, req Request, r Release) (Reply, error) {
	if err := s.checkLock(ctx, r.Env, req.User); err != nil {
		return Reply{}, err
	}
	created, err := s.create(ctx, req, r)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Text: s.requestedText(created)}, nil
}

func (s *Service) create(ctx context.Context, req Request, r Release) (Release, error) {
	r.Reason = req.Command.Reason
	r.RequestedBy = req.User
	r.Channel = req.Channel
	r.ResponseURL = req.ResponseURL
	if s.policy.NeedsApproval(r.Env) {
		r.ApprovalDeadline = s.now().Add(s.timeout)
	}
	created, err := s.store.CreateRelease(ctx, r)
	if err != nil {
		return Release{}, fmt.Errorf("create release: %w", err)
	}
	s.logger.InfoContext(ctx, "release requested", "release", created.ID, "kind", created.Kind, "app", created.App, "env", created.Env, "user", req.User)
	s.wake(created.ID)
	return created, nil
}

func (s *Service) requestedText(r Release) string {
	text := fmt.Sprintf("Release #%d requested: %s.", r.ID, Describe(r))
	if !r.ApprovalDeadline.IsZero() {
		text += fmt.Sprintf(" *%s* is protected: it needs %s from %s before it builds.", r.Env, plural(s.policy.RequiredApprovals(), "approval"), s.policy.Approvers())
	}
	return text
}

func (s *Service) checkLock(ctx context.Context, env, user string) error {
	l, err := s.store.GetLock(ctx, env)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check lock of %s: %w", env, err)
	}
	return policy.CheckLock(policy.Lock(l), user, s.now())
}

func (s *Service) lock(ctx context.Context, req Request) (Reply, error) {
	c := req.Command
	if err := s.policy.CheckEnvironment(c.Env); err != nil {
		return Reply{}, err
	}
	if err := s.policy.CheckLockRequest(ctx, c.Env, req.User); err != nil {
		return Reply{}, err
	}
	held, err := s.store.Lock(ctx, Lock{Env: c.Env, Owner: req.User, Reason: c.Reason, At: s.now()})
	if errors.Is(err, ErrLocked) {
		return Reply{}, policy.CheckLock(policy.Lock(held), req.User, s.now())
	}
	if err != nil {
		return Reply{}, fmt.Errorf("lock %s: %w", c.Env, err)
	}
	text := fmt.Sprintf("🔒 <@%s> locked *%s*", req.User, c.Env)
	if c.Reason != "" {
		text += ": " + mrkdwn.Escape(c.Reason)
	}
	return Reply{Text: text + ". Deploys there are refused until `/hoist unlock " + c.Env + "`.", Public: true}, nil
}

func (s *Service) unlock(ctx context.Context, req Request) (Reply, error) {
	c := req.Command
	if err := s.policy.CheckEnvironment(c.Env); err != nil {
		return Reply{}, err
	}
	l, err := s.store.GetLock(ctx, c.Env)
	if errors.Is(err, ErrNotFound) {
		return Reply{Text: fmt.Sprintf("*%s* is not locked.", c.Env)}, nil
	}
	if err != nil {
		return Reply{}, fmt.Errorf("unlock %s: %w", c.Env, err)
	}
	if err := s.policy.CheckUnlock(ctx, policy.Lock(l), req.User); err != nil {
		return Reply{}, err
	}
	if _, err := s.store.Unlock(ctx, c.Env, req.User); err != nil && !errors.Is(err, ErrNotFound) {
		return Reply{}, fmt.Errorf("unlock %s: %w", c.Env, err)
	}
	return Reply{Text: fmt.Sprintf("🔓 <@%s> unlocked *%s*.", req.User, c.Env), Public: true}, nil
}

// Vote records an admin's approval or denial of a release awaiting
// approval (a click on its card), and moves the release on when the vote
// decides it. Only the first of any number of concurrent deciding votes
// makes the transition. Refusals come back as a Reply, and are audited.
func (s *Service) Vote(ctx context.Context, user string, id ID, approve bool, reason string) (Reply, error) {
	verb := commands.VerbDeny
	if approve {
		verb = commands.VerbApprove
	}
	return s.Handle(ctx, Request{User: user, Command: commands.Command{Verb: verb, ID: int64(id), Reason: reason}})
}

func (s *Service) vote(ctx context.Context, user string, id ID, approve bool, reason string) (Reply, error) {
	r, err := s.store.GetRelease(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("There is no release #%d.", id)}
	}
	if err != nil {
		return Reply{}, fmt.Errorf("vote on release %d: %w", id, err)
	}
	if r.State != AwaitingApproval {
		return Reply{}, &policy.Refusal{Reason: s.decidedText(ctx, r)}
	}
	if !s.now().Before(r.ApprovalDeadline) {
		s.wake(id) // the worker expires it and says so on the card
		return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("Release #%d expired %s without enough approvals.", r.ID, slackDate(r.ApprovalDeadline))}
	}
	if err := s.policy.CheckVote(ctx, user, r.RequestedBy, r.Env, int64(r.ID)); err != nil {
		return Reply{}, err
	}
	added, err := s.store.AddVote(ctx, Vote{ReleaseID: id, Voter: user, Approve: approve, Reason: reason, At: s.now()})
	if errors.Is(err, ErrConflict) {
		return s.alreadyDecided(ctx, id)
	}
	if err != nil {
		return Reply{}, fmt.Errorf("vote on release %d: %w", id, err)
	}
	if !added {
		return Reply{Text: fmt.Sprintf("You already voted on release #%d; a vote cannot be changed.", id)}, nil
	}
	votes, err := s.store.Votes(ctx, id)
	if err != nil {
		return Reply{}, fmt.Errorf("vote on release %d: %w", id, err)
	}
	approvals, denial := Tally(votes)
	need := s.policy.RequiredApprovals()
	t := Transition{ID: id, From: AwaitingApproval, Actor: user}
	switch {
	case denial != nil:
		t.To, t.Reason = Denied, denialReason(*denial)
	case approvals >= need:
		t.To, t.Reason = Approved, "approved by "+approvers(votes, need)
	default:
		s.wake(id)
		return Reply{Text: fmt.Sprintf("Your approval of release #%d is recorded: %d of %d.", id, approvals, need)}, nil
	}
	_, err = s.store.Transition(ctx, t)
	if errors.Is(err, ErrConflict) {
		return s.alreadyDecided(ctx, id)
	}
	if err != nil {
		return Reply{}, fmt.Errorf("decide release %d: %w", id, err)
	}
	s.wake(id)
	if t.To == Denied {
		return Reply{Text: fmt.Sprintf("Release #%d denied.", id)}, nil
	}
	return Reply{Text: fmt.Sprintf("Release #%d approved.", id)}, nil
}

// alreadyDecided answers a vote that lost the race to another decision.
func (s *Service) alreadyDecided(ctx context.Context, id ID) (Reply, error) {
	r, err := s.store.GetRelease(ctx, id)
	if err != nil {
		return Reply{}, fmt.Errorf("vote on release %d: %w", id, err)
	}
	return Reply{Text: s.decidedText(ctx, r)}, nil
}

// decidedText explains why a release no longer takes votes.
func (s *Service) decidedText(ctx context.Context, r Release) string {
	switch r.State {
	case Requested:
		return fmt.Sprintf("Release #%d is not ready for votes yet; try again in a moment.", r.ID)
	case Expired:
		return fmt.Sprintf("Release #%d expired %s without enough approvals.", r.ID, slackDate(r.UpdatedAt))
	case Cancelled:
		return fmt.Sprintf("Release #%d was cancelled %s.", r.ID, slackDate(r.UpdatedAt))
	}
	votes, err := s.store.Votes(ctx, r.ID)
	if err != nil {
		s.logger.WarnContext(ctx, "list votes", "release", r.ID, "err", err)
	}
	if r.State == Denied {
		if _, d := Tally(votes); d != nil {
			return fmt.Sprintf("Release #%d was already denied by <@%s> %s.", r.ID, d.Voter, slackDate(d.At))
		}
		return fmt.Sprintf("Release #%d was already denied.", r.ID)
	}
	if r.ApprovalDeadline.IsZero() {
		return fmt.Sprintf("Release #%d needs no approval; it is %s.", r.ID, StateText(r.State))
	}
	if n, _ := Tally(votes); n == 0 {
		return fmt.Sprintf("Release #%d already ended: it is %s.", r.ID, StateText(r.State))
	}
	return fmt.Sprintf("Release #%d was already approved by %s; it is %s.", r.ID, approvers(votes, s.policy.RequiredApprovals()), StateText(r.State))
}

func denialReason(v Vote) string {
	text := "denied by <@" + v.Voter + ">"
	if v.Reason != "" {
		text += ": " + mrkdwn.Escape(v.Reason)
	}
	return text
}

// approvers names the first need distinct admins who approved, and when
// the last of them did.
func approvers(votes []Vote, need int) string {
	var who []string
	var at time.Time
	seen := map[string]bool{}
	for _, v := range votes {
		if v.Approve && !seen[v.Voter] && len(who) < need {
			seen[v.Voter] = true
			who = append(who, "<@"+v.Voter+">")
			at = v.At
		}
	}
	if len(who) == 0 {
		return "no one"
	}
	return strings.Join(who, ", ") + " " + slackDate(at)
}

func (s *Service) cancel(ctx context.Context, req Request) (Reply, error) {
	id := ID(req.Command.ID)
	r, err := s.store.GetRelease(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("There is no release #%d.", id)}
	}
	if err != nil {
		return Reply{}, fmt.Errorf("cancel release %d: %w", id, err)
	}
	if r.RequestedBy != req.User {
		admin, err := s.policy.IsAdmin(ctx, req.User)
		if err != nil {
			return Reply{}, fmt.Errorf("cancel release %d: %w", id, err)
		}
		if !admin {
			return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("Release #%d was requested by <@%s>; only they or an admin can cancel it.", id, r.RequestedBy)}
		}
	}
	for !r.State.Terminal() {
		_, err = s.store.Transition(ctx, Transition{ID: id, From: r.State, To: Cancelled, Actor: req.User, Reason: "cancelled by <@" + req.User + ">"})
		if err == nil {
			s.wake(id)
			return Reply{Text: fmt.Sprintf("Release #%d cancelled.", id)}, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Reply{}, fmt.Errorf("cancel release %d: %w", id, err)
		}
		if r, err = s.store.GetRelease(ctx, id); err != nil {
			return Reply{}, fmt.Errorf("cancel release %d: %w", id, err)
		}
	}
	return Reply{}, &policy.Refusal{Reason: fmt.Sprintf("Release #%d already ended: it is %s.", id, StateText(r.State))}
}

// audit records a request that changed nothing: a refusal or a query.
func (s *Service) audit(ctx context.Context, req Request, action, detail string) {
	err := s.store.Audit(ctx, Event{At: s.now(), Actor: req.User, Action: action, ReleaseID: ID(req.Command.ID), Env: req.Command.Env, Detail: detail})
	if err != nil {
		s.logger.ErrorContext(ctx, "audit request", "action", action, "err", err)
	}
}

func (s *Service) wake(id ID) {
	if s.waker != nil {
		s.waker.Wake(id)
	}
}
