// Package storetest is the conformance suite every store.Store driver must
// pass, and benchmarks to compare them.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/store"
)

// Options turns on the parts of the suite that not every store supports.
type Options struct {
	// Reopenable, when set, opens a store on a fresh database and returns
	// it with a function that opens the same database again. The suite then
	// checks that what was written survives Close and reopening. Leave it
	// nil for in-memory stores.
	Reopenable func(t *testing.T) (s store.Store, reopen func(t *testing.T) store.Store)
}

// Run runs the conformance suite. open must return a store on a fresh,
// empty database each time it is called, and close it at the end of t.
func Run(t *testing.T, open func(t *testing.T) store.Store, opts ...Options) {
	var o Options
	for _, x := range opts {
		if x.Reopenable != nil {
			o.Reopenable = x.Reopenable
		}
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateRelease/IDsIncrease", testIDsIncrease},
		{"CreateRelease/RoundTrip", testRoundTrip},
		{"CreateRelease/Audited", testCreateAudited},
		{"GetRelease/NotFound", testGetNotFound},
		{"ListReleases", testListReleases},
		{"TallyReleases", testTallyReleases},
		{"Transition/CompareAndSet", testTransitionCAS},
		{"Transition/NotFound", testTransitionNotFound},
		{"Transition/Forbidden", testTransitionForbidden},
		{"Transition/TerminalIsFinal", testTerminalFinal},
		{"Transition/Race", testTransitionRace},
		{"SetMessage", testSetMessage},
		{"SetCommit", testSetCommit},
		{"Deployments", testDeployments},
		{"AddVote/Idempotent", testVoteIdempotent},
		{"AddVote/Race", testVoteRace},
		{"AddVote/NotFound", testVoteNotFound},
		{"Messages", testMessages},
		{"Builds", testBuilds},
		{"Builds/LogRace", testBuildLogRace},
		{"AddVote/OnlyWhileAwaiting", testVoteOnlyWhileAwaiting},
		{"AddVote/RaceWithDecision", testVoteRaceWithDecision},
		{"Lock/OtherOwner", testLockOtherOwner},
		{"Lock/SameOwner", testLockSameOwner},
		{"Lock/Unlock", testUnlock},
		{"Lock/Race", testLockRace},
		{"Environments", testEnvironments},
		{"Events/Audit", testAudit},
		{"Events/Filters", testEventFilters},
		{"Leases", testLeases},
		{"Leases/Race", testLeaseRace},
		{"Ping", testPing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
	t.Run("Persistence", func(t *testing.T) {
		if o.Reopenable == nil {
			t.Skip("this store does not outlive Close")
		}
		testPersistence(t, o.Reopenable)
	})
}

// Fixtures and helpers.

// t0 is a fixed instant with sub-second precision, deliberately not UTC.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.FixedZone("CET", 3600))

func newRelease(app, env string) release.Release {
	return release.Release{
		Kind: release.KindDeploy, App: app, Env: env, Ref: "main",
		RequestedBy: "U_REQ", Channel: "C_DEPLOYS", CreatedAt: t0,
	}
}

func create(t testing.TB, s store.Store, r release.Release) release.Release {
	t.Helper()
	got, err := s.CreateRelease(context.Background(), r)
	if err != nil {
		t.Fatalf("CreateRelease: %v", err)
	}
	return got
}

// awaiting creates a release and moves it to awaiting_approval, where it takes votes.
func awaiting(t testing.TB, s store.Store, r release.Release) release.Release {
	t.Helper()
	r = create(t, s, r)
	got, err := s.Transition(context.Background(), release.Transition{ID: r.ID, From: release.Requested, To: release.AwaitingApproval, Actor: release.ActorHoist})
	if err != nil {
		t.Fatalf("Transition to awaiting_approval: %v", err)
	}
	return got
}

func get(t testing.TB, s store.Store, id release.ID) release.Release {
	t.Helper()
	got, err := s.GetRelease(context.Background(), id)
	if err != nil {
		t.Fatalf("GetRelease(%d): %v", id, err)
	}
	return got
}

func events(t testing.TB, s store.Store, f store.EventFilter) []release.Event {
	t.Helper()
	es, err := s.Events(context.Background(), f)
	if err != nil {
		t.Fatalf("Events(%+v): %v", f, err)
	}
	return es
}

// eventsOf returns the events with the given action, optionally of one release.
func eventsOf(t testing.TB, s store.Store, action string, id release.ID) []release.Event {
	t.Helper()
	var out []release.Event
	for _, e := range events(t, s, store.EventFilter{ReleaseID: id}) {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// onlyEvent asserts there is exactly one event with action (of release id, if not zero) and returns it.
func onlyEvent(t testing.TB, s store.Store, action string, id release.ID) release.Event {
	t.Helper()
	es := eventsOf(t, s, action, id)
	if len(es) != 1 {
		t.Fatalf("%d %q events for release %d, want 1: %+v", len(es), action, id, es)
	}
	e := es[0]
	if e.At.IsZero() || e.At.Location() != time.UTC {
		t.Errorf("%q event At = %v, want a UTC time", action, e.At)
	}
	if e.ID <= 0 {
		t.Errorf("%q event ID = %d, want > 0", action, e.ID)
	}
	return e
}

func wantErr(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one wrapping %q", what, err, target)
	}
}

func sameTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s = %v, want the zero time", what, got)
		}
		return
	}
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", what, got.Location())
	}
}

// Releases.

func testIDsIncrease(t *testing.T, s store.Store) {
	var last release.ID
	for i := range 5 {
		r := create(t, s, newRelease("api", "staging"))
		if r.ID <= last {
			t.Fatalf("release %d got ID %d after %d", i, r.ID, last)
		}
		last = r.ID
	}
	if last > 100 {
		t.Errorf("IDs should be short numbers, got %d", last)
	}
}

func testRoundTrip(t *testing.T, s store.Store) {
	want := release.Release{
		ID:               999, // ignored
		Kind:             release.KindPromote,
		App:              "api",
		Env:              "production",
		FromEnv:          "staging",
		Ref:              "v1.2.3",
		Commit:           "0123456789abcdef0123456789abcdef01234567",
		CommitTitle:      "Fix the «checkout» ✓",
		CommitURL:        "https://github.com/acme/api/commit/0123456789abcdef0123456789abcdef01234567",
		Reason:           "ship the fix, «quickly» ✓",
		RequestedBy:      "U123",
		Channel:          "C456",
		ResponseURL:      "https://hooks.slack.com/commands/T/1/abc",
		State:            release.Succeeded, // ignored: created releases are requested
		StateReason:      "a reason",
		MessageChannel:   "C789",
		MessageTS:        "1700000000.000100",
		ApprovalDeadline: t0.Add(90 * time.Minute),
		CreatedAt:        t0,
		UpdatedAt:        t0.Add(time.Hour), // ignored: equals CreatedAt
	}
	got := create(t, s, want)
	if got.ID == 999 || got.ID <= 0 {
		t.Errorf("ID = %d, want a fresh positive ID", got.ID)
	}
	if got.State != release.Requested {
		t.Errorf("State = %q, want requested", got.State)
	}
	want.ID, want.State, want.UpdatedAt = got.ID, release.Requested, want.CreatedAt
	check := func(what string, got release.Release) {
		t.Helper()
		sameTime(t, what+" ApprovalDeadline", got.ApprovalDeadline, want.ApprovalDeadline)
		sameTime(t, what+" CreatedAt", got.CreatedAt, want.CreatedAt)
		sameTime(t, what+" UpdatedAt", got.UpdatedAt, want.UpdatedAt)
		g, w := got, want
		g.ApprovalDeadline, g.CreatedAt, g.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
		w.ApprovalDeadline, w.CreatedAt, w.UpdatedAt = time.Time{}, time.Time{}, time.Time{}
		if g != w {
			t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
		}
	}
	check("CreateRelease", got)
	check("GetRelease", get(t, s, got.ID))

	// The zero ApprovalDeadline round-trips too, and a zero CreatedAt is filled in.
	before := time.Now().Add(-time.Second)
	r := newRelease("api", "staging")
	r.CreatedAt = time.Time{}
	r2 := create(t, s, r)
	g2 := get(t, s, r2.ID)
	sameTime(t, "zero ApprovalDeadline", g2.ApprovalDeadline, time.Time{})
	if g2.CreatedAt.Before(before) || g2.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("CreatedAt = %v, want about now", g2.CreatedAt)
	}
	sameTime(t, "defaulted CreatedAt", g2.CreatedAt, r2.CreatedAt)
	sameTime(t, "defaulted UpdatedAt", g2.UpdatedAt, r2.CreatedAt)
}

func testCreateAudited(t *testing.T, s store.Store) {
	r := create(t, s, newRelease("api", "staging"))
	e := onlyEvent(t, s, "request", r.ID)
	if e.Actor != "U_REQ" || e.ReleaseID != r.ID || e.Env != "staging" {
		t.Errorf("request event = %+v, want actor U_REQ, release %d, env staging", e, r.ID)
	}
	if e.Detail != "deploy api main to staging" {
		t.Errorf("request event detail = %q, want %q", e.Detail, "deploy api main to staging")
	}
}

func testGetNotFound(t *testing.T, s store.Store) {
	_, err := s.GetRelease(context.Background(), 4242)
	wantErr(t, "GetRelease(unknown)", err, store.ErrNotFound)
}

func testListReleases(t *testing.T, s store.Store) {
	ctx := context.Background()
	a1 := create(t, s, newRelease("api", "staging"))
	a2 := create(t, s, newRelease("api", "production"))
	w1 := create(t, s, newRelease("web", "staging"))
	a3 := create(t, s, newRelease("api", "staging"))
	if _, err := s.Transition(ctx, release.Transition{ID: a1.ID, From: release.Requested, To: release.Cancelled, Actor: "U"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, release.Transition{ID: a2.ID, From: release.Requested, To: release.Approved, Actor: "U"}); err != nil {
		t.Fatal(err)
	}
	ids := func(rs []release.Release) []release.ID {
		var out []release.ID
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.ReleaseFilter
		want []release.ID
	}{
		{store.ReleaseFilter{}, []release.ID{a3.ID, w1.ID, a2.ID, a1.ID}},
		{store.ReleaseFilter{App: "api"}, []release.ID{a3.ID, a2.ID, a1.ID}},
		{store.ReleaseFilter{Env: "staging"}, []release.ID{a3.ID, w1.ID, a1.ID}},
		{store.ReleaseFilter{App: "api", Env: "staging"}, []release.ID{a3.ID, a1.ID}},
		{store.ReleaseFilter{States: []release.State{release.Requested}}, []release.ID{a3.ID, w1.ID}},
		{store.ReleaseFilter{States: []release.State{release.Cancelled, release.Approved}}, []release.ID{a2.ID, a1.ID}},
		{store.ReleaseFilter{States: release.ActiveStates(), App: "api"}, []release.ID{a3.ID, a2.ID}},
		{store.ReleaseFilter{Limit: 2}, []release.ID{a3.ID, w1.ID}},
		{store.ReleaseFilter{App: "api", Limit: 1}, []release.ID{a3.ID}},
		{store.ReleaseFilter{App: "api", OldestFirst: true}, []release.ID{a1.ID, a2.ID, a3.ID}},
		{store.ReleaseFilter{Env: "staging", OldestFirst: true, Limit: 2}, []release.ID{a1.ID, w1.ID}},
		{store.ReleaseFilter{App: "nope"}, nil},
	} {
		got, err := s.ListReleases(ctx, tc.f)
		if err != nil {
			t.Fatalf("ListReleases(%+v): %v", tc.f, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("ListReleases(%+v) = %v, want %v", tc.f, ids(got), tc.want)
		}
		// CountReleases counts what ListReleases would list without a limit.
		unlimited := tc.f
		unlimited.Limit = 0
		all, _ := s.ListReleases(ctx, unlimited)
		if n, err := s.CountReleases(ctx, tc.f); err != nil || n != len(all) {
			t.Errorf("CountReleases(%+v) = %d, %v; want %d", tc.f, n, err, len(all))
		}
	}
	got, err := s.ListReleases(ctx, store.ReleaseFilter{States: []release.State{release.Approved}})
	if err != nil || len(got) != 1 || got[0].State != release.Approved || got[0].App != "api" {
		t.Errorf("ListReleases(approved) = %+v, %v; want the full approved release", got, err)
	}
}

func testTallyReleases(t *testing.T, s store.Store) {
	ctx := context.Background()
	if got, err := s.TallyReleases(ctx); err != nil || len(got) != 0 {
		t.Fatalf("TallyReleases of an empty store = %v, %v", got, err)
	}
	create(t, s, newRelease("api", "staging"))
	create(t, s, newRelease("web", "staging"))
	create(t, s, newRelease("api", "production"))
	done := create(t, s, newRelease("api", "staging"))
	if _, err := s.Transition(ctx, release.Transition{ID: done.ID, From: release.Requested, To: release.Cancelled, Actor: "U"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.TallyReleases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.ReleaseCount{
		{State: release.Cancelled, Env: "staging", N: 1},
		{State: release.Requested, Env: "production", N: 1},
		{State: release.Requested, Env: "staging", N: 2},
	}
	if !slices.Equal(got, want) {
		t.Errorf("TallyReleases = %+v, want %+v", got, want)
	}
}

// Transitions.

func testTransitionCAS(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	before := time.Now().Add(-time.Second)
	got, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.Requested, To: release.AwaitingApproval, Actor: "U_BOT", Reason: "needs 2 approvals"})
	if err != nil {
		t.Fatalf("Transition: %v", err)
	}
	if got.State != release.AwaitingApproval || got.StateReason != "needs 2 approvals" || got.ID != r.ID || got.App != "api" {
		t.Errorf("Transition returned %+v", got)
	}
	if got.UpdatedAt.Before(before) || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt = %v, want a UTC time about now", got.UpdatedAt)
	}
	sameTime(t, "CreatedAt after Transition", got.CreatedAt, r.CreatedAt)
	stored := get(t, s, r.ID)
	if stored != got {
		t.Errorf("stored %+v\nreturned %+v", stored, got)
	}
	e := onlyEvent(t, s, "transition", r.ID)
	if e.Actor != "U_BOT" || e.Env != "staging" || e.Detail != "requested → awaiting_approval: needs 2 approvals" {
		t.Errorf("transition event = %+v", e)
	}

	// The wrong From changes nothing.
	_, err = s.Transition(ctx, release.Transition{ID: r.ID, From: release.Requested, To: release.Approved, Actor: "U"})
	wantErr(t, "Transition from the wrong state", err, store.ErrConflict)
	if again := get(t, s, r.ID); again != stored {
		t.Errorf("a losing Transition changed the release:\n got %+v\nwant %+v", again, stored)
	}
	onlyEvent(t, s, "transition", r.ID)

	// No reason: the detail has none and StateReason is cleared.
	got, err = s.Transition(ctx, release.Transition{ID: r.ID, From: release.AwaitingApproval, To: release.Approved, Actor: "U_ADMIN"})
	if err != nil {
		t.Fatalf("Transition: %v", err)
	}
	if got.StateReason != "" {
		t.Errorf("StateReason = %q, want empty", got.StateReason)
	}
	es := eventsOf(t, s, "transition", r.ID)
	if len(es) != 2 || es[1].Detail != "awaiting_approval → approved" || es[1].Actor != "U_ADMIN" {
		t.Errorf("transition events = %+v", es)
	}
}

func testTransitionNotFound(t *testing.T, s store.Store) {
	_, err := s.Transition(context.Background(), release.Transition{ID: 777, From: release.Requested, To: release.Approved, Actor: "U"})
	wantErr(t, "Transition(unknown id)", err, store.ErrNotFound)
	if errors.Is(err, store.ErrConflict) {
		t.Errorf("Transition(unknown id) = %v, should not be a conflict", err)
	}
	if es := events(t, s, store.EventFilter{}); len(es) != 0 {
		t.Errorf("events after a failed Transition: %+v", es)
	}
}

func testTransitionForbidden(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	for _, to := range []release.State{release.Building, release.RollingOut, release.Denied, release.Requested, "bogus"} {
		_, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.Requested, To: to, Actor: "U"})
		wantErr(t, fmt.Sprintf("Transition requested → %s", to), err, store.ErrConflict)
	}
	if got := get(t, s, r.ID); got.State != release.Requested {
		t.Errorf("state = %s after refused transitions, want requested", got.State)
	}
	if es := eventsOf(t, s, "transition", r.ID); len(es) != 0 {
		t.Errorf("refused transitions were audited: %+v", es)
	}
}

func testTerminalFinal(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, end := range []release.State{release.Cancelled, release.Failed} {
		r := create(t, s, newRelease("api", "staging"))
		if _, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.Requested, To: end, Actor: "U"}); err != nil {
			t.Fatalf("Transition → %s: %v", end, err)
		}
		for _, to := range release.AllStates() {
			_, err := s.Transition(ctx, release.Transition{ID: r.ID, From: end, To: to, Actor: "U"})
			wantErr(t, fmt.Sprintf("Transition %s → %s", end, to), err, store.ErrConflict)
		}
		if got := get(t, s, r.ID); got.State != end {
			t.Errorf("state = %s, want %s", got.State, end)
		}
	}
}

func testTransitionRace(t *testing.T, s store.Store) {
	const n = 100
	ctx := context.Background()
	r := create(t, s, newRelease("api", "production"))
	if _, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.Requested, To: release.AwaitingApproval, Actor: "hoist"}); err != nil {
		t.Fatal(err)
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		wins      []int
		conflicts int
		others    []error
		start     = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			to := release.Approved
			if i%2 == 1 {
				to = release.Denied
			}
			_, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.AwaitingApproval, To: to, Actor: fmt.Sprintf("U%d", i)})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins = append(wins, i)
			case errors.Is(err, store.ErrConflict):
				conflicts++
			default:
				others = append(others, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(others) > 0 {
		t.Fatalf("%d transitions failed with unexpected errors, first: %v", len(others), others[0])
	}
	if len(wins) != 1 || conflicts != n-1 {
		t.Fatalf("%d wins and %d conflicts, want 1 and %d", len(wins), conflicts, n-1)
	}
	want := release.Approved
	if wins[0]%2 == 1 {
		want = release.Denied
	}
	got := get(t, s, r.ID)
	if got.State != want {
		t.Errorf("state = %s, want the winner's %s", got.State, want)
	}
	es := eventsOf(t, s, "transition", r.ID)
	if len(es) != 2 {
		t.Fatalf("%d transition events, want 2 (one before the race, one from it): %+v", len(es), es)
	}
	if winner := fmt.Sprintf("U%d", wins[0]); es[1].Actor != winner {
		t.Errorf("transition event actor = %s, want the winner %s", es[1].Actor, winner)
	}
}

func testSetMessage(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	if err := s.SetMessage(ctx, r.ID, "C1", "1700000000.000200"); err != nil {
		t.Fatalf("SetMessage: %v", err)
	}
	got := get(t, s, r.ID)
	if got.MessageChannel != "C1" || got.MessageTS != "1700000000.000200" {
		t.Errorf("message = %q %q", got.MessageChannel, got.MessageTS)
	}
	wantErr(t, "SetMessage(unknown)", s.SetMessage(ctx, 9999, "C", "1"), store.ErrNotFound)
}

func testSetCommit(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	sha := "89abcdef0123456789abcdef0123456789abcdef"
	c := release.Commit{SHA: sha, Title: "Fix all the bugs", URL: "https://github.com/acme/api/commit/" + sha}
	if err := s.SetCommit(ctx, r.ID, c, release.ActorHoist); err != nil {
		t.Fatalf("SetCommit: %v", err)
	}
	if got := get(t, s, r.ID); got.Commit != sha || got.CommitTitle != c.Title || got.CommitURL != c.URL {
		t.Errorf("commit = %q %q %q, want %+v", got.Commit, got.CommitTitle, got.CommitURL, c)
	}
	e := onlyEvent(t, s, "resolve", r.ID)
	if e.Actor != release.ActorHoist || e.Env != "staging" || e.ReleaseID != r.ID {
		t.Errorf("resolve event = %+v", e)
	}
	wantErr(t, "SetCommit(unknown)", s.SetCommit(ctx, 9999, c, "hoist"), store.ErrNotFound)
}

func testDeployments(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	if _, err := s.GetDeployment(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetDeployment before any: %v", err)
	}
	d := release.DeploymentRecord{Release: r.ID, ID: 1234567890123, Environment: "staging", State: release.DeploymentQueued}
	for _, state := range []release.DeploymentState{release.DeploymentQueued, release.DeploymentInProgress, release.DeploymentInProgress, release.DeploymentSuccess} {
		d.State = state
		if err := s.PutDeployment(ctx, d); err != nil {
			t.Fatalf("PutDeployment(%s): %v", state, err)
		}
	}
	if got, err := s.GetDeployment(ctx, r.ID); err != nil || got != d {
		t.Fatalf("GetDeployment = %+v, %v; want %+v", got, err, d)
	}
	if es := eventsOf(t, s, "deployment", r.ID); len(es) != 3 {
		t.Errorf("%d deployment events for queued, in_progress twice and success; want 3: %+v", len(es), es)
	}
}

func testMessages(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "production"))
	if got, err := s.Messages(ctx, r.ID); err != nil || len(got) != 0 {
		t.Fatalf("Messages of a new release = %v, %v", got, err)
	}
	first := release.MessageRef{Channel: "C_APPROVALS", TS: "1700000000.000100"}
	if err := s.PutMessage(ctx, r.ID, "approvals", first); err != nil {
		t.Fatal(err)
	}
	second := release.MessageRef{Channel: "C_APPROVALS", TS: "1700000000.000200"}
	if err := s.PutMessage(ctx, r.ID, "approvals", second); err != nil {
		t.Fatal(err)
	}
	got, err := s.Messages(ctx, r.ID)
	if err != nil || len(got) != 1 || got["approvals"] != second {
		t.Fatalf("Messages = %v, %v; want the second approvals message only", got, err)
	}
	if err := s.PutMessage(ctx, 9999, "approvals", first); err == nil {
		t.Error("PutMessage on an unknown release succeeded")
	}
}

func testBuilds(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	if _, err := s.GetBuild(ctx, r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetBuild before any: %v", err)
	}
	// Kept before Jenkins is asked: no queue item yet, and no event.
	asked := time.Date(2026, 11, 27, 12, 0, 0, 123456000, time.UTC)
	b := release.Build{ReleaseID: r.ID, Job: "api/staging", TriggeredAt: asked}
	if err := s.PutBuild(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetBuild(ctx, r.ID); err != nil || got.QueueID != 0 || !got.TriggeredAt.Equal(asked) {
		t.Fatalf("GetBuild of a build being triggered = %+v, %v", got, err)
	}
	b.QueueID = 17
	if err := s.PutBuild(ctx, b); err != nil {
		t.Fatal(err)
	}
	b.Number, b.URL = 4, "http://jenkins/job/api/job/staging/4/"
	if err := s.PutBuild(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBuild(ctx, b); err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []struct {
		from, to int64
		data     string
	}{{0, 6, "hello\n"}, {6, 6, ""}, {6, 12, "world\n"}} {
		if err := s.AppendLog(ctx, r.ID, chunk.from, []byte(chunk.data), chunk.to); err != nil {
			t.Fatalf("AppendLog(%d): %v", chunk.from, err)
		}
	}
	if err := s.AppendLog(ctx, r.ID, 6, []byte("world\n"), 12); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AppendLog at a stale offset: %v; want ErrConflict", err)
	}
	got, err := s.GetBuild(ctx, r.ID)
	if err != nil || got != (release.Build{ReleaseID: r.ID, Job: "api/staging", QueueID: 17, Number: 4, URL: b.URL, LogOffset: 12, TriggeredAt: asked}) {
		t.Fatalf("GetBuild = %+v, %v", got, err)
	}
	log, err := s.Log(ctx, r.ID)
	if err != nil || string(log) != "hello\nworld\n" {
		t.Fatalf("Log = %q, %v", log, err)
	}
	es := eventsOf(t, s, "build", r.ID)
	if len(es) != 2 || es[0].Detail != "build api/staging queued as item 17" || es[1].Detail != "build api/staging #4 started" {
		t.Errorf("build events = %+v", es)
	}
}

// testBuildLogRace appends the same chunk from many goroutines: it is kept once.
func testBuildLogRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	if err := s.PutBuild(ctx, release.Build{ReleaseID: r.ID, Job: "api/staging", QueueID: 1, Number: 1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := s.AppendLog(ctx, r.ID, 0, []byte("line\n"), 5)
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Errorf("AppendLog: %v", err)
			}
		})
	}
	wg.Wait()
	if log, err := s.Log(ctx, r.ID); err != nil || string(log) != "line\n" {
		t.Fatalf("Log = %q, %v; want the chunk once", log, err)
	}
}

// Votes.

func testVoteIdempotent(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := awaiting(t, s, newRelease("api", "production"))
	add := func(v release.Vote) bool {
		t.Helper()
		added, err := s.AddVote(ctx, v)
		if err != nil {
			t.Fatalf("AddVote(%+v): %v", v, err)
		}
		return added
	}
	if !add(release.Vote{ReleaseID: r.ID, Voter: "U_A", Approve: true, At: t0}) {
		t.Error("first vote not added")
	}
	if add(release.Vote{ReleaseID: r.ID, Voter: "U_A", Approve: false, Reason: "changed my mind", At: t0.Add(time.Minute)}) {
		t.Error("second vote by the same voter added")
	}
	if !add(release.Vote{ReleaseID: r.ID, Voter: "U_B", Approve: false, Reason: "not today", At: t0.Add(2 * time.Minute)}) {
		t.Error("another voter's vote not added")
	}
	votes, err := s.Votes(ctx, r.ID)
	if err != nil {
		t.Fatalf("Votes: %v", err)
	}
	if len(votes) != 2 {
		t.Fatalf("Votes = %+v, want 2", votes)
	}
	if v := votes[0]; v.ReleaseID != r.ID || v.Voter != "U_A" || !v.Approve || v.Reason != "" {
		t.Errorf("first vote = %+v", v)
	}
	sameTime(t, "vote At", votes[0].At, t0)
	if v := votes[1]; v.Voter != "U_B" || v.Approve || v.Reason != "not today" {
		t.Errorf("second vote = %+v", v)
	}
	es := eventsOf(t, s, "vote", r.ID)
	if len(es) != 2 || es[0].Actor != "U_A" || es[0].Detail != "approve" || es[1].Actor != "U_B" || es[1].Detail != "deny: not today" || es[0].Env != "production" {
		t.Errorf("vote events = %+v", es)
	}
	other, err := s.Votes(ctx, r.ID+1000)
	if err != nil || len(other) != 0 {
		t.Errorf("Votes(unknown) = %v, %v; want none", other, err)
	}
}

func testVoteRace(t *testing.T, s store.Store) {
	const n = 50
	ctx := context.Background()
	r := awaiting(t, s, newRelease("api", "production"))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added int
		errs  []error
		start = make(chan struct{})
	)
	for range n {
		wg.Go(func() {
			<-start
			ok, err := s.AddVote(ctx, release.Vote{ReleaseID: r.ID, Voter: "U_SAME", Approve: true})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				added++
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d AddVote calls failed, first: %v", len(errs), errs[0])
	}
	if added != 1 {
		t.Errorf("%d AddVote calls reported added, want 1", added)
	}
	votes, err := s.Votes(ctx, r.ID)
	if err != nil || len(votes) != 1 {
		t.Errorf("Votes = %+v, %v; want one", votes, err)
	}
	onlyEvent(t, s, "vote", r.ID)
}

func testVoteNotFound(t *testing.T, s store.Store) {
	_, err := s.AddVote(context.Background(), release.Vote{ReleaseID: 31337, Voter: "U", Approve: true})
	wantErr(t, "AddVote(unknown release)", err, store.ErrNotFound)
}

func testVoteOnlyWhileAwaiting(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "production"))
	_, err := s.AddVote(ctx, release.Vote{ReleaseID: r.ID, Voter: "U_A", Approve: true})
	wantErr(t, "AddVote(requested release)", err, store.ErrConflict)
	r = awaiting(t, s, newRelease("api", "production"))
	if _, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.AwaitingApproval, To: release.Denied, Actor: "U_B"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.AddVote(ctx, release.Vote{ReleaseID: r.ID, Voter: "U_A", Approve: true})
	wantErr(t, "AddVote(denied release)", err, store.ErrConflict)
	if votes, _ := s.Votes(ctx, r.ID); len(votes) != 0 {
		t.Errorf("votes on a decided release: %+v", votes)
	}
}

// testVoteRaceWithDecision races votes against the transition that decides
// the release: no vote may land after the decision.
func testVoteRaceWithDecision(t *testing.T, s store.Store) {
	const n = 30
	ctx := context.Background()
	r := awaiting(t, s, newRelease("api", "production"))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := s.AddVote(ctx, release.Vote{ReleaseID: r.ID, Voter: fmt.Sprintf("U_%02d", i), Approve: true})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				t.Errorf("AddVote: %v", err)
			}
		})
	}
	wg.Go(func() {
		<-start
		if _, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.AwaitingApproval, To: release.Approved, Actor: "U_00"}); err != nil {
			t.Errorf("Transition: %v", err)
		}
	})
	close(start)
	wg.Wait()
	decided := false
	for _, e := range events(t, s, store.EventFilter{ReleaseID: r.ID}) {
		switch {
		case e.Action == "transition" && strings.Contains(e.Detail, "approved"):
			decided = true
		case e.Action == "vote" && decided:
			t.Fatalf("a vote was recorded after the decision: %+v", e)
		}
	}
}

// Locks.

func testLockOtherOwner(t *testing.T, s store.Store) {
	ctx := context.Background()
	mine := release.Lock{Env: "production", Owner: "U_A", Reason: "incident", At: t0}
	got, err := s.Lock(ctx, mine)
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if got.Env != mine.Env || got.Owner != mine.Owner || got.Reason != mine.Reason {
		t.Errorf("Lock returned %+v", got)
	}
	sameTime(t, "Lock At", got.At, t0)
	held, err := s.Lock(ctx, release.Lock{Env: "production", Owner: "U_B", Reason: "me too", At: t0.Add(time.Minute)})
	wantErr(t, "Lock held by another", err, store.ErrLocked)
	if held.Owner != "U_A" || held.Reason != "incident" || held.Env != "production" {
		t.Errorf("Lock returned holder %+v, want U_A's lock", held)
	}
	sameTime(t, "holder At", held.At, t0)
	cur, err := s.GetLock(ctx, "production")
	if err != nil || cur.Owner != "U_A" || cur.Reason != "incident" {
		t.Errorf("GetLock = %+v, %v; want U_A's unchanged lock", cur, err)
	}
	es := events(t, s, store.EventFilter{Env: "production"})
	if len(es) != 1 || es[0].Action != "lock" || es[0].Actor != "U_A" || es[0].ReleaseID != 0 {
		t.Errorf("events = %+v, want U_A's one lock event", es)
	}
	_, err = s.GetLock(ctx, "staging")
	wantErr(t, "GetLock(unlocked)", err, store.ErrNotFound)
}

func testLockSameOwner(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Lock(ctx, release.Lock{Env: "staging", Owner: "U_A", Reason: "testing", At: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lock(ctx, release.Lock{Env: "staging", Owner: "U_A", Reason: "still testing", At: t0.Add(time.Hour)})
	if err != nil {
		t.Fatalf("re-lock by the owner: %v", err)
	}
	if got.Reason != "still testing" {
		t.Errorf("re-lock returned %+v", got)
	}
	cur, err := s.GetLock(ctx, "staging")
	if err != nil || cur.Reason != "still testing" || cur.Owner != "U_A" {
		t.Errorf("GetLock = %+v, %v", cur, err)
	}
	sameTime(t, "re-locked At", cur.At, t0.Add(time.Hour))
	if _, err := s.Lock(ctx, release.Lock{Env: "production", Owner: "U_B"}); err != nil {
		t.Fatal(err)
	}
	locks, err := s.ListLocks(ctx)
	if err != nil || len(locks) != 2 || locks[0].Env != "production" || locks[1].Env != "staging" {
		t.Errorf("ListLocks = %+v, %v", locks, err)
	}
	if locks[0].At.IsZero() {
		t.Errorf("a lock without At got none: %+v", locks[0])
	}
	if es := events(t, s, store.EventFilter{Env: "staging"}); len(es) != 2 || es[0].Action != "lock" || es[1].Action != "lock" {
		t.Errorf("staging events = %+v, want two lock events", es)
	}
}

func testUnlock(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Lock(ctx, release.Lock{Env: "production", Owner: "U_A", Reason: "freeze", At: t0}); err != nil {
		t.Fatal(err)
	}
	was, err := s.Unlock(ctx, "production", "U_ADMIN")
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if was.Owner != "U_A" || was.Reason != "freeze" || was.Env != "production" {
		t.Errorf("Unlock returned %+v", was)
	}
	_, err = s.GetLock(ctx, "production")
	wantErr(t, "GetLock after Unlock", err, store.ErrNotFound)
	_, err = s.Unlock(ctx, "production", "U_ADMIN")
	wantErr(t, "Unlock(unlocked)", err, store.ErrNotFound)
	es := events(t, s, store.EventFilter{Env: "production"})
	if len(es) != 2 || es[1].Action != "unlock" || es[1].Actor != "U_ADMIN" {
		t.Errorf("events = %+v, want lock then U_ADMIN's unlock", es)
	}
	// Someone else can take it now.
	if _, err := s.Lock(ctx, release.Lock{Env: "production", Owner: "U_B"}); err != nil {
		t.Errorf("Lock after Unlock: %v", err)
	}
	if locks, err := s.ListLocks(ctx); err != nil || len(locks) != 1 || locks[0].Owner != "U_B" {
		t.Errorf("ListLocks = %+v, %v", locks, err)
	}
}

func testLockRace(t *testing.T, s store.Store) {
	const n = 30
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
		holders = map[string]bool{}
		errs    []error
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			owner := fmt.Sprintf("U%d", i)
			held, err := s.Lock(ctx, release.Lock{Env: "production", Owner: owner})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, owner)
			case errors.Is(err, store.ErrLocked):
				holders[held.Owner] = true
			default:
				errs = append(errs, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d Lock calls failed, first: %v", len(errs), errs[0])
	}
	if len(winners) != 1 {
		t.Fatalf("%d winners, want 1: %v", len(winners), winners)
	}
	if len(holders) > 1 || (len(holders) == 1 && !holders[winners[0]]) {
		t.Errorf("losers saw holders %v, want only %s", holders, winners[0])
	}
	if es := events(t, s, store.EventFilter{Env: "production"}); len(es) != 1 {
		t.Errorf("%d events, want one lock event: %+v", len(es), es)
	}
}

// Environments.

func testEnvironments(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "preview"))
	e := store.Environment{App: "api", Branch: "feature/x", Env: "preview", Namespace: "api-feature-x",
		Owner: "U_A", CreatedAt: t0, ExpiresAt: t0.Add(72 * time.Hour), LastRelease: r.ID}
	if err := s.PutEnvironment(ctx, e, "U_A"); err != nil {
		t.Fatalf("PutEnvironment: %v", err)
	}
	check := func(got, want store.Environment) {
		t.Helper()
		sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
		sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
		got.CreatedAt, got.ExpiresAt, want.CreatedAt, want.ExpiresAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != want {
			t.Errorf("environment:\n got %+v\nwant %+v", got, want)
		}
	}
	got, err := s.GetEnvironment(ctx, "api", "feature/x")
	if err != nil {
		t.Fatalf("GetEnvironment: %v", err)
	}
	check(got, e)
	_, err = s.GetEnvironment(ctx, "api", "feature/y")
	wantErr(t, "GetEnvironment(unknown)", err, store.ErrNotFound)

	// Put again updates it in place.
	e.ExpiresAt = t0.Add(96 * time.Hour)
	e.LastRelease = 0
	if err := s.PutEnvironment(ctx, e, "U_A"); err != nil {
		t.Fatalf("PutEnvironment (update): %v", err)
	}
	got, err = s.GetEnvironment(ctx, "api", "feature/x")
	if err != nil {
		t.Fatal(err)
	}
	check(got, e)

	e2 := store.Environment{App: "api", Branch: "alpha", Env: "preview", Namespace: "api-alpha", Owner: "U_B"}
	e3 := store.Environment{App: "web", Branch: "beta", Env: "preview", Namespace: "web-beta", Owner: "U_B", CreatedAt: t0}
	for _, x := range []store.Environment{e2, e3} {
		if err := s.PutEnvironment(ctx, x, x.Owner); err != nil {
			t.Fatal(err)
		}
	}
	names := func(es []store.Environment) []string {
		var out []string
		for _, x := range es {
			out = append(out, x.App+"/"+x.Branch)
		}
		return out
	}
	all, err := s.ListEnvironments(ctx, "")
	if err != nil || !slices.Equal(names(all), []string{"api/alpha", "api/feature/x", "web/beta"}) {
		t.Errorf("ListEnvironments(all) = %v, %v", names(all), err)
	}
	api, err := s.ListEnvironments(ctx, "api")
	if err != nil || !slices.Equal(names(api), []string{"api/alpha", "api/feature/x"}) {
		t.Errorf("ListEnvironments(api) = %v, %v", names(api), err)
	}
	if api[0].CreatedAt.IsZero() || !api[0].ExpiresAt.IsZero() {
		t.Errorf("defaults: %+v, want CreatedAt filled in and no ExpiresAt", api[0])
	}

	if err := s.DeleteEnvironment(ctx, "api", "feature/x", "hoist"); err != nil {
		t.Fatalf("DeleteEnvironment: %v", err)
	}
	_, err = s.GetEnvironment(ctx, "api", "feature/x")
	wantErr(t, "GetEnvironment after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteEnvironment again", s.DeleteEnvironment(ctx, "api", "feature/x", "hoist"), store.ErrNotFound)

	var puts, deletes []release.Event
	for _, ev := range events(t, s, store.EventFilter{Env: "preview"}) {
		switch ev.Action {
		case "env_put":
			puts = append(puts, ev)
		case "env_delete":
			deletes = append(deletes, ev)
		}
	}
	if len(puts) != 4 || puts[0].Actor != "U_A" || puts[0].ReleaseID != r.ID || puts[2].Actor != "U_B" {
		t.Errorf("env_put events = %+v", puts)
	}
	if len(deletes) != 1 || deletes[0].Actor != "hoist" {
		t.Errorf("env_delete events = %+v", deletes)
	}
}

// Audit log.

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.Audit(ctx, release.Event{At: t0, Actor: "U_X", Action: "refuse", ReleaseID: 0, Env: "production", Detail: "production is locked"}); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	// An event may name a release that does not exist (a refused vote on #404, say).
	if err := s.Audit(ctx, release.Event{Actor: "U_Y", Action: "refuse", ReleaseID: 404, Detail: "no such release"}); err != nil {
		t.Fatalf("Audit: %v", err)
	}
	es := events(t, s, store.EventFilter{})
	if len(es) != 2 {
		t.Fatalf("Events = %+v, want 2", es)
	}
	e := es[0]
	if e.ID <= 0 || e.Actor != "U_X" || e.Action != "refuse" || e.ReleaseID != 0 || e.Env != "production" || e.Detail != "production is locked" {
		t.Errorf("event = %+v", e)
	}
	sameTime(t, "event At", e.At, t0)
	if es[1].ID <= es[0].ID || es[1].ReleaseID != 404 || es[1].At.IsZero() {
		t.Errorf("second event = %+v", es[1])
	}
}

func testEventFilters(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := create(t, s, newRelease("api", "staging"))    // event 1: request a
	b := create(t, s, newRelease("api", "production")) // event 2: request b
	steps := []release.Transition{
		{ID: a.ID, From: release.Requested, To: release.Approved, Actor: "U1"},  // 3
		{ID: b.ID, From: release.Requested, To: release.Cancelled, Actor: "U2"}, // 4
		{ID: a.ID, From: release.Approved, To: release.Building, Actor: "U3"},   // 5
		{ID: a.ID, From: release.Building, To: release.RollingOut, Actor: "U4"}, // 6
	}
	for _, st := range steps {
		if _, err := s.Transition(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Audit(ctx, release.Event{Actor: "U5", Action: "refuse", Env: "staging"}); err != nil { // 7
		t.Fatal(err)
	}
	actors := func(es []release.Event) []string {
		var out []string
		for i, e := range es {
			if i > 0 && e.ID <= es[i-1].ID {
				t.Errorf("events out of order: %+v", es)
			}
			out = append(out, e.Actor)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.EventFilter
		want []string
	}{
		{store.EventFilter{}, []string{"U_REQ", "U_REQ", "U1", "U2", "U3", "U4", "U5"}},
		{store.EventFilter{ReleaseID: a.ID}, []string{"U_REQ", "U1", "U3", "U4"}},
		{store.EventFilter{ReleaseID: b.ID}, []string{"U_REQ", "U2"}},
		{store.EventFilter{Env: "staging"}, []string{"U_REQ", "U1", "U3", "U4", "U5"}},
		{store.EventFilter{Env: "production", ReleaseID: b.ID}, []string{"U_REQ", "U2"}},
		{store.EventFilter{Env: "production", ReleaseID: a.ID}, nil},
		{store.EventFilter{Limit: 3}, []string{"U3", "U4", "U5"}},
		{store.EventFilter{ReleaseID: a.ID, Limit: 2}, []string{"U3", "U4"}},
		{store.EventFilter{Env: "production", Limit: 10}, []string{"U_REQ", "U2"}},
	} {
		if got := actors(events(t, s, tc.f)); !slices.Equal(got, tc.want) {
			t.Errorf("Events(%+v) actors = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testPersistence(t *testing.T, reopenable func(t *testing.T) (store.Store, func(t *testing.T) store.Store)) {
	ctx := context.Background()
	s, reopen := reopenable(t)
	r := create(t, s, newRelease("api", "staging"))
	if _, err := s.Transition(ctx, release.Transition{ID: r.ID, From: release.Requested, To: release.AwaitingApproval, Actor: "hoist"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddVote(ctx, release.Vote{ReleaseID: r.ID, Voter: "U_A", Approve: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lock(ctx, release.Lock{Env: "production", Owner: "U_A", Reason: "freeze"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEnvironment(ctx, store.Environment{App: "api", Branch: "x", Env: "preview", Namespace: "api-x"}, "U_A"); err != nil {
		t.Fatal(err)
	}
	want := get(t, s, r.ID)
	wantEvents := events(t, s, store.EventFilter{})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2 := reopen(t)
	if got := get(t, s2, r.ID); got != want {
		t.Errorf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	if votes, err := s2.Votes(ctx, r.ID); err != nil || len(votes) != 1 {
		t.Errorf("Votes after reopen = %+v, %v", votes, err)
	}
	if l, err := s2.GetLock(ctx, "production"); err != nil || l.Reason != "freeze" {
		t.Errorf("GetLock after reopen = %+v, %v", l, err)
	}
	if _, err := s2.GetEnvironment(ctx, "api", "x"); err != nil {
		t.Errorf("GetEnvironment after reopen: %v", err)
	}
	if got := events(t, s2, store.EventFilter{}); !slices.Equal(got, wantEvents) {
		t.Errorf("events after reopen:\n got %+v\nwant %+v", got, wantEvents)
	}
	// IDs keep increasing after a reopen.
	if r2 := create(t, s2, newRelease("api", "staging")); r2.ID <= r.ID {
		t.Errorf("ID after reopen = %d, want > %d", r2.ID, r.ID)
	}
}

// Benchmarks.

// BenchCreateRelease measures CreateRelease, audit event included.
func BenchCreateRelease(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	ctx := context.Background()
	r := newRelease("api", "staging")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.CreateRelease(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchTransition measures one compare-and-set Transition with its audit
// event, on releases created beforehand.
func BenchTransition(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	ctx := context.Background()
	ids := make([]release.ID, b.N)
	for i := range ids {
		r, err := s.CreateRelease(ctx, newRelease("api", "staging"))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = r.ID
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := s.Transition(ctx, release.Transition{ID: ids[i], From: release.Requested, To: release.Approved, Actor: "U"}); err != nil {
			b.Fatal(err)
		}
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	acquire := func(owner string, at time.Time) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx, r.ID, owner, at, 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !acquire("a", now) {
		t.Fatal("a free lease was not acquired")
	}
	if acquire("b", now.Add(10*time.Second)) {
		t.Fatal("b took a lease a holds")
	}
	if !acquire("a", now.Add(10*time.Second)) {
		t.Fatal("a could not renew its lease")
	}
	if acquire("b", now.Add(20*time.Second)) {
		t.Fatal("b took a lease a renewed until 25s")
	}
	if !acquire("b", now.Add(26*time.Second)) {
		t.Fatal("b could not take over an expired lease")
	}
	if acquire("a", now.Add(27*time.Second)) {
		t.Fatal("a took back a lease b holds")
	}
	if err := s.ReleaseLease(ctx, r.ID, "a"); err != nil {
		t.Fatal(err)
	}
	if acquire("a", now.Add(28*time.Second)) {
		t.Fatal("a released b's lease")
	}
	if err := s.ReleaseLease(ctx, r.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if !acquire("a", now.Add(29*time.Second)) {
		t.Fatal("a released lease was not free")
	}
}

func testLeaseRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := create(t, s, newRelease("api", "staging"))
	now := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	holders := 0
	for i := range 20 {
		wg.Go(func() {
			ok, err := s.AcquireLease(ctx, r.ID, fmt.Sprintf("owner-%d", i), now, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				holders++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if holders != 1 {
		t.Errorf("%d owners hold the lease; want exactly 1", holders)
	}
}
