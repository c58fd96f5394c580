// Package policy decides who may do what, where: which environment a branch
// deploys to, which environments need approval, who is an admin, whether a
// vote counts, and how a lock refuses a deploy.
package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/mrkdwn"
)

// Refusal is a decision against a request, written for the person who made
// it. Its text is safe to show in Slack.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

func refuse(format string, args ...any) error {
	return &Refusal{Reason: fmt.Sprintf(format, args...)}
}

// GroupMembers tells whether a user belongs to a Slack user group.
type GroupMembers interface {
	IsMember(ctx context.Context, groupID, user string) (bool, error)
}

// Policy holds the rules read from configuration.
type Policy struct {
	envs    map[string]config.Environment
	apps    map[string]config.App
	rbac    config.RBAC
	groups  GroupMembers
	mapping []branchRule
}

type branchRule struct {
	pattern string
	env     string
}

// New builds the policy from a validated configuration. groups may be nil
// when no admin groups are configured.
func New(cfg *config.Config, groups GroupMembers) *Policy {
	p := &Policy{envs: cfg.Environments, apps: cfg.Apps, rbac: cfg.RBAC, groups: groups}
	for name, env := range cfg.Environments {
		p.mapping = append(p.mapping, branchRule{pattern: env.Branch, env: name})
	}
	sort.Slice(p.mapping, func(i, j int) bool {
		a, b := p.mapping[i], p.mapping[j]
		if ra, rb := ruleRank(a.pattern), ruleRank(b.pattern); ra != rb {
			return ra < rb
		}
		if len(a.pattern) != len(b.pattern) {
			return len(a.pattern) > len(b.pattern)
		}
		return a.env < b.env
	})
	return p
}

// ruleRank orders branch rules: exact names first, then globs, "*" last.
func ruleRank(pattern string) int {
	switch {
	case pattern == "*":
		return 2
	case strings.ContainsAny(pattern, "*?["):
		return 1
	}
	return 0
}

// EnvironmentFor returns the environment a branch deploys to. Globs match
// like path.Match ("hotfix/*" matches one level); "*" alone matches every branch.
func (p *Policy) EnvironmentFor(branch string) (string, bool) {
	for _, r := range p.mapping {
		if r.pattern == branch || r.pattern == "*" {
			return r.env, true
		}
		if ruleRank(r.pattern) > 0 {
			if ok, err := path.Match(r.pattern, branch); err == nil && ok {
				return r.env, true
			}
		}
	}
	return "", false
}

// Environment returns an environment's configuration.
func (p *Policy) Environment(name string) (config.Environment, bool) {
	e, ok := p.envs[name]
	return e, ok
}

// App returns an app's configuration, or a refusal naming the known apps.
func (p *Policy) App(name string) (config.App, error) {
	if a, ok := p.apps[name]; ok {
		return a, nil
	}
	return config.App{}, refuse("Unknown app `%s`. Known apps: %s.", name, listNames(p.apps))
}

// AppNames lists the configured apps, sorted.
func (p *Policy) AppNames() []string { return slices.Sorted(maps.Keys(p.apps)) }

// EnvironmentNames lists the configured environments, sorted.
func (p *Policy) EnvironmentNames() []string { return slices.Sorted(maps.Keys(p.envs)) }

// CheckEnvironment refuses a name that is not a configured environment,
// naming the known ones.
func (p *Policy) CheckEnvironment(name string) error {
	if _, ok := p.envs[name]; ok {
		return nil
	}
	return refuse("Unknown environment `%s`. Known environments: %s.", name, listNames(p.envs))
}

// DeployTarget decides where a deploy of ref goes. An explicit target that
// contradicts the branch mapping is refused with both sides of the rule.
func (p *Policy) DeployTarget(ref, target string) (string, error) {
	mapped, ok := p.EnvironmentFor(ref)
	if target == "" {
		if !ok {
			return "", refuse("`%s` maps to no environment; add `to ENV` or check the branch name.", mrkdwn.Escape(ref))
		}
		return mapped, nil
	}
	if err := p.CheckEnvironment(target); err != nil {
		return "", err
	}
	if ok && mapped == target {
		return target, nil
	}
	from := p.envs[target].Branch
	fromText := "branch `" + from + "`"
	if from == "*" {
		fromText = "any branch without an environment of its own"
	}
	if !ok {
		return "", refuse("`%s` maps to no environment; *%s* deploys from %s.", mrkdwn.Escape(ref), target, fromText)
	}
	return "", refuse("`%s` deploys to *%s*; *%s* deploys from %s.", mrkdwn.Escape(ref), mapped, target, fromText)
}

// EphemeralTarget decides which ephemeral environment a branch gets from
// `env up`, refusing branches that belong to a long-lived environment.
func (p *Policy) EphemeralTarget(branch string) (string, error) {
	env, ok := p.EnvironmentFor(branch)
	if !ok {
		return "", refuse("`%s` maps to no environment.", mrkdwn.Escape(branch))
	}
	if !p.envs[env].Ephemeral {
		return "", refuse("`%s` deploys to *%s*, which is not an ephemeral environment; use `/deploy` instead.", mrkdwn.Escape(branch), env)
	}
	return env, nil
}

// PromotionPath fills in the defaults of `promote APP [FROM [to TO]]`: FROM
// is the environment that promotes somewhere, TO is where FROM promotes to.
func (p *Policy) PromotionPath(from, to string) (string, string, error) {
	if from == "" {
		var sources []string
		for name, e := range p.envs {
			if e.PromotesTo != "" {
				sources = append(sources, name)
			}
		}
		sort.Strings(sources)
		switch len(sources) {
		case 0:
			return "", "", refuse("No environment promotes anywhere; say which: `promote APP FROM to TO`.")
		case 1:
			from = sources[0]
		default:
			return "", "", refuse("Several environments promote (%s); say which: `promote APP FROM`.", strings.Join(sources, ", "))
		}
	}
	if err := p.CheckEnvironment(from); err != nil {
		return "", "", err
	}
	if to == "" {
		to = p.envs[from].PromotesTo
		if to == "" {
			return "", "", refuse("*%s* promotes nowhere; say where: `promote APP %s to TO`.", from, from)
		}
	}
	if err := p.CheckEnvironment(to); err != nil {
		return "", "", err
	}
	if from == to {
		return "", "", refuse("Cannot promote *%s* to itself.", from)
	}
	return from, to, nil
}

// NeedsApproval reports whether releases to env need an admin's approval.
func (p *Policy) NeedsApproval(env string) bool { return p.envs[env].Protected }

// RequiredApprovals is how many distinct admins must approve.
func (p *Policy) RequiredApprovals() int { return max(1, p.rbac.RequiredApprovals) }

// IsAdmin reports whether user is an admin: listed in rbac.admins or a
// member of a group in rbac.admin_groups.
func (p *Policy) IsAdmin(ctx context.Context, user string) (bool, error) {
	if slices.Contains(p.rbac.Admins, user) {
		return true, nil
	}
	if p.groups == nil {
		return false, nil
	}
	// One unreadable group must not hide admins of the others: the error
	// counts only when no group says yes.
	var errs []error
	for _, g := range p.rbac.AdminGroups {
		member, err := p.groups.IsMember(ctx, g, user)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if member {
			return true, nil
		}
	}
	if len(errs) > 0 {
		return false, fmt.Errorf("check admin groups: %w", errors.Join(errs...))
	}
	return false, nil
}

// Approvers describes who may approve, for refusals shown to non-admins.
func (p *Policy) Approvers() string {
	var who []string
	for _, u := range p.rbac.Admins {
		who = append(who, "<@"+u+">")
	}
	for _, g := range p.rbac.AdminGroups {
		who = append(who, "members of user group `"+g+"`")
	}
	if len(who) == 0 {
		return "no one (configure `rbac.admins` or `rbac.admin_groups`)"
	}
	return strings.Join(who, ", ")
}

// CheckVote decides whether user may vote on release id, which requester
// asked for in env. It returns a refusal for non-admins and, unless
// self-approval is allowed, for the requester.
func (p *Policy) CheckVote(ctx context.Context, user, requester, env string, id int64) error {
	admin, err := p.IsAdmin(ctx, user)
	if err != nil {
		return err
	}
	if !admin {
		return refuse("Only admins can approve or deny releases to *%s*: %s.", env, p.Approvers())
	}
	if user == requester && !p.rbac.AllowSelfApproval {
		return refuse("You requested release #%d, so another admin must approve it.", id)
	}
	return nil
}

// Lock is who holds an environment, since when and why.
type Lock struct {
	Env    string
	Owner  string
	Reason string
	At     time.Time
}

// CheckLock refuses a change to a locked environment unless the lock is the
// requester's own, saying who locked it, when and why.
func CheckLock(l Lock, user string, now time.Time) error {
	if l.Env == "" || l.Owner == user {
		return nil
	}
	msg := fmt.Sprintf("*%s* is locked by <@%s> since %s", l.Env, l.Owner, Since(l.At, now))
	if l.Reason != "" {
		msg += ": " + mrkdwn.Escape(l.Reason)
	}
	return refuse("%s. Ask them, or an admin, to `/hoist unlock %s`.", msg, l.Env)
}

// CheckUnlock allows the lock's owner and admins to unlock.
func (p *Policy) CheckUnlock(ctx context.Context, l Lock, user string) error {
	if l.Owner == user {
		return nil
	}
	admin, err := p.IsAdmin(ctx, user)
	if err != nil {
		return err
	}
	if !admin {
		return refuse("*%s* is locked by <@%s>; only they or an admin can unlock it.", l.Env, l.Owner)
	}
	return nil
}

// CheckLockRequest allows anyone to lock an unprotected environment and
// admins to lock a protected one.
func (p *Policy) CheckLockRequest(ctx context.Context, env, user string) error {
	if !p.envs[env].Protected {
		return nil
	}
	admin, err := p.IsAdmin(ctx, user)
	if err != nil {
		return err
	}
	if !admin {
		return refuse("*%s* is protected: only admins can lock it (%s).", env, p.Approvers())
	}
	return nil
}

// Since renders how long ago t was, for people ("5m ago", "2h ago").
func Since(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func listNames[V any](m map[string]V) string {
	keys := slices.Sorted(maps.Keys(m))
	for i, k := range keys {
		keys[i] = "`" + k + "`"
	}
	if len(keys) == 0 {
		return "none configured"
	}
	return strings.Join(keys, ", ")
}
