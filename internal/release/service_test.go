package release_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
)

func TestDeployToTestEnvironmentRunsThrough(t *testing.T) {
	h := newHarness(t)
	reply := h.do(dev, "deploy api feature-x")
	if !strings.Contains(reply.Text, "Release #1 requested: deploy `api` `feature-x` → *test*") {
		t.Fatalf("reply = %q", reply.Text)
	}
	r := h.waitState(1, release.Succeeded)
	if r.Commit != sha("c") {
		t.Errorf("commit = %q; want the resolved SHA", r.Commit)
	}
	if h.ci.builds(1) != 1 {
		t.Errorf("builds = %d; want 1", h.ci.builds(1))
	}
	if h.chat.posts != 1 {
		t.Errorf("cards posted = %d; want exactly 1, then updates", h.chat.posts)
	}
	h.eventually("two announcements", func() bool { return len(h.announcements()) == 2 })
	got := h.announcements()
	if !strings.HasPrefix(got[0], "CAPI: Release #1 started") || !strings.Contains(got[1], "succeeded") {
		t.Errorf("announcements = %q; want start and outcome in the app channel", got)
	}
}

func TestProductionNeedsDistinctAdmins(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *release.Ports) { c.RBAC.RequiredApprovals = 2 })
	h.do(admin1, "deploy api master")
	r := h.waitState(1, release.AwaitingApproval)
	if h.ci.builds(1) != 0 {
		t.Fatal("built before approval")
	}
	if got := h.do(dev, "approve 1").Text; !strings.Contains(got, "Only admins can approve or deny releases to *production*") {
		t.Errorf("developer's vote: %q", got)
	}
	if got := h.do(admin1, "approve 1").Text; !strings.Contains(got, "another admin must approve it") {
		t.Errorf("self approval: %q", got)
	}
	if got := h.do(admin2, "approve 1").Text; !strings.Contains(got, "1 of 2") {
		t.Errorf("first approval: %q", got)
	}
	if got := h.do(admin2, "approve #1").Text; !strings.Contains(got, "You already voted on release #1") {
		t.Errorf("the same admin twice counts once: %q", got)
	}
	if got := h.do(admin2, "deny 1").Text; !strings.Contains(got, "a vote cannot be changed") {
		t.Errorf("an admin changing their vote: %q", got)
	}
	card := h.cardOf(r.ID, func(c release.Card) bool { return len(c.Votes) > 0 })
	if len(card.Votes) != 1 || card.RequiredApprovals != 2 || card.Release.State != release.AwaitingApproval {
		t.Errorf("card shows %d votes of %d, %s", len(card.Votes), card.RequiredApprovals, card.Release.State)
	}
	if h.ci.builds(1) != 0 {
		t.Fatal("built with one approval of two")
	}
}

func TestApprovalStartsTheBuild(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api master")
	h.waitState(1, release.AwaitingApproval)
	if got := h.do(admin1, "approve 1").Text; got != "Release #1 approved." {
		t.Fatalf("approve: %q", got)
	}
	h.waitState(1, release.Succeeded)
	if got := h.do(admin2, "approve 1").Text; !strings.Contains(got, "already approved by <@UADMIN1>") {
		t.Errorf("late approval: %q", got)
	}
}

func TestDenyEndsTheReleaseWithReason(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api master")
	h.waitState(1, release.AwaitingApproval)
	h.do(admin1, "deny 1 not during the freeze")
	r := h.waitState(1, release.Denied)
	if r.StateReason != "denied by <@UADMIN1>: not during the freeze" {
		t.Errorf("reason = %q", r.StateReason)
	}
	if h.ci.builds(1) != 0 {
		t.Error("a denied release was built")
	}
	if got := h.do(admin2, "approve 1").Text; !strings.Contains(got, "already denied by <@UADMIN1>") {
		t.Errorf("approve after deny: %q", got)
	}
}

func TestConcurrentApprovalsDecideOnce(t *testing.T) {
	admins := []string{}
	h := newHarness(t, func(c *config.Config, p *release.Ports) {
		for i := range 40 {
			admins = append(admins, "UA"+string(rune('A'+i%26))+string(rune('A'+i/26)))
		}
		c.RBAC.Admins = admins
		p.Pipeline = nil
	})
	h.do(dev, "deploy api master")
	h.waitState(1, release.AwaitingApproval)
	var wg sync.WaitGroup
	for _, a := range admins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.svc.Vote(context.Background(), a, 1, true, ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	h.waitState(1, release.Failed)
	events, err := h.store.Events(context.Background(), release.EventFilter{ReleaseID: 1})
	if err != nil {
		t.Fatal(err)
	}
	approved := 0
	for _, e := range events {
		if e.Action == "transition" && strings.Contains(e.Detail, "→ approved") {
			approved++
		}
	}
	if approved != 1 {
		t.Fatalf("approved transitions = %d; want exactly 1", approved)
	}
}

func TestApprovalExpires(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api master")
	h.waitState(1, release.AwaitingApproval)
	h.advance(31 * time.Minute)
	r := h.waitState(1, release.Expired)
	if !strings.Contains(r.StateReason, "no decision before") {
		t.Errorf("reason = %q", r.StateReason)
	}
	if got := h.do(admin1, "approve 1").Text; !strings.Contains(got, "expired") {
		t.Errorf("approve after expiry: %q", got)
	}
}

func TestLockRefusesDeploys(t *testing.T) {
	h := newHarness(t)
	if got := h.do(dev, "lock staging hotfix").Text; !strings.Contains(got, "only admins can lock it") {
		t.Fatalf("developer locking staging: %q", got)
	}
	reply := h.do(admin1, "lock staging hotfix in progress")
	if !reply.Public || !strings.Contains(reply.Text, "locked *staging*: hotfix in progress") {
		t.Fatalf("lock: %+v", reply)
	}
	got := h.do(dev, "deploy api latest").Text
	if !strings.Contains(got, "*staging* is locked by <@UADMIN1> since just now: hotfix in progress") {
		t.Fatalf("deploy to locked env: %q", got)
	}
	if got := h.do(dev, "unlock staging").Text; !strings.Contains(got, "only they or an admin can unlock it") {
		t.Fatalf("developer unlock: %q", got)
	}
	if len(h.releases()) != 0 {
		t.Fatal("a refused deploy created a release")
	}
	h.do(admin1, "unlock staging")
	if got := h.do(dev, "deploy api latest").Text; !strings.Contains(got, "Release #1 requested") {
		t.Fatalf("deploy after unlock: %q", got)
	}
	events, _ := h.store.Events(context.Background(), release.EventFilter{})
	refusals := 0
	for _, e := range events {
		if e.Action == "refuse" {
			refusals++
		}
	}
	if refusals != 3 {
		t.Errorf("refusals audited = %d; want 3", refusals)
	}
}

func TestNoBuildServerSaysSo(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, p *release.Ports) { p.Pipeline = nil })
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Failed)
	if !strings.Contains(r.StateReason, "no build server is connected to Hoist (set jenkins.url)") {
		t.Fatalf("reason = %q", r.StateReason)
	}
}

func TestCannotPostTellsTheRequester(t *testing.T) {
	h := newHarness(t)
	h.chat.cannot["CASK"] = true
	h.do(dev, "deploy api feature-x")
	deadline := time.After(5 * time.Second)
	for {
		r, _ := h.store.GetRelease(context.Background(), 1)
		if r.State == release.Failed {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("release is %s", r.State)
		case <-time.After(10 * time.Millisecond):
		}
	}
	h.advance(time.Second) // let a few sweeps pass: the requester is told once
	time.Sleep(100 * time.Millisecond)
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	if len(h.chat.responded) != 1 || !strings.Contains(h.chat.responded[0], "/invite @Hoist") {
		t.Fatalf("responded = %q", h.chat.responded)
	}
}

func TestRestartResumesWithoutRepeating(t *testing.T) {
	block := make(chan struct{})
	started := make(chan release.ID, 10)
	h := newHarness(t, func(_ *config.Config, p *release.Ports) {})
	h.ci.block, h.ci.started = block, started
	h.do(dev, "deploy api feature-x")
	<-started
	h.stop()
	r, _ := h.store.GetRelease(context.Background(), 1)
	if r.State != release.Building {
		t.Fatalf("state after stop = %s", r.State)
	}
	close(block)
	h.startWorker()
	h.waitState(1, release.Succeeded)
	if h.chat.posts != 1 {
		t.Errorf("cards posted = %d; a restart must not post a second card", h.chat.posts)
	}
}

func TestCancel(t *testing.T) {
	block := make(chan struct{})
	h := newHarness(t)
	h.ci.block, h.ci.started = block, make(chan release.ID, 10)
	h.do(dev, "deploy api feature-x")
	<-h.ci.started
	if got := h.do("UOTHER", "cancel 1").Text; !strings.Contains(got, "only they or an admin can cancel it") {
		t.Fatalf("stranger cancel: %q", got)
	}
	if got := h.do(dev, "cancel 1").Text; got != "Release #1 cancelled." {
		t.Fatalf("cancel: %q", got)
	}
	r := h.waitState(1, release.Cancelled)
	if r.StateReason != "cancelled by <@UDEV>" {
		t.Errorf("reason = %q", r.StateReason)
	}
	if got := h.do(dev, "cancel 1").Text; !strings.Contains(got, "already ended") {
		t.Errorf("second cancel: %q", got)
	}
	close(block)
}

func TestPromoteTakesTheCommitThatRan(t *testing.T) {
	h := newHarness(t)
	if got := h.do(dev, "promote api").Text; !strings.Contains(got, "no successful release in *staging*") {
		t.Fatalf("promote with nothing in staging: %q", got)
	}
	h.do(dev, "deploy api latest")
	h.waitState(1, release.AwaitingApproval)
	h.do(admin1, "approve 1")
	h.waitState(1, release.Succeeded)
	got := h.do(dev, "promote api").Text
	if !strings.Contains(got, "Release #2 requested: promote `api` `latest` (`bbbbbbb`) *staging* → *production*") {
		t.Fatalf("promote: %q", got)
	}
	r, _ := h.store.GetRelease(context.Background(), 2)
	if r.Commit != sha("b") || r.Kind != release.KindPromote {
		t.Fatalf("promote release = %+v", r)
	}
}

func TestRollbackGoesToThePreviousVersion(t *testing.T) {
	h := newHarness(t)
	for _, ref := range []string{"feature-x", "v1"} {
		h.do(dev, "deploy api "+ref+" to test")
	}
	h.waitState(1, release.Succeeded)
	h.waitState(2, release.Succeeded)
	got := h.do(dev, "rollback api test").Text
	if !strings.Contains(got, "Release #3 requested: roll back *test* to `api` `feature-x` (`ccccccc`)") {
		t.Fatalf("rollback: %q", got)
	}
	if got := h.do(dev, "rollback api production").Text; !strings.Contains(got, "no successful release in *production*") {
		t.Fatalf("rollback with nothing: %q", got)
	}
}

func TestEnvUpAndDown(t *testing.T) {
	h := newHarness(t)
	got := h.do(dev, "env up api feature/Login_v2").Text
	if !strings.Contains(got, "Namespace `api-feature-login-v2`") {
		t.Fatalf("env up: %q", got)
	}
	h.waitState(1, release.Succeeded)
	if got := h.do(dev, "env up api master").Text; !strings.Contains(got, "not an ephemeral environment") {
		t.Fatalf("env up master: %q", got)
	}
	if got := h.do(dev, "env list").Text; !strings.Contains(got, "`api` `feature/Login_v2` — owner <@UDEV>") || !strings.Contains(got, "#1 succeeded") {
		t.Fatalf("env list: %q", got)
	}
	if got := h.do("UOTHER", "env down api feature/Login_v2").Text; !strings.Contains(got, "belongs to <@UDEV>") {
		t.Fatalf("stranger env down: %q", got)
	}
	h.do(dev, "env down api feature/Login_v2")
	h.waitState(2, release.Succeeded)
	if got := h.do(dev, "env list api").Text; !strings.Contains(got, "No test environments") {
		t.Fatalf("env list after down: %q", got)
	}
}

func TestStatusAndHistory(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api feature-x")
	h.waitState(1, release.Succeeded)
	h.do(dev, "deploy api master")
	h.waitState(2, release.AwaitingApproval)
	h.do(admin1, "lock production release freeze")
	status := h.do(dev, "status api").Text
	for _, want := range []string{"*api*", "• *test*: `feature-x` (`ccccccc`) by <@UDEV>", "• *production*: nothing released yet · #2 `master` (`aaaaaaa`) awaiting approval", "🔒 *production* locked by <@UADMIN1> just now: release freeze"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	history := h.do(dev, "history api").Text
	if !strings.HasPrefix(history, "Last 2 releases of `api`:\n• #2 deploy `api` `master` (`aaaaaaa`) → *production* — awaiting approval") {
		t.Errorf("history:\n%s", history)
	}
	if got := h.do(dev, "history api staging").Text; !strings.Contains(got, "no releases") && !strings.Contains(got, "Last 0") {
		t.Logf("history staging: %s", got)
	}
	if got := h.do(dev, "status web").Text; !strings.Contains(got, "Unknown app `web`. Known apps: `api`.") {
		t.Errorf("status web: %q", got)
	}
	events, err := h.store.Events(context.Background(), release.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	queries := 0
	for _, e := range events {
		if e.Action == "query" && e.Actor == dev {
			queries++
		}
	}
	if queries != 3 {
		t.Errorf("queries audited = %d; want status, history and history staging", queries)
	}
}

func TestHelpComesFromTheCommandTable(t *testing.T) {
	h := newHarness(t)
	got := h.do(dev, "help").Text
	for _, verb := range []string{"deploy", "env up", "env down", "env list", "promote", "rollback", "status", "history", "lock", "unlock", "approve", "deny", "cancel"} {
		if !strings.Contains(got, verb) {
			t.Errorf("help lacks %q", verb)
		}
	}
}

func TestReleaseNotFound(t *testing.T) {
	h := newHarness(t)
	for _, text := range []string{"approve 9", "deny 9", "cancel 9"} {
		if got := h.do(admin1, text).Text; got != "There is no release #9." {
			t.Errorf("%s: %q", text, got)
		}
	}
	if _, err := h.store.GetRelease(context.Background(), 9); !errors.Is(err, release.ErrNotFound) {
		t.Fatal(err)
	}
}

func TestExpiryUpdatesTheCardWhenTimeIsUp(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *release.Ports) { c.Approvals.Timeout = 300 * time.Millisecond })
	h.stop()
	h.realTime, h.interval = true, time.Hour // no sweep will come: only the expiry timer
	h.startWorker()
	h.do(dev, "deploy api master")
	h.waitState(1, release.AwaitingApproval)
	start := time.Now()
	h.waitState(1, release.Expired)
	if waited := time.Since(start); waited > 2*time.Second {
		t.Errorf("the card said expired after %v; want about 300ms", waited)
	}
}

func TestApprovalsChannelGetsACopyLinkingBack(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *release.Ports) {
		prod := c.Environments["production"]
		prod.ApprovalsChannel = "CAPPROVALS"
		c.Environments["production"] = prod
	})
	h.do(dev, "deploy api master")
	h.waitState(1, release.AwaitingApproval)
	var copyRef release.MessageRef
	h.eventually("the approvals copy", func() bool {
		msgs, err := h.store.Messages(context.Background(), 1)
		copyRef = msgs[release.RoleApprovals]
		return err == nil && copyRef.TS != ""
	})
	if copyRef.Channel != "CAPPROVALS" {
		t.Fatalf("copy posted in %q", copyRef.Channel)
	}
	h.chat.mu.Lock()
	note := h.chat.cards[copyRef.TS].Note
	h.chat.mu.Unlock()
	if !strings.Contains(note, "Requested in <#CASK>") || !strings.Contains(note, "|Open the release thread>") {
		t.Errorf("copy's note = %q", note)
	}
	h.do(admin1, "approve 1")
	h.waitState(1, release.Succeeded)
	h.eventually("the copy to show the outcome", func() bool {
		h.chat.mu.Lock()
		defer h.chat.mu.Unlock()
		return h.chat.cards[copyRef.TS].Release.State == release.Succeeded
	})
}

func TestStartShowsRecentlyFinishedCardsAgain(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api feature-x")
	h.waitState(1, release.Succeeded)
	h.eventually("the outcome announced", func() bool { return len(h.announcements()) == 2 })
	h.stop()
	h.chat.mu.Lock()
	updates := h.chat.updates
	h.chat.mu.Unlock()
	h.startWorker()
	h.eventually("the card sent again", func() bool {
		h.chat.mu.Lock()
		defer h.chat.mu.Unlock()
		return h.chat.updates > updates
	})
	h.eventually("the build's final view sent again", func() bool {
		h.chat.mu.Lock()
		defer h.chat.mu.Unlock()
		for _, views := range h.chat.views {
			n := len(views)
			if n >= 2 && views[n-1].Result == "SUCCESS" && views[n-2].Result == "SUCCESS" {
				return true
			}
		}
		return false
	})
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	if h.chat.posts != 1 || len(h.chat.announced) != 2 || len(h.chat.views) != 1 {
		t.Errorf("after the restart: %d cards and %d live messages posted, %d announcements; want the card and build updated, nothing posted",
			h.chat.posts, len(h.chat.views), len(h.chat.announced))
	}
}

// A busy environment's status line names its oldest releases in flight and
// counts the rest, instead of growing past what Slack shows.
func TestStatusCountsWhatItDoesNotName(t *testing.T) {
	h := newHarness(t)
	for i := range 8 {
		h.do(dev, "deploy api master")
		h.waitState(release.ID(i+1), release.AwaitingApproval)
	}
	status := h.do(dev, "status api").Text
	for _, want := range []string{"#1 ", "#5 ", " · and 3 more in flight (`/hoist history api production`)"} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	if strings.Contains(status, "#6 ") {
		t.Errorf("status names more than 5 releases in flight:\n%s", status)
	}
}
