package app_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
	"github.com/hoistbot/hoist/internal/store"
	"github.com/hoistbot/hoist/internal/store/storetest"
)

// requestProduction asks for a production deploy as developer and waits
// for its card.
func requestProduction(t *testing.T, h *hoist, st store.Store) release.Release {
	t.Helper()
	if a := h.command(developer, "/deploy", "api master"); !strings.Contains(a.reply.Text, "Release #1 requested") {
		t.Fatalf("deploy: %+v", a.reply)
	}
	return h.waitRelease(st, 1, release.AwaitingApproval)
}

func (h *hoist) waitResponse(t *testing.T, id string) string {
	t.Helper()
	h.eventually(t, "a reply at "+id, func() bool { return len(h.responses(id)) > 0 })
	return h.responses(id)[0]
}

func transitionsTo(t *testing.T, st store.Store, id release.ID, state release.State) int {
	t.Helper()
	events, err := st.Events(context.Background(), release.EventFilter{ReleaseID: id})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events {
		if e.Action == "transition" && strings.Contains(e.Detail, "→ "+string(state)) {
			n++
		}
	}
	return n
}

// TestHundredConcurrentApprovals fires 100 signed Approve clicks at once
// at the real HTTP server: one approved transition, one build.
func TestHundredConcurrentApprovals(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			env := []string{}
			admins := []string{admin, admin2}
			for i := range 8 {
				admins = append(admins, fmt.Sprintf("UADMIN%02d", i+10))
			}
			env = append(env, "HOIST_RBAC_ADMINS="+strings.Join(admins, ","))
			if driver == "postgres" {
				env = append(env, "HOIST_STORE_DRIVER=postgres", "HOIST_STORE_DSN="+storetest.PostgresDSN(t))
			}
			ci := &instantPipeline{}
			h := start(t, release.Ports{Pipeline: ci}, env...)
			st := h.openStore()
			requestProduction(t, h, st)

			const clicks = 100
			var wg sync.WaitGroup
			statuses := make(chan int, clicks)
			begin := make(chan struct{})
			for i := range clicks {
				body := slackreq.BlockAction{TeamID: team, ChannelID: askChannel, UserID: admins[i%len(admins)], ActionID: bot.ActionApprove,
					BlockID: "release_1_actions", Value: "1", ResponseURL: h.slack.ResponseURL(fmt.Sprintf("click-%d", i))}.Body()
				headers := h.signer.Headers(body)
				wg.Go(func() {
					<-begin
					req, _ := http.NewRequest(http.MethodPost, h.url+"/slack/interactions", strings.NewReader(string(body)))
					req.Header = headers.Clone()
					req.Header.Set("Content-Type", slackreq.Form)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					statuses <- resp.StatusCode
				})
			}
			t0 := time.Now()
			close(begin)
			wg.Wait()
			t.Logf("clicks answered in %v", time.Since(t0))
			close(statuses)
			for s := range statuses {
				if s != http.StatusOK {
					t.Errorf("a click got HTTP %d", s)
				}
			}
			h.waitRelease(st, 1, release.Succeeded)
			t.Logf("succeeded after %v", time.Since(t0))
			if n := transitionsTo(t, st, 1, release.Approved); n != 1 {
				t.Errorf("approved transitions = %d; want exactly 1", n)
			}
			if n := transitionsTo(t, st, 1, release.Building); n != 1 {
				t.Errorf("builds started = %d; want exactly 1", n)
			}
			if n := ci.builds.Load(); n != 1 {
				t.Errorf("builds run = %d; want exactly 1", n)
			}
			h.eventually(t, "an answer to every click", func() bool {
				return len(h.slack.Calls("response_url")) >= clicks
			})
			t.Logf("replies sent after %v", time.Since(t0))
			approved := 0
			for _, c := range h.slack.Calls("response_url") {
				if c.Params["text"] == "Release #1 approved." {
					approved++
				}
			}
			if approved != 1 {
				t.Errorf("%d clicks were told they approved the release; want 1", approved)
			}
		})
	}
}

func TestApprovalRules(t *testing.T) {
	t.Run("self-approval refused", func(t *testing.T) {
		h := start(t, release.Ports{Pipeline: &instantPipeline{}})
		st := h.openStore()
		h.command(admin, "/deploy", "api master")
		h.waitRelease(st, 1, release.AwaitingApproval)
		h.click(admin, bot.ActionApprove, 1, "self")
		if got := h.waitResponse(t, "self"); !strings.Contains(got, "You requested release #1, so another admin must approve it.") {
			t.Fatalf("self approval answered %q", got)
		}
		if r, _ := st.GetRelease(context.Background(), 1); r.State != release.AwaitingApproval {
			t.Fatalf("release is %s", r.State)
		}
		assertAudited(t, st, "refuse", admin)
	})
	t.Run("self-approval allowed by config", func(t *testing.T) {
		h := start(t, release.Ports{Pipeline: &instantPipeline{}}, "HOIST_RBAC_ALLOW_SELF_APPROVAL=true")
		st := h.openStore()
		h.command(admin, "/deploy", "api master")
		h.waitRelease(st, 1, release.AwaitingApproval)
		h.click(admin, bot.ActionApprove, 1, "self")
		h.waitRelease(st, 1, release.Succeeded)
	})
	t.Run("two of two", func(t *testing.T) {
		h := start(t, release.Ports{Pipeline: &instantPipeline{}}, "HOIST_RBAC_REQUIRED_APPROVALS=2")
		st := h.openStore()
		r := requestProduction(t, h, st)
		h.click(admin, bot.ActionApprove, 1, "first")
		if got := h.waitResponse(t, "first"); got != "Your approval of release #1 is recorded: 1 of 2." {
			t.Fatalf("first approval answered %q", got)
		}
		h.click(admin, bot.ActionApprove, 1, "again")
		if got := h.waitResponse(t, "again"); got != "You already voted on release #1; a vote cannot be changed." {
			t.Fatalf("a second click by the same admin answered %q", got)
		}
		h.waitMessageIn(t, r.MessageTS, "Approvals: 1 of 2 (<@UADMIN1>)")
		h.click(admin2, bot.ActionApprove, 1, "second")
		h.waitRelease(st, 1, release.Succeeded)
		h.waitMessageIn(t, r.MessageTS, "Approved by <@UADMIN1>, <@UADMIN2>")
	})
	t.Run("deny with reason", func(t *testing.T) {
		h := start(t, release.Ports{Pipeline: &instantPipeline{}})
		st := h.openStore()
		r := requestProduction(t, h, st)
		if a := h.command(admin, "/hoist", "deny 1 not during the freeze"); a.reply.Text != "Release #1 denied." {
			t.Fatalf("deny: %+v", a.reply)
		}
		r2 := h.waitRelease(st, 1, release.Denied)
		if r2.StateReason != "denied by <@UADMIN1>: not during the freeze" {
			t.Errorf("reason = %q", r2.StateReason)
		}
		h.waitMessageIn(t, r.MessageTS, "⛔ *Denied*")
		h.waitMessageIn(t, r.MessageTS, "Denied by <@UADMIN1>")
		msg, _ := h.slack.Message(askChannel, r.MessageTS)
		if strings.Contains(string(msg.Blocks), bot.ActionApprove) {
			t.Error("the denied card still has buttons")
		}
		h.click(admin2, bot.ActionApprove, 1, "late")
		if got := h.waitResponse(t, "late"); !strings.Contains(got, "already denied by <@UADMIN1>") {
			t.Errorf("click on a denied card answered %q", got)
		}
	})
	t.Run("expiry updates the card", func(t *testing.T) {
		h := start(t, release.Ports{Pipeline: &instantPipeline{}}, "HOIST_APPROVALS_TIMEOUT=1s")
		st := h.openStore()
		r := requestProduction(t, h, st)
		h.waitRelease(st, 1, release.Expired)
		h.waitMessageIn(t, r.MessageTS, "Expired")
		h.click(admin, bot.ActionApprove, 1, "late")
		if got := h.waitResponse(t, "late"); !strings.Contains(got, "expired") {
			t.Errorf("click on an expired card answered %q", got)
		}
		if n := transitionsTo(t, st, 1, release.Approved); n != 0 {
			t.Error("an expired release was approved")
		}
	})
	t.Run("forged and replayed clicks", func(t *testing.T) {
		h := start(t, release.Ports{Pipeline: &instantPipeline{}})
		st := h.openStore()
		requestProduction(t, h, st)
		body := slackreq.BlockAction{TeamID: team, ChannelID: askChannel, UserID: admin, ActionID: bot.ActionApprove,
			Value: "1", ResponseURL: h.slack.ResponseURL("forged")}.Body()
		if a := h.post("/slack/interactions", body, slackreq.Signer{Secret: "guessed"}.Headers(body)); a.status != 401 {
			t.Fatalf("forged click: %d", a.status)
		}
		devBody := slackreq.BlockAction{TeamID: team, ChannelID: askChannel, UserID: developer, ActionID: bot.ActionApprove,
			Value: "1", ResponseURL: h.slack.ResponseURL("dev")}.Body()
		signed := h.signer.Headers(devBody)
		if a := h.post("/slack/interactions", devBody, signed.Clone()); a.status != 200 {
			t.Fatalf("developer click: %d", a.status)
		}
		if a := h.post("/slack/interactions", devBody, signed.Clone()); a.status != 401 {
			t.Fatalf("replayed click: %d", a.status)
		}
		stale := slackreq.Signer{Secret: signingSecret, Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }}
		if a := h.post("/slack/interactions", body, stale.Headers(body)); a.status != 401 {
			t.Fatalf("stale click: %d", a.status)
		}
		time.Sleep(100 * time.Millisecond)
		if r, _ := st.GetRelease(context.Background(), 1); r.State != release.AwaitingApproval {
			t.Fatalf("release is %s", r.State)
		}
		if votes, _ := st.Votes(context.Background(), 1); len(votes) != 0 {
			t.Fatalf("votes = %+v", votes)
		}
	})
}

func assertAudited(t *testing.T, st store.Store, action, actor string) {
	t.Helper()
	events, err := st.Events(context.Background(), release.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == action && e.Actor == actor {
			return
		}
	}
	t.Errorf("no %q event by %s in %+v", action, actor, events)
}

// waitMessageIn waits until the message with ts shows want.
func (h *hoist) waitMessageIn(t *testing.T, ts, want string) {
	t.Helper()
	h.eventually(t, fmt.Sprintf("message %s to show %q", ts, want), func() bool {
		for _, m := range h.slack.Messages() {
			if m.TS == ts && (strings.Contains(unescapeJSON(m.Blocks), want) || strings.Contains(m.Text, want)) {
				return true
			}
		}
		return false
	})
}

// unescapeJSON undoes the HTML escaping encoding/json applies to < > &.
func unescapeJSON(raw []byte) string {
	return strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(raw))
}

func TestAdminGroups(t *testing.T) {
	t.Run("a member of an admin group approves", func(t *testing.T) {
		h := startWith(t, release.Ports{Pipeline: &instantPipeline{}}, []slackapi.Option{slackapi.WithUserGroup("S0OPS", "U0OPS")},
			"HOIST_RBAC_ADMIN_GROUPS=S0OPS")
		st := h.openStore()
		requestProduction(t, h, st)
		h.click("U0NEW", bot.ActionApprove, 1, "outsider")
		if got := h.waitResponse(t, "outsider"); !strings.Contains(got, "members of user group `S0OPS`") {
			t.Fatalf("outsider answered %q", got)
		}
		h.slack.SetUserGroup("S0OPS", "U0OPS", "U0NEW")
		time.Sleep(250 * time.Millisecond) // the directory refreshes a miss at most every 200ms here (10s by default)
		h.click("U0NEW", bot.ActionApprove, 1, "joined")
		if got := h.waitResponse(t, "joined"); got != "Release #1 approved." {
			t.Fatalf("a user just added to the admin group was answered %q", got)
		}
	})
	t.Run("a plan without user groups is said at start-up", func(t *testing.T) {
		h := startWith(t, release.Ports{}, []slackapi.Option{slackapi.WithoutUserGroups()}, "HOIST_RBAC_ADMIN_GROUPS=S0OPS")
		if !strings.Contains(h.logs.String(), "this Slack workspace's plan has no user groups") {
			t.Fatalf("start-up logs do not say so:\n%s", h.logs.String())
		}
	})
}
