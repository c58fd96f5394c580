package bot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/sync/singleflight"

	"github.com/hoistbot/hoist/internal/policy"
)

// UserGroupAPI lists the slack-go call UserGroups makes; *slack.Client is one.
type UserGroupAPI interface {
	GetUserGroupMembersContext(ctx context.Context, userGroup string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

var (
	_ UserGroupAPI        = (*slack.Client)(nil)
	_ policy.GroupMembers = (*UserGroups)(nil)
)

// Defaults of a UserGroups.
const (
	// DefaultGroupTTL is how long a group's members are trusted without
	// asking Slack again.
	DefaultGroupTTL = 5 * time.Minute
	// DefaultGroupMinRefresh is the least time between two calls for the
	// same group that a miss (a user not in the cached members) may cause.
	DefaultGroupMinRefresh = 10 * time.Second
	// groupFetchTimeout bounds one usergroups.users.list call. The call is
	// shared by every caller waiting for it, so it does not end with the
	// context of the caller that started it.
	groupFetchTimeout = 15 * time.Second
)

// ErrNoUserGroups means that Hoist cannot read Slack user groups at all: the
// workspace's plan has none, the Slack app lacks the usergroups:read scope,
// or the token is of a kind usergroups.users.list refuses. Errors wrapping
// it say which, and what the operator should do.
var ErrNoUserGroups = errors.New("hoist cannot read Slack user groups")

// UserGroups tells who belongs to a Slack user group, over
// usergroups.users.list. It is the policy.GroupMembers port, and also
// answers IsMember.
//
// A group's members are cached for a TTL (DefaultGroupTTL), so that admin
// checks cost no Slack call; removing someone from a group takes effect
// within the TTL. Adding someone takes effect sooner through IsMember,
// which asks Slack again when the cached members lack the user, at most
// once per group per minimum refresh interval (DefaultGroupMinRefresh), so
// that a flood of clicks by non-admins cannot hammer Slack. Concurrent
// lookups of a group that need Slack share one call.
//
// When Slack rate-limits the method, lookups that need Slack fail at once
// with an error wrapping *slack.RateLimitedError, without calling Slack,
// until Slack's Retry-After has passed; nothing sleeps on the request path.
// Errors never carry the token. A UserGroups is safe for concurrent use.
type UserGroups struct {
	api        UserGroupAPI
	ttl        time.Duration
	minRefresh time.Duration
	now        func() time.Time
	flight     singleflight.Group

	mu      sync.Mutex
	groups  map[string]*groupEntry
	tried   map[string]time.Time // when the last call for a group started
	retryAt time.Time            // no calls before this, after a rate limit
}

// groupEntry is one group's members as Slack listed them. It is never
// changed once stored.
type groupEntry struct {
	members []string
	set     map[string]struct{}
	fetched time.Time // when the call that listed them started
}

func (e *groupEntry) has(user string) bool {
	_, ok := e.set[user]
	return ok
}

// UserGroupsOption configures a UserGroups.
type UserGroupsOption func(*UserGroups)

// WithGroupTTL sets how long a group's members are cached. The default is
// DefaultGroupTTL; zero or less caches nothing, so every lookup asks Slack
// (concurrent lookups still share a call).
func WithGroupTTL(d time.Duration) UserGroupsOption {
	return func(g *UserGroups) { g.ttl = max(d, 0) }
}

// WithMinRefresh sets the least time between two calls for the same group
// that IsMember makes when the cached members lack a user. The default is
// DefaultGroupMinRefresh; zero or less lets every such miss ask Slack.
func WithMinRefresh(d time.Duration) UserGroupsOption {
	return func(g *UserGroups) { g.minRefresh = max(d, 0) }
}

// WithGroupsClock sets the clock the cache and rate limits are timed with.
// The default is time.Now.
func WithGroupsClock(now func() time.Time) UserGroupsOption {
	return func(g *UserGroups) { g.now = now }
}

// NewUserGroups returns a UserGroups that asks Slack through api.
func NewUserGroups(api UserGroupAPI, opts ...UserGroupsOption) *UserGroups {
	g := &UserGroups{
		api:        api,
		ttl:        DefaultGroupTTL,
		minRefresh: DefaultGroupMinRefresh,
		now:        time.Now,
		groups:     make(map[string]*groupEntry),
		tried:      make(map[string]time.Time),
	}
	for _, opt := range opts {
		opt(g)
	}
	return g
}

// GroupMembers returns the user IDs of group groupID's members: the cached
// ones while they are fresh, else Slack's current list. The caller may
// change the slice.
func (g *UserGroups) GroupMembers(ctx context.Context, groupID string) ([]string, error) {
	g.mu.Lock()
	e := g.freshLocked(groupID, g.now())
	g.mu.Unlock()
	if e == nil {
		var err error
		if e, err = g.fetch(ctx, groupID); err != nil {
			return nil, err
		}
	}
	return slices.Clone(e.members), nil
}

// IsMember reports whether user belongs to group groupID. A fresh cached
// list that has the user answers at once. One that lacks the user is
// checked with Slack again, unless the group was asked for less than the
// minimum refresh interval ago, so that someone just added to the group is
// not refused for the rest of the TTL.
func (g *UserGroups) IsMember(ctx context.Context, groupID, user string) (bool, error) {
	now := g.now()
	g.mu.Lock()
	e := g.freshLocked(groupID, now)
	if e != nil && (e.has(user) || now.Sub(g.tried[groupID]) < g.minRefresh) {
		g.mu.Unlock()
		return e.has(user), nil
	}
	g.mu.Unlock()
	e, err := g.fetch(ctx, groupID)
	if err != nil {
		return false, err
	}
	return e.has(user), nil
}

// Check asks Slack once for each group in groupIDs (for start-up and
// `hoist config validate`), filling the cache, and returns the problems
// found, joined, each saying what to do. When user groups are unavailable
// altogether (ErrNoUserGroups) it reports that once, naming every group,
// and asks no further.
func (g *UserGroups) Check(ctx context.Context, groupIDs []string) error {
	var ids []string
	for _, id := range groupIDs {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	var errs []error
	for _, id := range ids {
		_, err := g.fetch(ctx, id)
		switch {
		case err == nil:
		case errors.Is(err, ErrNoUserGroups):
			return errors.Join(append(errs, fmt.Errorf("rbac.admin_groups (%s): %w", strings.Join(ids, ", "), err))...)
		case ctx.Err() != nil:
			return errors.Join(append(errs, fmt.Errorf("rbac.admin_groups: %w", err))...)
		default:
			errs = append(errs, fmt.Errorf("rbac.admin_groups: %w", err))
		}
	}
	return errors.Join(errs...)
}

// freshLocked returns the cached members of group id if they are younger
// than the TTL, else nil. g.mu must be held.
func (g *UserGroups) freshLocked(id string, now time.Time) *groupEntry {
	e := g.groups[id]
	if e == nil || now.Sub(e.fetched) >= g.ttl {
		return nil
	}
	return e
}

// fetch asks Slack for group id's members, sharing the call with every
// concurrent fetch of the same group. The call runs without ctx's
// cancellation (bounded by groupFetchTimeout), so that a caller giving up
// does not fail the others; the caller stops waiting when ctx ends.
func (g *UserGroups) fetch(ctx context.Context, id string) (*groupEntry, error) {
	ch := g.flight.DoChan(id, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupFetchTimeout)
		defer cancel()
		return g.load(fctx, id)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*groupEntry), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("read members of user group %s: %w", id, context.Cause(ctx))
	}
}

// load makes the usergroups.users.list call for group id and caches the
// answer. Only fetch calls it, so calls for one group never overlap.
func (g *UserGroups) load(ctx context.Context, id string) (*groupEntry, error) {
	start := g.now()
	g.mu.Lock()
	if wait := g.retryAt.Sub(start); wait > 0 {
		g.mu.Unlock()
		return nil, fmt.Errorf("read members of user group %s (not asked: Slack rate-limited usergroups.users.list earlier): %w",
			id, &slack.RateLimitedError{RetryAfter: (wait + time.Second - 1).Truncate(time.Second)})
	}
	g.tried[id] = start
	g.mu.Unlock()

	members, err := g.api.GetUserGroupMembersContext(ctx, id)
	if err != nil {
		err = explainGroupError(id, err)
		var rl *slack.RateLimitedError
		var se slack.SlackErrorResponse
		g.mu.Lock()
		switch {
		case errors.As(err, &rl):
			if until := start.Add(rl.RetryAfter); until.After(g.retryAt) {
				g.retryAt = until
			}
		case errors.Is(err, ErrNoUserGroups), errors.As(err, &se) && se.Err == "no_such_subteam":
			// Slack's definite answer that the group is gone or cannot be
			// read: stop trusting what was cached.
			delete(g.groups, id)
		}
		g.mu.Unlock()
		return nil, err
	}
	e := &groupEntry{members: slices.Clone(members), set: make(map[string]struct{}, len(members)), fetched: start}
	for _, u := range members {
		e.set[u] = struct{}{}
	}
	g.mu.Lock()
	g.groups[id] = e
	g.mu.Unlock()
	return e, nil
}

// explainGroupError turns Slack's answer to usergroups.users.list for group
// id into an error saying what the operator should do. Neither slack-go's
// errors nor these carry the token.
func explainGroupError(id string, err error) error {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return fmt.Errorf("read members of user group %s: %w", id, err)
	}
	const orAdmins = "list admins by user ID in rbac.admins instead of rbac.admin_groups"
	switch se.Err {
	case "paid_teams_only", "plan_upgrade_required":
		return fmt.Errorf("%w: this Slack workspace's plan has no user groups (usergroups.users.list answered %w): "+orAdmins,
			ErrNoUserGroups, se)
	case "missing_scope":
		return fmt.Errorf("%w: the Slack app lacks the usergroups:read scope (usergroups.users.list answered %w): "+
			"add the usergroups:read scope to the Slack app and reinstall it, or "+orAdmins, ErrNoUserGroups, se)
	case "not_allowed_token_type":
		return fmt.Errorf("%w: usergroups.users.list does not accept this kind of token (answered %w): "+
			"give Hoist the Slack app's bot token (xoxb-…), or "+orAdmins, ErrNoUserGroups, se)
	case "no_such_subteam":
		return fmt.Errorf("no user group %s in this workspace (usergroups.users.list answered %w): "+
			"copy the group's ID (it starts with S) from Slack, or remove it from rbac.admin_groups", id, se)
	}
	return fmt.Errorf("read members of user group %s: usergroups.users.list answered %w", id, se)
}
