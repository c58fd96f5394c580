package bot

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
)

// Slack's limits on the texts a card holds.
const (
	maxSectionText  = 3000
	maxContextText  = 3000
	maxFallbackText = 3000
	maxConfirmTitle = 100
	maxConfirmText  = 300
	maxContextItems = 10
)

// CardMetadataEventType is the event_type of the message metadata on every
// release card; its payload holds {"release_id": "42"}.
const CardMetadataEventType = "hoist_release"

// cardMetadata ties a card's message to its release.
func cardMetadata(id release.ID) slack.SlackMetadata {
	return slack.SlackMetadata{
		EventType:    CardMetadataEventType,
		EventPayload: map[string]any{"release_id": id.String()},
	}
}

// RenderCard renders a release's card as Block Kit blocks, and the one-line
// fallback text Slack shows in notifications. now decides whether the
// approval deadline has passed. Free text (reasons, notes) is shown as
// typed, except that only user and channel mentions, http(s) links and
// dates keep Slack's <…> syntax: <!here> and the like are shown, not
// acted on. Every text stays within Slack's limits.
func RenderCard(c release.Card, now time.Time) (blocks []slack.Block, fallback string) {
	r := c.Release
	id := r.ID.String()
	blockID := func(part string) string { return "release_" + id + "_" + part }

	blocks = append(blocks, cardSection(blockID("title"), cardTitle(r)))
	if line := commitLine(r); line != "" {
		blocks = append(blocks, cardContext(blockID("commit"), line))
	}
	blocks = append(blocks, cardSection(blockID("state"), stateLine(r)))

	var requested []string
	switch r.RequestedBy {
	case "":
	case release.ActorHoist:
		requested = append(requested, "Requested by Hoist")
	default:
		requested = append(requested, "Requested by <@"+safeUserID(r.RequestedBy)+">")
	}
	requested = append(requested, "Release #"+id)
	if reason := strings.TrimSpace(r.Reason); reason != "" {
		requested = append(requested, SlackText(reason))
	}
	blocks = append(blocks, cardContext(blockID("context"), strings.Join(requested, " · ")))

	awaiting := r.State == release.AwaitingApproval
	if awaiting {
		blocks = append(blocks, cardSection(blockID("approvals"), approvalsText(c, now)))
	}
	if lines := voteLines(c.Votes, !awaiting); len(lines) > 0 {
		blocks = append(blocks, cardContext(blockID("votes"), lines...))
	}
	if note := strings.TrimSpace(c.Note); note != "" {
		blocks = append(blocks, cardContext(blockID("note"), SlackText(note)))
	}
	if awaiting {
		blocks = append(blocks, approvalButtons(blockID("actions"), r))
	}
	return blocks, fallbackText(r)
}

func cardSection(blockID, text string) *slack.SectionBlock {
	return slack.NewSectionBlock(
		slack.NewTextBlockObject(slack.MarkdownType, fitText(text, maxSectionText), false, false),
		nil, nil, slack.SectionBlockOptionBlockID(blockID))
}

func cardContext(blockID string, lines ...string) *slack.ContextBlock {
	if len(lines) > maxContextItems {
		lines = lines[:maxContextItems]
	}
	elems := make([]slack.MixedElement, len(lines))
	for i, l := range lines {
		elems[i] = slack.NewTextBlockObject(slack.MarkdownType, fitText(l, maxContextText), false, false)
	}
	return slack.NewContextBlock(blockID, elems...)
}

// kindVerb names a kind of release as a card's title starts.
func kindVerb(k release.Kind) string {
	switch k {
	case release.KindPromote:
		return "Promote"
	case release.KindRollback:
		return "Roll back"
	case release.KindEnvUp:
		return "Env up"
	case release.KindEnvDown:
		return "Env down"
	}
	return "Deploy"
}

// cardTitle is the card's first line, e.g.
// "*Deploy* `api` `main` (`abc1234`) → *production*".
func cardTitle(r release.Release) string {
	app := mdCode(r.App)
	what := app
	if v := cardVersion(r); v != "" {
		what += " " + v
	}
	env := mdBold(r.Env)
	switch r.Kind {
	case release.KindPromote:
		return fmt.Sprintf("*Promote* %s %s → %s", what, mdBold(r.FromEnv), env)
	case release.KindRollback:
		if v := cardVersion(r); v != "" {
			return fmt.Sprintf("*Roll back* %s on %s to %s", app, env, v)
		}
		return fmt.Sprintf("*Roll back* %s on %s", app, env)
	case release.KindEnvUp, release.KindEnvDown:
		return fmt.Sprintf("*%s* %s for %s", kindVerb(r.Kind), env, what)
	}
	return fmt.Sprintf("*Deploy* %s → %s", what, env)
}

// cardVersion names what a release puts in place: "`main` (`abc1234`)", or just
// one of them when only one is known or they are the same commit.
func cardVersion(r release.Release) string {
	short := release.ShortSHA(r.Commit)
	switch {
	case r.Ref == "" && short == "":
		return ""
	case r.Ref == "":
		return mdCode(short)
	case short == "" || len(r.Ref) >= 7 && strings.HasPrefix(r.Commit, r.Ref):
		return mdCode(r.Ref)
	}
	return fmt.Sprintf("%s (%s)", mdCode(r.Ref), mdCode(short))
}

// commitLine is the release's commit as GitHub shows it: the short SHA
// linked to the commit's page, and the first line of its message, which
// is shown as written, never as mentions or links.
func commitLine(r release.Release) string {
	if r.Commit == "" || r.CommitTitle == "" && r.CommitURL == "" {
		return ""
	}
	short := release.ShortSHA(r.Commit)
	line := "Commit " + mdCode(short)
	if u := r.CommitURL; (strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")) && !strings.ContainsAny(u, "<>| \t\n") {
		line = "Commit <" + u + "|" + SlackText(short) + ">"
	}
	if t := strings.TrimSpace(r.CommitTitle); t != "" {
		line += ": " + plainEscaper.Replace(t)
	}
	return line
}

// plainEscaper escapes text so that Slack shows it as written.
var plainEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// stateLook is how a card shows a state.
func stateLook(s release.State) (emoji, label string) {
	switch s {
	case release.Requested:
		return "📝", "Requested"
	case release.AwaitingApproval:
		return "⏳", "Awaiting approval"
	case release.Approved:
		return "✅", "Approved"
	case release.Building:
		return "🔨", "Building"
	case release.RollingOut:
		return "🚀", "Rolling out"
	case release.Succeeded:
		return "✅", "Succeeded"
	case release.Denied:
		return "⛔", "Denied"
	case release.Expired:
		return "⌛", "Expired"
	case release.Cancelled:
		return "🛑", "Cancelled"
	case release.Failed:
		return "❌", "Failed"
	}
	return "❔", release.StateText(s)
}

func stateLine(r release.Release) string {
	emoji, label := stateLook(r.State)
	line := emoji + " *" + label + "*"
	// An approval or denial is shown by the votes line, with who and when.
	decided := r.State == release.Approved || r.State == release.Denied
	if reason := strings.TrimSpace(r.StateReason); reason != "" && !decided {
		line += " — " + SlackText(reason)
	}
	return line
}

// approvalsText is "Approvals: 1 of 2 (<@UA1>)" and when the approval
// window closes.
func approvalsText(c release.Card, now time.Time) string {
	required := max(c.RequiredApprovals, 1)
	approvers := approverIDs(c.Votes)
	text := fmt.Sprintf("Approvals: %d of %d", len(approvers), required)
	if len(approvers) > 0 {
		text += " (" + mentionList(approvers) + ")"
	}
	if d := c.Release.ApprovalDeadline; !d.IsZero() {
		word := "Expires"
		if !now.Before(d) {
			word = "Expired"
		}
		text += "\n" + word + " " + cardDate(d)
	}
	return text
}

// approverIDs are the distinct users who voted to approve, in voting order.
func approverIDs(votes []release.Vote) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range votes {
		if v.Approve && !seen[v.Voter] {
			seen[v.Voter] = true
			out = append(out, v.Voter)
		}
	}
	return out
}

// lastApproval is when the last approving vote came in: when the approval
// was complete.
func lastApproval(votes []release.Vote) time.Time {
	var at time.Time
	for _, v := range votes {
		if v.Approve && v.At.After(at) {
			at = v.At
		}
	}
	return at
}

func mentionList(users []string) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = "<@" + safeUserID(u) + ">"
	}
	return strings.Join(out, ", ")
}

// voteLines shows who approved (when withApprovals) and who denied and why.
func voteLines(votes []release.Vote, withApprovals bool) []string {
	var lines []string
	if a := approverIDs(votes); withApprovals && len(a) > 0 {
		lines = append(lines, "✅ Approved by "+mentionList(a)+" "+cardDate(lastApproval(votes)))
	}
	for _, v := range votes {
		if v.Approve {
			continue
		}
		line := "⛔ Denied by <@" + safeUserID(v.Voter) + "> " + cardDate(v.At)
		if reason := strings.TrimSpace(v.Reason); reason != "" {
			line += ": " + SlackText(reason)
		}
		lines = append(lines, line)
	}
	return lines
}

// approvalButtons are Approve and Deny; both carry the release ID, and Deny
// asks for confirmation.
func approvalButtons(blockID string, r release.Release) *slack.ActionBlock {
	id := r.ID.String()
	approve := slack.NewButtonBlockElement(ActionApprove, id,
		slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).
		WithStyle(slack.StylePrimary)
	confirm := slack.NewConfirmationBlockObject(
		slack.NewTextBlockObject(slack.PlainTextType, fitText("Deny release #"+id+"?", maxConfirmTitle), false, false),
		slack.NewTextBlockObject(slack.PlainTextType, fitText(plainDescription(r)+" will not go ahead, and the requester will be told.", maxConfirmText), false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Keep", false, false),
	).WithStyle(slack.StyleDanger)
	deny := slack.NewButtonBlockElement(ActionDeny, id,
		slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false)).
		WithStyle(slack.StyleDanger).
		WithConfirm(confirm)
	return slack.NewActionBlock(blockID, approve, deny)
}

// plainDescription says what a release does, without markup:
// "deploy api main → production".
func plainDescription(r release.Release) string {
	what := r.App
	if r.Ref != "" {
		what += " " + r.Ref
	} else if r.Commit != "" {
		what += " " + release.ShortSHA(r.Commit)
	}
	switch r.Kind {
	case release.KindPromote:
		return fmt.Sprintf("promote %s %s → %s", what, r.FromEnv, r.Env)
	case release.KindRollback:
		return fmt.Sprintf("roll back %s on %s", r.App, r.Env)
	case release.KindEnvUp:
		return fmt.Sprintf("env up %s for %s", r.Env, what)
	case release.KindEnvDown:
		return fmt.Sprintf("env down %s for %s", r.Env, what)
	}
	return fmt.Sprintf("deploy %s → %s", what, r.Env)
}

// fallbackText is the card in one line, for notifications:
// "Release #42: deploy api main → production — awaiting approval".
func fallbackText(r release.Release) string {
	_, label := stateLook(r.State)
	text := fmt.Sprintf("Release #%s: %s — %s", r.ID, plainDescription(r), strings.ToLower(label))
	return fitText(SlackText(text), maxFallbackText)
}

// cardDate renders t so that each reader's Slack shows it in their own
// time zone, with a UTC fallback.
func cardDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} at {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// mdCode shows s as inline code; backticks in s would end the span early.
func mdCode(s string) string {
	return "`" + SlackText(strings.ReplaceAll(s, "`", "'")) + "`"
}

// mdBold shows s in bold; asterisks in s would end the emphasis early.
func mdBold(s string) string {
	return "*" + SlackText(strings.ReplaceAll(s, "*", "")) + "*"
}

// safeUserID keeps a user ID from breaking out of its <@…> mention.
func safeUserID(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, id)
}

// SlackText makes text safe to send as Slack mrkdwn: it escapes &, < and >
// as Slack asks, except in user mentions (<@U123>), channel references
// (<#C123>), http(s) and mailto links (<https://…|label>) and dates
// (<!date^…>), which it keeps. So <!here>, <!channel> and user-group pings
// written into a reason are shown, not acted on. Formatting with * _ ~ and
// ` is kept.
func SlackText(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for i := 0; i < len(text); {
		c := text[i]
		switch c {
		case '&':
			if entity := escapedEntity(text[i:]); entity != "" {
				b.WriteString(entity) // already escaped by the core: keep it once
				i += len(entity)
				continue
			}
			b.WriteString("&amp;")
		case '>':
			b.WriteString("&gt;")
		case '<':
			end := strings.IndexByte(text[i+1:], '>')
			if end >= 0 {
				token := text[i+1 : i+1+end]
				if keptToken(token) {
					b.WriteString(text[i : i+2+end])
					i += 2 + end
					continue
				}
			}
			b.WriteString("&lt;")
		default:
			b.WriteByte(c)
		}
		i++
	}
	return b.String()
}

// escapedEntity returns the escape Slack defines (&amp; &lt; &gt;) that s
// starts with, or "".
func escapedEntity(s string) string {
	for _, e := range []string{"&amp;", "&lt;", "&gt;"} {
		if strings.HasPrefix(s, e) {
			return e
		}
	}
	return ""
}

// keptToken reports whether the inside of a <…> is a mention, channel
// reference, link or date that Slack text may carry.
func keptToken(token string) bool {
	if token == "" || strings.ContainsAny(token, "<\n") {
		return false
	}
	target, _, _ := strings.Cut(token, "|")
	switch {
	case strings.HasPrefix(target, "@U"), strings.HasPrefix(target, "@W"),
		strings.HasPrefix(target, "#C"), strings.HasPrefix(target, "#G"):
		return safeUserID(target[1:]) == target[1:]
	case strings.HasPrefix(target, "!date^"):
		return true
	case strings.HasPrefix(target, "https://"), strings.HasPrefix(target, "http://"), strings.HasPrefix(target, "mailto:"):
		return !strings.ContainsAny(target, " \t")
	}
	return false
}

// fitText shortens s to at most limit characters, ending in "…" when cut, and
// never cuts an &-escape or a <…> token in half.
func fitText(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	cut := string([]rune(s)[:limit-1])
	if i := strings.LastIndexByte(cut, '<'); i >= 0 && !strings.Contains(cut[i:], ">") {
		cut = cut[:i]
	}
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	return cut + "…"
}
