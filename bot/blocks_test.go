package bot

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/")

// cardNow is the clock of every card test: half an hour before the
// approval deadline of the awaiting cards.
var cardNow = time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)

func baseRelease() release.Release {
	return release.Release{
		ID:               42,
		Kind:             release.KindDeploy,
		App:              "api",
		Env:              "production",
		Ref:              "main",
		Commit:           "abc1234def5678abc1234def5678abc1234def56",
		Reason:           "hotfix for login",
		RequestedBy:      "U123",
		Channel:          "C123",
		State:            release.AwaitingApproval,
		ApprovalDeadline: time.Date(2026, 11, 27, 23, 30, 0, 0, time.UTC),
	}
}

func vote(user string, approve bool, reason string) release.Vote {
	return release.Vote{ReleaseID: 42, Voter: user, Approve: approve, Reason: reason, At: cardNow}
}

type cardCase struct {
	name     string
	card     release.Card
	now      time.Time
	fallback string
}

func cardCases() []cardCase {
	with := func(f func(r *release.Release)) release.Release {
		r := baseRelease()
		f(&r)
		return r
	}
	return []cardCase{
		{
			name:     "awaiting_no_votes",
			card:     release.Card{Release: baseRelease(), RequiredApprovals: 2},
			fallback: "Release #42: deploy api main → production — awaiting approval",
		},
		{
			name:     "awaiting_one_vote",
			card:     release.Card{Release: baseRelease(), RequiredApprovals: 2, Votes: []release.Vote{vote("UA1", true, "")}},
			fallback: "Release #42: deploy api main → production — awaiting approval",
		},
		{
			name: "awaiting_past_deadline",
			card: release.Card{Release: baseRelease(), RequiredApprovals: 1},
			now:  cardNow.Add(time.Hour),
		},
		{
			name: "approved",
			card: release.Card{
				Release:           with(func(r *release.Release) { r.State = release.Approved }),
				RequiredApprovals: 2,
				Votes:             []release.Vote{vote("UA1", true, ""), vote("UA2", true, "")},
			},
			fallback: "Release #42: deploy api main → production — approved",
		},
		{
			name: "denied_with_reason",
			card: release.Card{
				Release: with(func(r *release.Release) {
					r.State = release.Denied
					r.StateReason = "denied by <@UD1>"
				}),
				RequiredApprovals: 2,
				Votes:             []release.Vote{vote("UA1", true, ""), vote("UD1", false, "not during the freeze <!channel> & no rollback plan")},
			},
			fallback: "Release #42: deploy api main → production — denied",
		},
		{
			name: "failed_with_reason",
			card: release.Card{
				Release: with(func(r *release.Release) {
					r.State = release.Failed
					r.StateReason = "build: FAILURE <https://jenkins.example.com/job/api/12/|#12>"
				}),
				Note: "Check the build log in the thread, then ask for the release again.",
			},
			fallback: "Release #42: deploy api main → production — failed",
		},
		{
			name: "promote_building",
			card: release.Card{Release: with(func(r *release.Release) {
				r.Kind, r.FromEnv, r.Ref, r.State, r.Reason = release.KindPromote, "staging", "", release.Building, ""
			})},
			fallback: "Release #42: promote api abc1234 staging → production — building",
		},
		{
			name: "env_up_rolling_out",
			card: release.Card{Release: with(func(r *release.Release) {
				r.Kind, r.Env, r.Ref, r.Commit, r.State = release.KindEnvUp, "feat-login", "feat/login", "", release.RollingOut
			})},
			fallback: "Release #42: env up feat-login for api feat/login — rolling out",
		},
		{
			name: "env_down_expired",
			card: release.Card{Release: with(func(r *release.Release) {
				r.Kind, r.Env, r.Ref, r.Commit, r.State, r.StateReason = release.KindEnvDown, "feat-login", "feat/login", "", release.Expired, "nobody approved in time"
			})},
			fallback: "Release #42: env down feat-login for api feat/login — expired",
		},
		{
			name: "rollback_succeeded",
			card: release.Card{Release: with(func(r *release.Release) {
				r.Kind, r.Ref, r.State = release.KindRollback, "v1.4.2", release.Succeeded
			})},
			fallback: "Release #42: roll back api on production — succeeded",
		},
		{
			name: "cancelled",
			card: release.Card{Release: with(func(r *release.Release) {
				r.State, r.StateReason = release.Cancelled, "cancelled by <@U123>"
			})},
			fallback: "Release #42: deploy api main → production — cancelled",
		},
		{
			name: "deploy_with_commit",
			card: release.Card{Release: with(func(r *release.Release) {
				r.State = release.Building
				r.CommitTitle = "Fix <!channel> & the *login* <@U999>"
				r.CommitURL = "https://github.com/acme/api/commit/" + r.Commit
			})},
			fallback: "Release #42: deploy api main → production — building",
		},
		{
			name: "long_reason_truncated",
			card: release.Card{
				Release: with(func(r *release.Release) {
					r.State = release.Failed
					r.Reason = strings.Repeat("why ", 1000)
					r.StateReason = strings.Repeat("x & y ", 1000)
				}),
				Votes: []release.Vote{vote("UD1", false, strings.Repeat("no ", 2000))},
				Note:  strings.Repeat("note ", 1000),
			},
			fallback: "Release #42: deploy api main → production — failed",
		},
	}
}

// marshalBlocks is json.MarshalIndent of the blocks, with <, > and & shown
// as they are rather than as \u003c and the like (the same JSON), so that
// golden files read as Slack shows them.
func marshalBlocks(t *testing.T, blocks []slack.Block) []byte {
	t.Helper()
	b, err := json.MarshalIndent(blocks, "", "  ")
	if err != nil {
		t.Fatalf("marshal blocks: %v", err)
	}
	b = bytes.ReplaceAll(b, []byte(`\u003c`), []byte("<"))
	b = bytes.ReplaceAll(b, []byte(`\u003e`), []byte(">"))
	b = bytes.ReplaceAll(b, []byte(`\u0026`), []byte("&"))
	return append(b, '\n')
}

func render(tc cardCase) ([]slack.Block, string) {
	now := tc.now
	if now.IsZero() {
		now = cardNow
	}
	return RenderCard(tc.card, now)
}

// checkGolden compares got with the golden file at path, or rewrites the
// file with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("blocks differ from %s (run with -update if the change is intended):\n%s", path, got)
	}
}

func TestRenderCardGolden(t *testing.T) {
	for _, tc := range cardCases() {
		t.Run(tc.name, func(t *testing.T) {
			blocks, fallback := render(tc)
			got := marshalBlocks(t, blocks)
			checkGolden(t, filepath.Join("testdata", "card_"+tc.name+".golden.json"), got)
			if tc.fallback != "" && fallback != tc.fallback {
				t.Errorf("fallback = %q, want %q", fallback, tc.fallback)
			}
		})
	}
}

// blockMaps decodes blocks the way Slack receives them.
func blockMaps(t *testing.T, blocks []slack.Block) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(marshalBlocks(t, blocks), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRenderCardApprovalButtons(t *testing.T) {
	blocks, _ := RenderCard(release.Card{Release: baseRelease(), RequiredApprovals: 2}, cardNow)
	var actions *slack.ActionBlock
	for _, b := range blocks {
		if a, ok := b.(*slack.ActionBlock); ok {
			actions = a
		}
	}
	if actions == nil {
		t.Fatal("no actions block on a card awaiting approval")
	}
	if actions.BlockID != "release_42_actions" {
		t.Errorf("actions block_id = %q", actions.BlockID)
	}
	if len(actions.Elements.ElementSet) != 2 {
		t.Fatalf("got %d buttons, want 2", len(actions.Elements.ElementSet))
	}
	approve, ok1 := actions.Elements.ElementSet[0].(*slack.ButtonBlockElement)
	deny, ok2 := actions.Elements.ElementSet[1].(*slack.ButtonBlockElement)
	if !ok1 || !ok2 {
		t.Fatalf("elements are not buttons: %T %T", actions.Elements.ElementSet[0], actions.Elements.ElementSet[1])
	}
	if approve.ActionID != "hoist_approve" || approve.Value != "42" || approve.Style != slack.StylePrimary || approve.Text.Text != "Approve" || approve.Confirm != nil {
		t.Errorf("approve button = %+v", approve)
	}
	if deny.ActionID != "hoist_deny" || deny.Value != "42" || deny.Style != slack.StyleDanger || deny.Text.Text != "Deny" {
		t.Errorf("deny button = %+v", deny)
	}
	c := deny.Confirm
	if c == nil {
		t.Fatal("deny has no confirmation dialog")
	}
	if c.Title.Text != "Deny release #42?" || c.Confirm.Text != "Deny" || c.Deny == nil || c.Deny.Text != "Keep" || c.Text.Text == "" {
		t.Errorf("confirm = title %q text %q confirm %q deny %+v", c.Title.Text, c.Text.Text, c.Confirm.Text, c.Deny)
	}
	if _, err := release.ParseID(approve.Value); err != nil {
		t.Errorf("button value %q does not parse as a release ID: %v", approve.Value, err)
	}
}

func TestRenderCardNoButtonsOnceDecided(t *testing.T) {
	for _, s := range release.AllStates() {
		if s == release.AwaitingApproval {
			continue
		}
		r := baseRelease()
		r.State = s
		blocks, _ := RenderCard(release.Card{Release: r, RequiredApprovals: 2, Votes: []release.Vote{vote("UA1", true, "")}}, cardNow)
		for _, b := range blocks {
			if b.BlockType() == slack.MBTAction {
				t.Errorf("state %s: card has an actions block", s)
			}
		}
	}
}

func TestRenderCardTiesBlocksToRelease(t *testing.T) {
	for _, tc := range cardCases() {
		blocks, _ := render(tc)
		seen := map[string]bool{}
		for _, b := range blockMaps(t, blocks) {
			id, _ := b["block_id"].(string)
			if !strings.HasPrefix(id, "release_42_") {
				t.Errorf("%s: block_id %q does not name the release", tc.name, id)
			}
			if seen[id] {
				t.Errorf("%s: duplicate block_id %q", tc.name, id)
			}
			seen[id] = true
		}
	}
}

// walkTexts calls f with the path and value of every "text" string.
func walkTexts(path string, v any, f func(path, text string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if s, ok := child.(string); ok && k == "text" {
				f(path+"/"+k, s)
				continue
			}
			walkTexts(path+"/"+k, child, f)
		}
	case []any:
		for i, child := range v {
			walkTexts(path+"/"+strconv.Itoa(i), child, f)
		}
	}
}

func TestRenderCardWithinSlackLimits(t *testing.T) {
	for _, tc := range cardCases() {
		blocks, fallback := render(tc)
		if len(blocks) > 50 {
			t.Errorf("%s: %d blocks", tc.name, len(blocks))
		}
		for i, b := range blockMaps(t, blocks) {
			walkTexts("", b, func(path, text string) {
				limit := 3000
				switch {
				case strings.HasSuffix(path, "/confirm/title/text"):
					limit = 100
				case strings.HasSuffix(path, "/confirm/text/text"):
					limit = 300
				case strings.HasSuffix(path, "/confirm/confirm/text"), strings.HasSuffix(path, "/confirm/deny/text"):
					limit = 30
				case b["type"] == "actions":
					limit = 75 // button labels
				}
				if n := utf8.RuneCountInString(text); n > limit || n == 0 {
					t.Errorf("%s: block %d%s has %d characters, limit %d", tc.name, i, path, n, limit)
				}
			})
		}
		if utf8.RuneCountInString(fallback) > 3000 {
			t.Errorf("%s: fallback too long", tc.name)
		}
	}
}

func TestRenderCardTruncatesLongReasons(t *testing.T) {
	var tc cardCase
	for _, c := range cardCases() {
		if c.name == "long_reason_truncated" {
			tc = c
		}
	}
	blocks, _ := render(tc)
	var texts []string
	for _, b := range blockMaps(t, blocks) {
		walkTexts("", b, func(_, text string) { texts = append(texts, text) })
	}
	js := strings.Join(texts, "\n")
	if n := strings.Count(js, "…"); n < 4 {
		t.Errorf("found %d truncation marks, want one each for state reason, reason, denial and note", n)
	}
	if strings.Contains(js, "&am…") || strings.Contains(js, "&a…") || strings.Contains(js, "&…") {
		t.Error("an &-escape was cut in half")
	}
}

func TestRenderCardEscapesFreeText(t *testing.T) {
	r := baseRelease()
	r.Reason = "ping <!here> & <!subteam^S123> but keep <@U999> and <https://example.com|docs>"
	r.Ref = "feat/`odd`"
	blocks, fallback := RenderCard(release.Card{Release: r}, cardNow)
	var mrkdwn strings.Builder
	for _, b := range blockMaps(t, blocks) {
		if b["type"] == "actions" {
			continue // plain text, shown as typed
		}
		walkTexts("", b, func(_, text string) { mrkdwn.WriteString(text + "\n") })
	}
	texts := mrkdwn.String()
	for _, bad := range []string{"<!here>", "<!subteam", "`odd`"} {
		if strings.Contains(texts, bad) {
			t.Errorf("card carries %q unescaped:\n%s", bad, texts)
		}
	}
	for _, good := range []string{"&lt;!here&gt;", "&amp;", "<@U999>", "<https://example.com|docs>", "<!date^", "`feat/'odd'`"} {
		if !strings.Contains(texts, good) {
			t.Errorf("card lacks %q:\n%s", good, texts)
		}
	}
	if strings.Contains(fallback, "<!") {
		t.Errorf("fallback %q carries a special mention", fallback)
	}
}

func TestSlackText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain *bold* `code`", "plain *bold* `code`"},
		{"a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"},
		{"<!here> <!channel> <!everyone>", "&lt;!here&gt; &lt;!channel&gt; &lt;!everyone&gt;"},
		{"<!subteam^S1|@admins>", "&lt;!subteam^S1|@admins&gt;"},
		{"by <@U123> in <#C123> and <#C123|deploys>", "by <@U123> in <#C123> and <#C123|deploys>"},
		{"see <https://ci.example.com/job/1|#1> and <http://x.test>", "see <https://ci.example.com/job/1|#1> and <http://x.test>"},
		{"<javascript:alert(1)|x>", "&lt;javascript:alert(1)|x&gt;"},
		{"<@U1|<!here>>", "&lt;@U1|&lt;!here&gt;&gt;"},
		{"<@U1 nope>", "&lt;@U1 nope&gt;"},
		{"<!date^1700000000^{date}|2023-11-14>", "<!date^1700000000^{date}|2023-11-14>"},
		{"unclosed <@U1", "unclosed &lt;@U1"},
		{"already escaped &lt;!here&gt; &amp; kept once", "already escaped &lt;!here&gt; &amp; kept once"},
		{"&ampersand &#60;", "&amp;ampersand &amp;#60;"},
	} {
		if got := SlackText(tc.in); got != tc.want {
			t.Errorf("SlackText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFitText(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghi…"},
		{"ééééééééééé", 5, "éééé…"},
		{"abc &amp; def", 7, "abc …"},
		{"abc <@U12345> def", 9, "abc …"},
		{"<@U1> tail text", 10, "<@U1> tai…"},
	} {
		if got := fitText(tc.in, tc.limit); got != tc.want {
			t.Errorf("fitText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}
