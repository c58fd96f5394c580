package bot

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

const (
	grpAdmins  = "S0ADMINS1"
	grpRelease = "S0RELEASE"
	grpUnknown = "S0NOTHERE"
	methodUGL  = "usergroups.users.list"
)

// ugClock is a settable clock for UserGroups tests.
type ugClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *ugClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *ugClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type ugFixture struct {
	sim   *slackapi.Server
	api   *slack.Client
	clock *ugClock
	ug    *UserGroups
}

func newUGFixture(t *testing.T, simOpts []slackapi.Option, opts ...UserGroupsOption) *ugFixture {
	t.Helper()
	simOpts = append([]slackapi.Option{
		slackapi.WithUserGroup(grpAdmins, "U1", "U2"),
		slackapi.WithUserGroup(grpRelease, "U7"),
	}, simOpts...)
	sim := slackapi.New(simOpts...)
	t.Cleanup(sim.Close)
	api := slack.New(slackapi.DefaultToken, slack.OptionAPIURL(sim.URL()))
	clock := &ugClock{t: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)}
	opts = append([]UserGroupsOption{WithGroupsClock(clock.Now)}, opts...)
	return &ugFixture{sim: sim, api: api, clock: clock, ug: NewUserGroups(api, opts...)}
}

func (f *ugFixture) calls() int { return len(f.sim.Calls(methodUGL)) }

func (f *ugFixture) wantCalls(t *testing.T, want int, when string) {
	t.Helper()
	if got := f.calls(); got != want {
		t.Fatalf("%s: %d usergroups.users.list calls, want %d", when, got, want)
	}
}

func (f *ugFixture) isMember(t *testing.T, group, user string) bool {
	t.Helper()
	ok, err := f.ug.IsMember(t.Context(), group, user)
	if err != nil {
		t.Fatalf("IsMember(%s, %s): %v", group, user, err)
	}
	return ok
}

func TestUserGroupsCacheHitMakesNoCall(t *testing.T) {
	f := newUGFixture(t, nil)
	members, err := f.ug.GroupMembers(t.Context(), grpAdmins)
	if err != nil || !slices.Equal(members, []string{"U1", "U2"}) {
		t.Fatalf("GroupMembers = %v, %v; want [U1 U2]", members, err)
	}
	f.wantCalls(t, 1, "first lookup")
	if got := f.sim.Calls(methodUGL)[0].Params["usergroup"]; got != grpAdmins {
		t.Errorf("asked for usergroup %q, want %q", got, grpAdmins)
	}

	members[0] = "UEVIL" // the caller's copy, not the cache
	f.clock.Advance(DefaultGroupTTL - time.Second)
	again, err := f.ug.GroupMembers(t.Context(), grpAdmins)
	if err != nil || !slices.Equal(again, []string{"U1", "U2"}) {
		t.Fatalf("cached GroupMembers = %v, %v; want [U1 U2]", again, err)
	}
	if !f.isMember(t, grpAdmins, "U2") {
		t.Error("IsMember(U2) = false from the cache")
	}
	f.wantCalls(t, 1, "lookups within the TTL")

	// Groups are cached separately.
	if !f.isMember(t, grpRelease, "U7") {
		t.Error("IsMember(release, U7) = false")
	}
	f.wantCalls(t, 2, "lookup of another group")
}

func TestUserGroupsTTLExpiryRefetches(t *testing.T) {
	f := newUGFixture(t, nil, WithGroupTTL(time.Minute))
	if !f.isMember(t, grpAdmins, "U1") {
		t.Fatal("IsMember(U1) = false")
	}
	f.sim.SetUserGroup(grpAdmins, "U2") // U1 removed in Slack

	f.clock.Advance(59 * time.Second)
	if !f.isMember(t, grpAdmins, "U1") {
		t.Error("IsMember(U1) within the TTL = false, want the cached answer")
	}
	f.wantCalls(t, 1, "within the TTL")

	f.clock.Advance(time.Second)
	if f.isMember(t, grpAdmins, "U1") {
		t.Error("IsMember(U1) after the TTL = true: a removed member keeps access")
	}
	f.wantCalls(t, 2, "after the TTL")
	members, err := f.ug.GroupMembers(t.Context(), grpAdmins)
	if err != nil || !slices.Equal(members, []string{"U2"}) {
		t.Errorf("GroupMembers after the TTL = %v, %v; want [U2]", members, err)
	}
	f.wantCalls(t, 2, "GroupMembers on the refreshed cache")

	f.clock.Advance(time.Minute)
	if _, err := f.ug.GroupMembers(t.Context(), grpAdmins); err != nil {
		t.Fatal(err)
	}
	f.wantCalls(t, 3, "GroupMembers after the TTL")
}

func TestUserGroupsZeroTTLAlwaysAsks(t *testing.T) {
	f := newUGFixture(t, nil, WithGroupTTL(0))
	for range 3 {
		if _, err := f.ug.GroupMembers(t.Context(), grpAdmins); err != nil {
			t.Fatal(err)
		}
	}
	f.wantCalls(t, 3, "three lookups without a cache")
}

func TestUserGroupsMissRefreshesAtMostOncePerInterval(t *testing.T) {
	f := newUGFixture(t, nil)
	if f.isMember(t, grpAdmins, "U3") {
		t.Fatal("IsMember(U3) = true before U3 was added")
	}
	f.wantCalls(t, 1, "first lookup")

	f.sim.SetUserGroup(grpAdmins, "U1", "U2", "U3") // an admin adds U3
	// A flood of misses right after a call asks Slack no more.
	for range 100 {
		if f.isMember(t, grpAdmins, "U3") || f.isMember(t, grpAdmins, "UNOBODY") {
			t.Fatal("IsMember = true from a cache that lacks the user")
		}
	}
	f.wantCalls(t, 1, "misses within the minimum refresh interval")

	f.clock.Advance(DefaultGroupMinRefresh)
	if !f.isMember(t, grpAdmins, "U3") {
		t.Fatal("IsMember(U3) = false after the minimum refresh interval: the newly added admin is refused")
	}
	f.wantCalls(t, 2, "a miss after the minimum refresh interval")

	// The refreshed list is cached: hits cost nothing, and the next miss
	// waits for the interval again.
	for range 100 {
		f.isMember(t, grpAdmins, "U3")
		f.isMember(t, grpAdmins, "UNOBODY")
	}
	f.wantCalls(t, 2, "lookups right after the refresh")
	f.clock.Advance(DefaultGroupMinRefresh - time.Second)
	f.isMember(t, grpAdmins, "UNOBODY")
	f.wantCalls(t, 2, "a miss 9s after the refresh")
	f.clock.Advance(time.Second)
	f.isMember(t, grpAdmins, "UNOBODY")
	f.wantCalls(t, 3, "a miss 10s after the refresh")
}

func TestUserGroupsMinRefreshOption(t *testing.T) {
	f := newUGFixture(t, nil, WithMinRefresh(time.Minute))
	f.isMember(t, grpAdmins, "U3")
	f.clock.Advance(59 * time.Second)
	f.isMember(t, grpAdmins, "U3")
	f.wantCalls(t, 1, "a miss within a minute")
	f.clock.Advance(time.Second)
	f.isMember(t, grpAdmins, "U3")
	f.wantCalls(t, 2, "a miss after a minute")

	g := newUGFixture(t, nil, WithMinRefresh(0))
	for range 3 {
		g.isMember(t, grpAdmins, "U3")
	}
	g.wantCalls(t, 3, "misses without a minimum interval")
}

// gatedAPI holds every call until release is closed.
type gatedAPI struct {
	next    UserGroupAPI
	entered chan struct{}
	release chan struct{}
}

func (a *gatedAPI) GetUserGroupMembersContext(ctx context.Context, group string, opts ...slack.GetUserGroupMembersOption) ([]string, error) {
	a.entered <- struct{}{}
	<-a.release
	return a.next.GetUserGroupMembersContext(ctx, group, opts...)
}

func TestUserGroupsConcurrentLookupsShareOneCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lookup func(ctx context.Context, ug *UserGroups) (bool, error)
		warm   bool // a fresh cache that lacks the user, past the minimum refresh interval
	}{
		{"GroupMembers", func(ctx context.Context, ug *UserGroups) (bool, error) {
			m, err := ug.GroupMembers(ctx, grpAdmins)
			return slices.Contains(m, "U1"), err
		}, false},
		{"IsMember", func(ctx context.Context, ug *UserGroups) (bool, error) {
			return ug.IsMember(ctx, grpAdmins, "U1")
		}, false},
		{"IsMemberMisses", func(ctx context.Context, ug *UserGroups) (bool, error) {
			ok, err := ug.IsMember(ctx, grpAdmins, "U9")
			return !ok, err
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newUGFixture(t, nil)
			gate := &gatedAPI{next: f.api, entered: make(chan struct{}, 100), release: make(chan struct{})}
			ug := NewUserGroups(gate, WithGroupsClock(f.clock.Now))
			before := 0
			if tc.warm {
				close(gate.release)
				if _, err := ug.GroupMembers(t.Context(), grpAdmins); err != nil {
					t.Fatal(err)
				}
				<-gate.entered
				gate.release = make(chan struct{})
				f.clock.Advance(DefaultGroupMinRefresh)
				before = 1
			}

			const n = 50
			var started, done sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				started.Add(1)
				done.Go(func() {
					started.Done()
					ok, err := tc.lookup(t.Context(), ug)
					if err == nil && !ok {
						err = errors.New("wrong answer")
					}
					errs <- err
				})
			}
			started.Wait()
			select { // the one call is in flight…
			case <-gate.entered:
			case <-time.After(5 * time.Second):
				close(gate.release)
				t.Fatal("no call to Slack")
			}
			time.Sleep(50 * time.Millisecond) // …while the other lookups pile up behind it
			close(gate.release)
			done.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			f.wantCalls(t, before+1, "50 concurrent lookups")
		})
	}
}

func TestUserGroupsCallerGivingUpDoesNotFailOthers(t *testing.T) {
	f := newUGFixture(t, nil)
	gate := &gatedAPI{next: f.api, entered: make(chan struct{}, 10), release: make(chan struct{})}
	ug := NewUserGroups(gate, WithGroupsClock(f.clock.Now))

	ctx, cancel := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := ug.GroupMembers(ctx, grpAdmins)
		first <- err
	}()
	<-gate.entered
	second := make(chan error, 1)
	go func() {
		_, err := ug.GroupMembers(t.Context(), grpAdmins)
		second <- err
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v, want context.Canceled", err)
	}
	close(gate.release)
	if err := <-second; err != nil {
		t.Errorf("the other caller: %v, want the shared call's answer", err)
	}
	f.wantCalls(t, 1, "two callers")
}

func TestUserGroupsPlanWithoutUserGroups(t *testing.T) {
	f := newUGFixture(t, []slackapi.Option{slackapi.WithoutUserGroups()})
	_, err := f.ug.GroupMembers(t.Context(), grpAdmins)
	if !errors.Is(err, ErrNoUserGroups) {
		t.Fatalf("GroupMembers: %v, want ErrNoUserGroups", err)
	}
	const advice = "this Slack workspace's plan has no user groups (usergroups.users.list answered paid_teams_only): " +
		"list admins by user ID in rbac.admins instead of rbac.admin_groups"
	if !strings.Contains(err.Error(), advice) {
		t.Errorf("error %q lacks the advice %q", err, advice)
	}
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "paid_teams_only" {
		t.Errorf("error does not wrap Slack's answer: %#v", err)
	}
	if strings.Contains(err.Error(), slackapi.DefaultToken) {
		t.Errorf("error carries the token: %q", err)
	}
	if _, err := f.ug.IsMember(t.Context(), grpAdmins, "U1"); !errors.Is(err, ErrNoUserGroups) {
		t.Errorf("IsMember: %v, want ErrNoUserGroups", err)
	}
}

func TestUserGroupsUnreadableAnswers(t *testing.T) {
	for _, tc := range []struct {
		slackErr string
		advice   string
	}{
		{"plan_upgrade_required", "this Slack workspace's plan has no user groups (usergroups.users.list answered plan_upgrade_required): list admins by user ID in rbac.admins"},
		{"missing_scope", "add the usergroups:read scope to the Slack app"},
		{"not_allowed_token_type", "answered not_allowed_token_type): give Hoist the Slack app's bot token"},
	} {
		t.Run(tc.slackErr, func(t *testing.T) {
			f := newUGFixture(t, nil)
			f.sim.FailNext(methodUGL, tc.slackErr)
			_, err := f.ug.GroupMembers(t.Context(), grpAdmins)
			if !errors.Is(err, ErrNoUserGroups) {
				t.Fatalf("GroupMembers: %v, want ErrNoUserGroups", err)
			}
			if !strings.Contains(err.Error(), tc.advice) || !strings.HasPrefix(err.Error(), ErrNoUserGroups.Error()) {
				t.Errorf("error %q lacks the advice %q", err, tc.advice)
			}
		})
	}
}

func TestUserGroupsOtherSlackErrors(t *testing.T) {
	f := newUGFixture(t, nil)
	f.sim.FailNext(methodUGL, "internal_error")
	_, err := f.ug.GroupMembers(t.Context(), grpAdmins)
	var se slack.SlackErrorResponse
	if err == nil || errors.Is(err, ErrNoUserGroups) || !errors.As(err, &se) || se.Err != "internal_error" {
		t.Fatalf("GroupMembers: %v, want Slack's internal_error wrapped", err)
	}
	if !strings.Contains(err.Error(), grpAdmins) {
		t.Errorf("error %q does not name the group", err)
	}
	// A failure is not cached: the next lookup asks again.
	if !f.isMember(t, grpAdmins, "U1") {
		t.Error("IsMember(U1) = false after a transient error")
	}
	f.wantCalls(t, 2, "a failed and a good lookup")
}

func TestUserGroupsUnknownGroup(t *testing.T) {
	f := newUGFixture(t, nil)
	_, err := f.ug.IsMember(t.Context(), grpUnknown, "U1")
	if err == nil || !strings.Contains(err.Error(), "no user group "+grpUnknown+" in this workspace") {
		t.Fatalf("IsMember on an unknown group: %v", err)
	}
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "no_such_subteam" {
		t.Errorf("error does not wrap no_such_subteam: %#v", err)
	}

	// A group deleted in Slack stops counting at the next call.
	f.isMember(t, grpAdmins, "U1")
	f.clock.Advance(DefaultGroupMinRefresh)
	f.sim.FailNext(methodUGL, "no_such_subteam")
	if _, err := f.ug.IsMember(t.Context(), grpAdmins, "U9"); err == nil {
		t.Fatal("miss on a deleted group: no error")
	}
	if _, err := f.ug.IsMember(t.Context(), grpAdmins, "U1"); err != nil {
		t.Fatal(err) // asked Slack again, rather than trusting the cache
	}
	f.wantCalls(t, 4, "unknown, first, deleted, re-asked")
}

func TestUserGroupsCheck(t *testing.T) {
	f := newUGFixture(t, nil)
	if err := f.ug.Check(t.Context(), []string{grpAdmins, grpRelease, grpAdmins}); err != nil {
		t.Fatalf("Check of existing groups: %v", err)
	}
	f.wantCalls(t, 2, "Check of two groups, one listed twice")
	if !f.isMember(t, grpRelease, "U7") {
		t.Error("IsMember after Check = false")
	}
	f.wantCalls(t, 2, "a lookup after Check (the cache is warm)")

	err := f.ug.Check(t.Context(), []string{grpAdmins, grpUnknown, "S0ALSONOT"})
	if err == nil {
		t.Fatal("Check of unknown groups: nil")
	}
	msg := err.Error()
	for _, want := range []string{
		"rbac.admin_groups: no user group " + grpUnknown + " in this workspace",
		"rbac.admin_groups: no user group S0ALSONOT in this workspace",
		"remove it from rbac.admin_groups",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("Check error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, grpAdmins) {
		t.Errorf("Check error %q names the good group", msg)
	}
	f.wantCalls(t, 5, "Check asks Slack again for every group")
	if err := f.ug.Check(t.Context(), nil); err != nil {
		t.Errorf("Check of no groups: %v", err)
	}
}

func TestUserGroupsCheckWithoutUserGroups(t *testing.T) {
	f := newUGFixture(t, []slackapi.Option{slackapi.WithoutUserGroups()})
	err := f.ug.Check(t.Context(), []string{grpAdmins, grpRelease})
	if !errors.Is(err, ErrNoUserGroups) {
		t.Fatalf("Check: %v, want ErrNoUserGroups", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "rbac.admin_groups ("+grpAdmins+", "+grpRelease+"): ") ||
		!strings.Contains(msg, "list admins by user ID in rbac.admins instead of rbac.admin_groups") {
		t.Errorf("Check error %q should name the groups and say what to do", msg)
	}
	if strings.Count(msg, "paid_teams_only") != 1 {
		t.Errorf("Check error %q should report the plan once", msg)
	}
	f.wantCalls(t, 1, "Check on a plan without user groups")
}

func TestUserGroupsRateLimited(t *testing.T) {
	f := newUGFixture(t, nil)
	f.sim.RateLimitNext(methodUGL, 30)
	start := time.Now()
	_, err := f.ug.GroupMembers(t.Context(), grpAdmins)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("rate-limited lookup took %v: it should not wait", elapsed)
	}
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Fatalf("GroupMembers: %v, want a wrapped *slack.RateLimitedError of 30s", err)
	}
	if !strings.Contains(err.Error(), grpAdmins) {
		t.Errorf("error %q does not name the group", err)
	}

	// Until Retry-After has passed, lookups fail at once without asking.
	f.clock.Advance(20 * time.Second)
	_, err = f.ug.IsMember(t.Context(), grpRelease, "U7")
	if !errors.As(err, &rl) || rl.RetryAfter != 10*time.Second {
		t.Fatalf("IsMember during the rate limit: %v, want a rate-limit error of 10s", err)
	}
	err = f.ug.Check(t.Context(), []string{grpAdmins})
	if !errors.As(err, &rl) || !strings.HasPrefix(err.Error(), "rbac.admin_groups: ") {
		t.Errorf("Check during the rate limit: %v", err)
	}
	f.wantCalls(t, 1, "lookups during the rate limit")

	f.clock.Advance(10 * time.Second)
	if !f.isMember(t, grpAdmins, "U1") {
		t.Error("IsMember(U1) after the rate limit = false")
	}
	f.wantCalls(t, 2, "a lookup after the rate limit")
}

func TestUserGroupsRateLimitedMissKeepsHits(t *testing.T) {
	f := newUGFixture(t, nil)
	f.isMember(t, grpAdmins, "U1")
	f.clock.Advance(DefaultGroupMinRefresh)
	f.sim.RateLimitNext(methodUGL, 60)
	if _, err := f.ug.IsMember(t.Context(), grpAdmins, "U9"); err == nil {
		t.Fatal("a miss whose refresh is rate-limited: no error")
	}
	// Members in the fresh cache still answer, without a call.
	if !f.isMember(t, grpAdmins, "U2") {
		t.Error("IsMember(U2) = false during a rate limit")
	}
	f.wantCalls(t, 2, "first lookup and the rate-limited refresh")
}
