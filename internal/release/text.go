package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hoistbot/hoist/internal/mrkdwn"
	"github.com/hoistbot/hoist/internal/policy"
)

// Describe says in a few words what a release does, in Slack mrkdwn:
// "deploy `api` `main` → *staging*".
func Describe(r Release) string {
	what := fmt.Sprintf("`%s` %s", r.App, versionText(r))
	switch r.Kind {
	case KindPromote:
		return fmt.Sprintf("promote %s *%s* → *%s*", what, r.FromEnv, r.Env)
	case KindRollback:
		return fmt.Sprintf("roll back *%s* to %s", r.Env, what)
	case KindEnvUp:
		return fmt.Sprintf("bring up *%s* for %s", r.Env, what)
	case KindEnvDown:
		return fmt.Sprintf("take down *%s* for %s", r.Env, what)
	}
	return fmt.Sprintf("deploy %s → *%s*", what, r.Env)
}

// versionText names what a release puts in place: its ref, and the short
// commit SHA once known.
func versionText(r Release) string {
	if r.Commit == "" {
		return "`" + mrkdwn.Escape(r.Ref) + "`"
	}
	return fmt.Sprintf("`%s` (`%s`)", mrkdwn.Escape(r.Ref), ShortSHA(r.Commit))
}

// ShortSHA is the first seven characters of a commit SHA.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// requester names who asked for a release, as a mention, or Hoist itself.
func requester(r Release) string {
	if r.RequestedBy == ActorHoist {
		return "Hoist"
	}
	return "<@" + r.RequestedBy + ">"
}

// StateText is a state as people read it.
func StateText(s State) string { return strings.ReplaceAll(string(s), "_", " ") }

// slackDate renders t so that each reader's Slack shows it in their own
// time zone, with a UTC fallback.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func (s *Service) status(ctx context.Context, app string) (Reply, error) {
	apps := s.policy.AppNames()
	if app != "" {
		if _, err := s.policy.App(app); err != nil {
			return Reply{}, err
		}
		apps = []string{app}
	}
	locks, err := s.store.ListLocks(ctx)
	if err != nil {
		return Reply{}, fmt.Errorf("status: %w", err)
	}
	var b strings.Builder
	now := s.now()
	for _, a := range apps {
		fmt.Fprintf(&b, "*%s*\n", a)
		for _, env := range s.policy.EnvironmentNames() {
			line, err := s.envStatus(ctx, a, env, now)
			if err != nil {
				return Reply{}, fmt.Errorf("status of %s in %s: %w", a, env, err)
			}
			fmt.Fprintf(&b, "• *%s*: %s\n", env, line)
		}
	}
	for _, l := range locks {
		fmt.Fprintf(&b, "🔒 *%s* locked by <@%s> %s", l.Env, l.Owner, policy.Since(l.At, now))
		if l.Reason != "" {
			b.WriteString(": " + mrkdwn.Escape(l.Reason))
		}
		b.WriteString("\n")
	}
	return Reply{Text: strings.TrimSpace(b.String())}, nil
}

// statusShown is how many releases in flight a status line names for one
// environment: a busy test environment can have hundreds.
const statusShown = 5

func (s *Service) envStatus(ctx context.Context, app, env string, now time.Time) (string, error) {
	live, err := s.store.ListReleases(ctx, Filter{App: app, Env: env, States: []State{Succeeded}, Limit: 1})
	if err != nil {
		return "", err
	}
	inFlight := Filter{App: app, Env: env, States: ActiveStates(), OldestFirst: true, Limit: statusShown}
	active, err := s.store.ListReleases(ctx, inFlight)
	if err != nil {
		return "", err
	}
	line := "nothing released yet"
	if len(live) > 0 {
		r := live[0]
		line = fmt.Sprintf("%s by <@%s> %s (#%d)", versionText(r), r.RequestedBy, policy.Since(r.UpdatedAt, now), r.ID)
	}
	for _, r := range active {
		line += fmt.Sprintf(" · #%d %s %s", r.ID, versionText(r), StateText(r.State))
	}
	if len(active) == statusShown {
		n, err := s.store.CountReleases(ctx, inFlight)
		if err != nil {
			return "", err
		}
		if more := n - len(active); more > 0 {
			line += fmt.Sprintf(" · and %d more in flight (`/hoist history %s %s`)", more, app, env)
		}
	}
	return line, nil
}

func (s *Service) history(ctx context.Context, app, env string) (Reply, error) {
	if _, err := s.policy.App(app); err != nil {
		return Reply{}, err
	}
	if env != "" {
		if err := s.policy.CheckEnvironment(env); err != nil {
			return Reply{}, err
		}
	}
	const shown = 10
	rs, err := s.store.ListReleases(ctx, Filter{App: app, Env: env, Limit: shown})
	if err != nil {
		return Reply{}, fmt.Errorf("history: %w", err)
	}
	if len(rs) == 0 {
		return Reply{Text: fmt.Sprintf("`%s` has no releases yet.", app)}, nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Last %s of `%s`", plural(len(rs), "release"), app)
	if env != "" {
		fmt.Fprintf(&b, " in *%s*", env)
	}
	b.WriteString(":\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "• #%d %s — %s, <@%s> %s", r.ID, Describe(r), StateText(r.State), r.RequestedBy, slackDate(r.CreatedAt))
		if r.StateReason != "" {
			b.WriteString(" (" + r.StateReason + ")")
		}
		b.WriteString("\n")
	}
	return Reply{Text: strings.TrimSpace(b.String())}, nil
}

func (s *Service) envList(ctx context.Context, app string) (Reply, error) {
	if app != "" {
		if _, err := s.policy.App(app); err != nil {
			return Reply{}, err
		}
	}
	envs, err := s.store.ListEnvironments(ctx, app)
	if err != nil {
		return Reply{}, fmt.Errorf("env list: %w", err)
	}
	if len(envs) == 0 {
		return Reply{Text: "No test environments. Start one with `/env up APP BRANCH`."}, nil
	}
	now := s.now()
	var b strings.Builder
	for _, e := range envs {
		state := "unknown"
		if r, err := s.store.GetRelease(ctx, e.LastRelease); err == nil {
			state = fmt.Sprintf("#%d %s", r.ID, StateText(r.State))
		} else if !errors.Is(err, ErrNotFound) {
			return Reply{}, fmt.Errorf("env list: %w", err)
		}
		fmt.Fprintf(&b, "• `%s` `%s` — owner <@%s>, up %s, expires %s, last release %s\n",
			e.App, mrkdwn.Escape(e.Branch), e.Owner, strings.TrimSuffix(policy.Since(e.CreatedAt, now), " ago"), slackDate(e.ExpiresAt), state)
	}
	return Reply{Text: strings.TrimSpace(b.String())}, nil
}
