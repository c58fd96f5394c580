package bot

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/wait"
)

// SlackAPI lists the slack-go calls the Notifier makes; *slack.Client is one.
type SlackAPI interface {
	PostMessageContext(ctx context.Context, channelID string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
	JoinConversationContext(ctx context.Context, channelID string) (*slack.Channel, string, []string, error)
	GetPermalinkContext(ctx context.Context, params *slack.PermalinkParameters) (string, error)
}

var (
	_ SlackAPI     = (*slack.Client)(nil)
	_ release.Chat = (*Notifier)(nil)
)

var _ release.BuildChat = (*Notifier)(nil)

const (
	// slackTries bounds the calls made for one Slack request when Slack
	// answers 429: the first and two retries.
	slackTries = 3
	// responseTimeout bounds a POST to a response URL by the default client.
	responseTimeout = 10 * time.Second
	// maxResponseBody is how much of a response URL's answer is read.
	maxResponseBody = 4 << 10
)

// Notifier shows releases in Slack: it is the release.Chat port over
// slack-go. It joins public channels when it needs to, waits out Slack's
// rate limits (within the caller's context), and turns "cannot post here"
// into release.ErrCannotPost with advice for people.
type Notifier struct {
	api        SlackAPI
	logger     *slog.Logger
	httpClient *http.Client
	now        func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	inviteName string
	scheduler  *Scheduler // nil: UpdateBuild calls chat.update itself
}

// NotifierOption configures a Notifier.
type NotifierOption func(*Notifier)

// WithResponseClient sets the HTTP client that posts to response URLs. The
// default has a 10-second timeout and follows no redirects.
func WithResponseClient(c *http.Client) NotifierOption {
	return func(n *Notifier) { n.httpClient = c }
}

// WithCardClock sets the clock cards are rendered with. The default is time.Now.
func WithCardClock(now func() time.Time) NotifierOption {
	return func(n *Notifier) { n.now = now }
}

// WithRetrySleep sets how the Notifier waits before retrying a call Slack
// rate-limited; it must return early with an error when ctx ends. The
// default sleeps, and gives up at once when the wait would outlast ctx.
func WithRetrySleep(sleep func(ctx context.Context, d time.Duration) error) NotifierOption {
	return func(n *Notifier) { n.sleep = sleep }
}

// WithInviteName sets the bot name the advice about private channels
// suggests inviting ("/invite @Hoist"). The default is "Hoist".
func WithInviteName(name string) NotifierOption {
	return func(n *Notifier) { n.inviteName = name }
}

// WithScheduler makes UpdateBuild hand its updates to sched, which keeps
// to the workspace's chat.update budget. Without it UpdateBuild calls
// chat.update itself and waits out rate limits.
func WithScheduler(sched *Scheduler) NotifierOption {
	return func(n *Notifier) { n.scheduler = sched }
}

// NewNotifier returns a Notifier that calls Slack through api and logs to
// logger (nil: no logs).
func NewNotifier(api SlackAPI, logger *slog.Logger, opts ...NotifierOption) *Notifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		api:    api,
		logger: logger,
		httpClient: &http.Client{
			Timeout: responseTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		now:        time.Now,
		sleep:      sleepContext,
		inviteName: "Hoist",
	}
	for _, opt := range opts {
		opt(n)
	}
	return n
}

// PostCard posts the release's card in channel, with message metadata
// tying it to the release, joining the channel first if it is public and
// Hoist is not in it.
func (n *Notifier) PostCard(ctx context.Context, channel string, c release.Card) (release.MessageRef, error) {
	blocks, text := RenderCard(c, n.now())
	var ref release.MessageRef
	err := n.postJoining(ctx, channel, func(ctx context.Context) error {
		ch, ts, err := n.api.PostMessageContext(ctx, channel,
			slack.MsgOptionText(text, false),
			slack.MsgOptionBlocks(blocks...),
			slack.MsgOptionMetadata(cardMetadata(c.Release.ID)),
		)
		ref = release.MessageRef{Channel: cmp.Or(ch, channel), TS: ts}
		return err
	})
	if err != nil {
		return release.MessageRef{}, wrapUnlessCannotPost(err, "post card in %s", channel)
	}
	return ref, nil
}

// UpdateCard replaces the card at ref with c.
func (n *Notifier) UpdateCard(ctx context.Context, ref release.MessageRef, c release.Card) error {
	blocks, text := RenderCard(c, n.now())
	if n.scheduler != nil {
		// A card's last state is final: never dropped, and sent before
		// other refreshes. States on the way take turns with every other
		// message, coalesced with later states of the same card.
		metadata := cardMetadata(c.Release.ID)
		n.scheduler.Update(ref, Message{Text: text, Blocks: blocks, Metadata: &metadata, Background: true}, c.Release.State.Terminal())
		return nil
	}
	err := n.retry(ctx, func(ctx context.Context) error {
		_, _, _, err := n.api.UpdateMessageContext(ctx, ref.Channel, ref.TS,
			slack.MsgOptionText(text, false),
			slack.MsgOptionBlocks(blocks...),
			slack.MsgOptionMetadata(cardMetadata(c.Release.ID)),
		)
		return err
	})
	if err != nil {
		return wrapUnlessCannotPost(n.cannotPost(ref.Channel, err), "update card %s/%s", ref.Channel, ref.TS)
	}
	return nil
}

// Announce posts text in channel with a link to the card at card. Without
// a link (Slack would not give one) it still posts the text. text is Slack
// mrkdwn; see SlackText for what it may carry.
func (n *Notifier) Announce(ctx context.Context, channel, text string, card release.MessageRef) error {
	msg := SlackText(text)
	if link := n.permalink(ctx, card); link != "" {
		msg += " · <" + link + "|Open the release>"
	}
	err := n.postJoining(ctx, channel, func(ctx context.Context) error {
		_, _, err := n.api.PostMessageContext(ctx, channel,
			slack.MsgOptionText(msg, false),
			slack.MsgOptionDisableLinkUnfurl(),
		)
		return err
	})
	if err != nil {
		return wrapUnlessCannotPost(err, "announce in %s", channel)
	}
	return nil
}

// PostThread posts text in the card's thread. text is Slack mrkdwn; see
// SlackText for what it may carry.
func (n *Notifier) PostThread(ctx context.Context, card release.MessageRef, text string) error {
	msg := SlackText(text)
	err := n.postJoining(ctx, card.Channel, func(ctx context.Context) error {
		_, _, err := n.api.PostMessageContext(ctx, card.Channel,
			slack.MsgOptionText(msg, false),
			slack.MsgOptionTS(card.TS),
		)
		return err
	})
	if err != nil {
		return wrapUnlessCannotPost(err, "post in thread %s/%s", card.Channel, card.TS)
	}
	return nil
}

// Respond sends text to the requester alone, through a response URL from a
// verified Slack payload. Only https URLs on Slack's hosts, and loopback
// URLs (for tests and local runs), are accepted, so that a forged URL cannot
// make Hoist post elsewhere. Errors name the URL's host, never the URL,
// which is a credential for as long as it lives.
func (n *Notifier) Respond(ctx context.Context, responseURL, text string) error {
	u, err := checkResponseURL(responseURL)
	if err != nil {
		return fmt.Errorf("respond: %w", err)
	}
	body, err := json.Marshal(struct {
		ResponseType    string `json:"response_type"`
		Text            string `json:"text"`
		ReplaceOriginal bool   `json:"replace_original"`
	}{slack.ResponseTypeEphemeral, SlackText(text), false})
	if err != nil {
		return fmt.Errorf("respond: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("respond via %s: %w", u.Host, withoutURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("respond via %s: %w", u.Host, withoutURL(err))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	// Slack answers "ok", {"ok":true}, or {"ok":false,"error":"..."}.
	var result struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(answer, &result)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if result.Error != "" {
			return fmt.Errorf("respond via %s: %s: %s", u.Host, resp.Status, result.Error)
		}
		return fmt.Errorf("respond via %s: %s", u.Host, resp.Status)
	}
	if result.OK != nil && !*result.OK {
		return fmt.Errorf("respond via %s: %s", u.Host, cmp.Or(result.Error, "not ok"))
	}
	return nil
}

// postJoining runs post; when Slack says Hoist is not in the channel, it
// joins (public channels only) and runs post again. It returns
// release.ErrCannotPost, with advice, when Hoist cannot post there.
func (n *Notifier) postJoining(ctx context.Context, channel string, post func(context.Context) error) error {
	err := n.retry(ctx, post)
	if slackErrorCode(err) == "not_in_channel" {
		if err := n.join(ctx, channel); err != nil {
			return err
		}
		err = n.retry(ctx, post)
	}
	return n.cannotPost(channel, err)
}

func (n *Notifier) join(ctx context.Context, channel string) error {
	err := n.retry(ctx, func(ctx context.Context) error {
		_, _, _, err := n.api.JoinConversationContext(ctx, channel)
		return err
	})
	if err != nil {
		return wrapUnlessCannotPost(n.cannotPost(channel, err), "join %s", channel)
	}
	n.logger.InfoContext(ctx, "joined channel to post in it", "channel", channel)
	return nil
}

// Permalink returns a link to the message at ref, fit to put in mrkdwn.
func (n *Notifier) Permalink(ctx context.Context, ref release.MessageRef) (string, error) {
	if ref.Channel == "" || ref.TS == "" {
		return "", errors.New("get permalink: no message")
	}
	var link string
	err := n.retry(ctx, func(ctx context.Context) error {
		var err error
		link, err = n.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: ref.Channel, Ts: ref.TS})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("get permalink of %s/%s: %w", ref.Channel, ref.TS, err)
	}
	if link == "" || strings.ContainsAny(link, "<>| ") {
		return "", fmt.Errorf("get permalink of %s/%s: unusable link %q", ref.Channel, ref.TS, link)
	}
	return link, nil
}

// permalink returns the card's permalink, or "" when Slack gives none.
func (n *Notifier) permalink(ctx context.Context, card release.MessageRef) string {
	if card.Channel == "" || card.TS == "" {
		return ""
	}
	link, err := n.Permalink(ctx, card)
	if err != nil {
		n.logger.WarnContext(ctx, "get card permalink; posting without it", "err", err)
		return ""
	}
	return link
}

// retry runs call, and runs it again after the wait Slack asks for when it
// answers 429, up to slackTries calls in all.
func (n *Notifier) retry(ctx context.Context, call func(context.Context) error) error {
	for try := 1; ; try++ {
		err := call(ctx)
		var limited *slack.RateLimitedError
		if !errors.As(err, &limited) || try == slackTries {
			return err
		}
		n.logger.WarnContext(ctx, "slack rate limit; waiting before retrying", "retry_after", limited.RetryAfter, "try", try)
		if serr := n.sleep(ctx, limited.RetryAfter); serr != nil {
			return fmt.Errorf("%w; stopped waiting: %w", err, serr)
		}
	}
}

// sleepContext waits d, or until ctx ends; it gives up at once when ctx
// would end first.
func sleepContext(ctx context.Context, d time.Duration) error {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < d {
		return fmt.Errorf("a %s wait would outlast the deadline: %w", d, context.DeadlineExceeded)
	}
	return wait.Sleep(ctx, d)
}

// cannotPostError is release.ErrCannotPost with advice for people, and the
// Slack error behind it.
type cannotPostError struct {
	advice string
	cause  error
}

func (e *cannotPostError) Error() string   { return e.advice }
func (e *cannotPostError) Unwrap() []error { return []error{release.ErrCannotPost, e.cause} }

// cannotPost turns the Slack errors that mean "Hoist cannot post in this
// channel" into release.ErrCannotPost with advice, and returns other
// errors as they are.
func (n *Notifier) cannotPost(channel string, err error) error {
	where := "<#" + safeUserID(channel) + ">"
	switch slackErrorCode(err) {
	case "channel_not_found", "method_not_supported_for_channel_type", "not_in_channel":
		return &cannotPostError{
			advice: fmt.Sprintf("I can't post in %s: it is private or I was not invited. Invite me with `/invite @%s` and try again.", where, n.inviteName),
			cause:  err,
		}
	case "is_archived":
		return &cannotPostError{
			advice: fmt.Sprintf("I can't post in %s: it is archived. Unarchive it, or ask me in another channel.", where),
			cause:  err,
		}
	case "invalid_blocks", "invalid_blocks_format", "msg_too_long", "no_text", "invalid_metadata_format", "invalid_metadata_schema":
		// Sending the same message again would be refused again.
		return &cannotPostError{
			advice: fmt.Sprintf("Slack refused the release's message in %s (%s). This is a bug in Hoist: please report it.", where, slackErrorCode(err)),
			cause:  err,
		}
	}
	return err
}

// wrapUnlessCannotPost says what was being done, except on errors whose
// text is advice for people, which stays as it is.
func wrapUnlessCannotPost(err error, format string, args ...any) error {
	if errors.Is(err, release.ErrCannotPost) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// slackErrorCode returns the Slack error code of err ("not_in_channel"),
// or "" when err is not a Slack API error.
func slackErrorCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// checkResponseURL accepts https URLs on Slack's hosts and http or https
// URLs on loopback.
func checkResponseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("response url is not an absolute URL")
	}
	where := u.Scheme + "://" + u.Host
	switch {
	case u.User != nil:
		return nil, fmt.Errorf("refusing response url on %s: it carries credentials", u.Host)
	case isLoopback(u.Hostname()) && (u.Scheme == "http" || u.Scheme == "https"):
		return u, nil
	case u.Scheme == "https" && isSlackHost(u.Hostname()):
		return u, nil
	}
	return nil, fmt.Errorf("refusing response url on %s: Slack's are https on slack.com", where)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isSlackHost(host string) bool {
	host = strings.ToLower(host)
	for _, domain := range []string{"slack.com", "slack-gov.com"} {
		if host == domain || strings.HasSuffix(host, "."+domain) {
			return true
		}
	}
	return false
}

// withoutURL drops the URL from a *url.Error: a response URL is a
// credential and must not reach logs.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}

// PostBuild posts the live build message in the thread of the card at
// card, joining the channel first if needed.
func (n *Notifier) PostBuild(ctx context.Context, card release.MessageRef, v release.BuildView) (release.MessageRef, error) {
	blocks, text := RenderBuild(v)
	return n.postInThread(ctx, card, text, blocks, "build")
}

// postInThread posts a live message (build, rollout) in the card's thread.
func (n *Notifier) postInThread(ctx context.Context, card release.MessageRef, text string, blocks []slack.Block, what string) (release.MessageRef, error) {
	var ref release.MessageRef
	err := n.postJoining(ctx, card.Channel, func(ctx context.Context) error {
		ch, ts, err := n.api.PostMessageContext(ctx, card.Channel,
			slack.MsgOptionText(text, false),
			slack.MsgOptionBlocks(blocks...),
			slack.MsgOptionTS(card.TS),
			slack.MsgOptionDisableLinkUnfurl(),
		)
		ref = release.MessageRef{Channel: cmp.Or(ch, card.Channel), TS: ts}
		return err
	})
	if err != nil {
		return release.MessageRef{}, wrapUnlessCannotPost(err, "post %s message in thread %s/%s", what, card.Channel, card.TS)
	}
	return ref, nil
}

// UpdateBuild refreshes the live build message at ref. With a Scheduler
// (WithScheduler) it hands the update over and returns at once; a view
// with a Result is a final update, which the Scheduler never drops.
// Without one it calls chat.update itself.
func (n *Notifier) UpdateBuild(ctx context.Context, ref release.MessageRef, v release.BuildView) error {
	blocks, text := RenderBuild(v)
	return n.updateLive(ctx, ref, text, blocks, v.Result != "", "build")
}

// updateLive refreshes a live message through the scheduler when there is
// one, or at once.
func (n *Notifier) updateLive(ctx context.Context, ref release.MessageRef, text string, blocks []slack.Block, final bool, what string) error {
	if n.scheduler != nil {
		n.scheduler.Update(ref, Message{Text: text, Blocks: blocks}, final)
		return nil
	}
	err := n.retry(ctx, func(ctx context.Context) error {
		_, _, _, err := n.api.UpdateMessageContext(ctx, ref.Channel, ref.TS,
			slack.MsgOptionText(text, false),
			slack.MsgOptionBlocks(blocks...),
		)
		return err
	})
	if err != nil {
		return wrapUnlessCannotPost(n.cannotPost(ref.Channel, err), "update %s message %s/%s", what, ref.Channel, ref.TS)
	}
	return nil
}

// UploadLog uploads log (already redacted) as a file called name in the
// thread of the card at card, through Slack's external upload route
// (files.getUploadURLExternal, the upload, files.completeUploadExternal).

// PostRollout posts the live rollout message in the card's thread.
func (n *Notifier) PostRollout(ctx context.Context, card release.MessageRef, v release.RolloutView) (release.MessageRef, error) {
	blocks, text := RenderRollout(v)
	return n.postInThread(ctx, card, text, blocks, "rollout")
}

// UpdateRollout schedules a refresh of the live rollout message through the
// workspace's update budget; a final view is never dropped.
func (n *Notifier) UpdateRollout(ctx context.Context, ref release.MessageRef, v release.RolloutView) error {
	blocks, text := RenderRollout(v)
	return n.updateLive(ctx, ref, text, blocks, v.Result != "", "rollout")
}

// An empty log is uploaded as a line saying so: Slack takes no empty files.
func (n *Notifier) UploadLog(ctx context.Context, card release.MessageRef, name string, log []byte) error {
	up, ok := n.api.(FileUploader)
	if !ok {
		return fmt.Errorf("upload log %s: the slack client cannot upload files", name)
	}
	name = logFileName(name)
	if len(log) == 0 {
		log = []byte(emptyLog)
	}
	err := n.postJoining(ctx, card.Channel, func(ctx context.Context) error {
		_, err := up.UploadFileContext(ctx, slack.UploadFileParameters{
			Reader:          bytes.NewReader(log), // a new reader for each try
			FileSize:        len(log),
			Filename:        name,
			Title:           name,
			Channel:         card.Channel,
			ThreadTimestamp: card.TS,
		})
		return err
	})
	if err != nil {
		return wrapUnlessCannotPost(err, "upload log %s in thread %s/%s", name, card.Channel, card.TS)
	}
	return nil
}
