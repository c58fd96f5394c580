package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
	"github.com/hoistbot/hoist/internal/store"
)

// TestBadInput sends bad requests to the real server: each gets its clear
// answer and changes nothing but, for refusals, the audit log.
func TestBadInput(t *testing.T) {
	h := start(t, release.Ports{}, "HOIST_SLACK_ALLOWED_CHANNELS="+askChannel+",CSECOND")
	st := h.openStore()
	if a := h.command(admin, "/hoist", "lock production release freeze"); !strings.Contains(a.reply.Text, "locked *production*") {
		t.Fatalf("lock: %+v", a)
	}
	cmdBody := func(team, channel, slash, text string) []byte {
		return slackreq.SlashCommand{TeamID: team, ChannelID: channel, UserID: developer, Command: slash, Text: text,
			ResponseURL: h.slack.ResponseURL("bad")}.Body()
	}
	good := cmdBody(team, askChannel, "/hoist", "status")
	stale := slackreq.Signer{Secret: signingSecret, Now: func() time.Time { return time.Now().Add(-6 * time.Minute) }}

	tests := []struct {
		name    string
		body    []byte
		headers http.Header
		status  int
		reply   string // substring of the ephemeral reply
		refusal bool   // audited as a refusal
	}{
		{name: "unsigned", body: good, headers: http.Header{}, status: 401},
		{name: "tampered", body: cmdBody(team, askChannel, "/hoist", "deploy api master"), headers: h.signer.Headers(good), status: 401},
		{name: "stale", body: good, headers: stale.Headers(good), status: 401},
		{name: "signed with another secret", body: good, headers: slackreq.Signer{Secret: "not-ours"}.Headers(good), status: 401},
		{name: "other team", body: cmdBody("T0THER", askChannel, "/hoist", "status"), status: 403},
		{name: "oversized", body: append(cmdBody(team, askChannel, "/hoist", "status"), strings.Repeat("x", bot.MaxBodyBytes)...), status: 413},
		{name: "channel not allowed", body: cmdBody(team, "COTHER", "/deploy", "api master"), status: 200,
			reply: "Hoist does not take commands in this channel. Use <#CASK>, <#CSECOND>."},
		{name: "unknown command", body: cmdBody(team, askChannel, "/hoist", "dpeloy api master"), status: 200, reply: "Did you mean `deploy`?"},
		{name: "unknown slash command", body: cmdBody(team, askChannel, "/ship", "api master"), status: 200, reply: "Hoist does not know `/ship`"},
		{name: "wrong arity", body: cmdBody(team, askChannel, "/deploy", "api"), status: 200, reply: "Usage: `/hoist deploy APP REF [to ENV]`"},
		{name: "bad ref", body: cmdBody(team, askChannel, "/deploy", "api feature..x"), status: 200, reply: "not a valid"},
		{name: "unknown app", body: cmdBody(team, askChannel, "/deploy", "web master"), status: 200,
			reply: "Unknown app `web`. Known apps: `api`.", refusal: true},
		{name: "unknown environment", body: cmdBody(team, askChannel, "/deploy", "api master to prod"), status: 200,
			reply: "Unknown environment `prod`. Known environments: `production`, `staging`, `test`.", refusal: true},
		{name: "contradicting to ENV", body: cmdBody(team, askChannel, "/deploy", "api feature-x to production"), status: 200,
			reply: "`feature-x` deploys to *test*; *production* deploys from branch `master`.", refusal: true},
		{name: "locked environment", body: cmdBody(team, askChannel, "/deploy", "api master"), status: 200,
			reply: "*production* is locked by <@UADMIN1> since just now: release freeze. Ask them, or an admin, to `/hoist unlock production`.", refusal: true},
		{name: "vote by a developer", body: cmdBody(team, askChannel, "/hoist", "approve 1"), status: 200,
			reply: "There is no release #1.", refusal: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, st)
			headers := tt.headers
			if headers == nil {
				headers = h.signer.Headers(tt.body)
			}
			a := h.post("/slack/commands", tt.body, headers)
			if a.status != tt.status {
				t.Fatalf("status = %d (%s); want %d", a.status, a.body, tt.status)
			}
			if tt.reply != "" {
				if a.reply.ResponseType != "ephemeral" || !strings.Contains(a.reply.Text, tt.reply) {
					t.Fatalf("reply = %+v; want an ephemeral reply containing %q", a.reply, tt.reply)
				}
			}
			after := snapshot(t, st)
			if after.releases != before.releases || after.locks != before.locks {
				t.Errorf("state changed: %+v → %+v", before, after)
			}
			wantEvents := before.events
			if tt.refusal {
				wantEvents++
			}
			if after.events != wantEvents {
				t.Errorf("audit events %d → %d; want %d", before.events, after.events, wantEvents)
			}
		})
	}
}

type state struct{ releases, locks, events int }

func snapshot(t *testing.T, st store.Store) state {
	t.Helper()
	ctx := context.Background()
	rs, err := st.ListReleases(ctx, release.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := st.ListLocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.Events(ctx, release.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return state{len(rs), len(ls), len(es)}
}

// TestProductionDeployThroughSlack walks one release through the real
// HTTP endpoints, the real notifier and a Slack API server on loopback.
func TestProductionDeployThroughSlack(t *testing.T) {
	h := start(t, release.Ports{Pipeline: &instantPipeline{}})
	st := h.openStore()

	a := h.command(developer, "/deploy", "api master")
	if a.status != 200 || !strings.Contains(a.reply.Text, "Release #1 requested: deploy `api` `master` → *production*. *production* is protected: it needs 1 approval from <@UADMIN1>, <@UADMIN2> before it builds.") {
		t.Fatalf("deploy reply: %+v", a)
	}
	r := h.waitRelease(st, 1, release.AwaitingApproval)
	card := h.waitMessage(bot.ActionApprove)
	if card.Channel != askChannel || card.TS != r.MessageTS || !strings.Contains(string(card.Metadata), `"release_id":"1"`) {
		t.Fatalf("card = %+v; release = %+v", card, r)
	}
	if !h.slack.IsMember(appChannel) {
		t.Error("Hoist did not join the app's public channel to announce the release")
	}
	h.waitMessage("Release #1 started")

	if a := h.click(developer, bot.ActionApprove, 1, "dev-click"); a.status != 200 {
		t.Fatalf("developer click: %+v", a)
	}
	h.eventually(t, "the developer's refusal", func() bool { return len(h.responses("dev-click")) == 1 })
	if got := h.responses("dev-click")[0]; !strings.Contains(got, "Only admins can approve or deny releases to *production*") {
		t.Fatalf("developer's click answered %q", got)
	}
	if r, _ := st.GetRelease(context.Background(), 1); r.State != release.AwaitingApproval {
		t.Fatalf("a developer's click moved the release to %s", r.State)
	}

	if a := h.click(admin, bot.ActionApprove, 1, "admin-click"); a.status != 200 {
		t.Fatalf("admin click: %+v", a)
	}
	r = h.waitRelease(st, 1, release.Succeeded)
	if r.StateReason != "build <http://jenkins.test/job/api/production/7/|#7> success; rollout not watched: cluster main: not connected: no in-cluster configuration (not running in a pod?); set clusters.main.kubeconfig" {
		t.Errorf("reason = %q", r.StateReason)
	}
	h.waitMessage("Release #1 succeeded")
	h.eventually(t, "the card to show the outcome", func() bool {
		final, _ := h.slack.Message(askChannel, r.MessageTS)
		return final.Edits > 0 && strings.Contains(final.Text, "succeeded") && !strings.Contains(string(final.Blocks), bot.ActionApprove)
	})
	topLevel, inThread := 0, 0
	for _, m := range h.slack.Messages() {
		switch m.ThreadTS {
		case "":
			topLevel++
		case r.MessageTS:
			inThread++
		}
	}
	if topLevel != 3 || inThread != 1 {
		t.Errorf("messages: %d top-level, %d in the card's thread; want the card and two announcements, and the build", topLevel, inThread)
	}

	if a := h.click(admin2, bot.ActionApprove, 1, "late-click"); a.status != 200 {
		t.Fatalf("late click: %+v", a)
	}
	h.eventually(t, "the late click's answer", func() bool { return len(h.responses("late-click")) == 1 })
	if got := h.responses("late-click")[0]; !strings.Contains(got, "already approved by <@UADMIN1>") {
		t.Errorf("late click answered %q", got)
	}
}

func (h *hoist) eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEventsAndProbes(t *testing.T) {
	h := start(t, release.Ports{})
	body := []byte(`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	a := h.post("/slack/events", body, h.signer.Headers(body))
	if a.status != 200 || a.body != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("challenge: %+v", a)
	}
	if a := h.post("/slack/events", body, http.Header{}); a.status != 401 {
		t.Fatalf("unsigned challenge: %d", a.status)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s = %d", path, resp.StatusCode)
		}
	}
}

func TestPrivateChannelTellsHowToInvite(t *testing.T) {
	h := start(t, release.Ports{})
	body := slackreq.SlashCommand{TeamID: team, ChannelID: "CPRIVATE", UserID: developer, Command: "/deploy", Text: "api feature-x",
		ResponseURL: h.slack.ResponseURL("private")}.Body()
	a := h.post("/slack/commands", body, h.signer.Headers(body))
	if !strings.Contains(a.reply.Text, "Release #1 requested") {
		t.Fatalf("reply: %+v", a)
	}
	h.eventually(t, "the invitation advice", func() bool { return len(h.responses("private")) == 1 })
	if got := h.responses("private")[0]; !strings.Contains(got, "/invite @Hoist") {
		t.Fatalf("advice = %q", got)
	}
	h.waitRelease(h.openStore(), 1, release.Failed)
}

func TestStatusHistoryAndHelpAnswerFromTheStore(t *testing.T) {
	h := start(t, release.Ports{})
	h.command(developer, "/deploy", "api feature-x")
	st := h.openStore()
	r := h.waitRelease(st, 1, release.Failed)
	if !strings.Contains(r.StateReason, "no build server is connected to Hoist (set jenkins.url)") {
		t.Fatalf("reason = %q", r.StateReason)
	}
	if a := h.command(developer, "/hoist", "history api"); !strings.Contains(a.reply.Text, "#1 deploy `api` `feature-x` → *test* — failed") {
		t.Errorf("history: %+v", a.reply)
	}
	if a := h.command(developer, "/hoist", "status"); !strings.Contains(a.reply.Text, "• *test*: nothing released yet") {
		t.Errorf("status: %+v", a.reply)
	}
	if a := h.command(developer, "/hoist", "help deploy"); !strings.Contains(a.reply.Text, "/hoist deploy APP REF [to ENV]") {
		t.Errorf("help: %+v", a.reply)
	}
}
