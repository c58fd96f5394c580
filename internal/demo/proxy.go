package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hoistbot/hoist/internal/sim/slackapi"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
)

// slackTimeout is how long Slack waits for an app to answer a slash
// command or a click before it gives up on it.
const slackTimeout = 3 * time.Second

// proxy talks to Hoist as Slack does: what the visitor does on the page
// becomes a signed slash command or block action, posted to Hoist's real
// endpoints.
type proxy struct {
	hoistURL string // Hoist's base URL, without a trailing "/"
	signer   slackreq.Signer
	client   *http.Client
}

func newProxy(hoistURL, signingSecret string) *proxy {
	return &proxy{
		hoistURL: strings.TrimSuffix(hoistURL, "/"),
		signer:   slackreq.Signer{Secret: signingSecret},
		client:   &http.Client{Timeout: slackTimeout},
	}
}

// slashReply is Hoist's answer to a slash command: shown to the requester
// alone, or to the channel when ResponseType is "in_channel".
type slashReply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

// errSlack is an error as Slack would report it to the person who typed
// the command ("dispatch_failed", "http_service_error").
type errSlack struct {
	code  string
	cause error
}

func (e *errSlack) Error() string { return e.code + ": " + e.cause.Error() }
func (e *errSlack) Unwrap() error { return e.cause }

// command sends the slash command `command text` typed by user in ch, with
// responseURL as its response_url, and returns Hoist's answer.
func (p *proxy) command(ctx context.Context, user Person, ch Channel, command, text, responseURL string) (slashReply, error) {
	body := slackreq.SlashCommand{
		TeamID: slackapi.TeamID, ChannelID: ch.ID, ChannelName: ch.Name, UserID: user.ID, UserName: user.Name,
		Command: command, Text: text, ResponseURL: responseURL,
	}.Body()
	answer, err := p.post(ctx, "/slack/commands", body)
	if err != nil {
		return slashReply{}, fmt.Errorf("send %s: %w", command, err)
	}
	var reply slashReply
	if len(strings.TrimSpace(string(answer))) == 0 {
		return reply, nil // an empty 200: Slack shows nothing
	}
	if err := json.Unmarshal(answer, &reply); err != nil {
		// Slack shows a plain-text answer as it is.
		return slashReply{Text: string(answer)}, nil //nolint:nilerr // not JSON is a valid answer
	}
	return reply, nil
}

// click is a click by user on a button of the message at messageTS in ch,
// sent as a block_actions payload.
func (p *proxy) click(ctx context.Context, user Person, ch Channel, messageTS string, b button, responseURL string) error {
	body := slackreq.BlockAction{
		TeamID: slackapi.TeamID, ChannelID: ch.ID, UserID: user.ID, UserName: user.Name,
		ActionID: b.ActionID, BlockID: b.BlockID, Value: b.Value, MessageTS: messageTS, ResponseURL: responseURL,
	}.Body()
	if _, err := p.post(ctx, "/slack/interactions", body); err != nil {
		return fmt.Errorf("send click on %s: %w", b.ActionID, err)
	}
	return nil
}

// post signs body as Slack does and posts it to Hoist at path, within
// Slack's three seconds.
func (p *proxy) post(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := p.signer.Request(p.hoistURL+path, slackreq.Form, body)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req.WithContext(ctx))
	if err != nil {
		code := "dispatch_failed"
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
			code = "operation_timeout"
		}
		return nil, &errSlack{code: code, cause: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, &errSlack{code: "dispatch_failed", cause: err}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &errSlack{code: "http_service_error", cause: fmt.Errorf("hoist answered %s: %s", resp.Status, strings.TrimSpace(string(answer)))}
	}
	return answer, nil
}
