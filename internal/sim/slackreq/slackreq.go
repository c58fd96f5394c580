// Package slackreq builds requests exactly as Slack sends them to an app:
// signed with the v0 scheme, slash commands form-encoded, interactions as
// a JSON `payload` form field. Tests and the local demo use it to talk to
// Hoist as Slack does.
package slackreq

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Signer signs request bodies with a Slack app's signing secret.
type Signer struct {
	Secret string
	// Now is the clock used for X-Slack-Request-Timestamp; time.Now when nil.
	Now func() time.Time
}

// Headers returns the signature headers Slack would send with body.
func (s Signer) Headers(body []byte) http.Header {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := strconv.FormatInt(now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(s.Secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return h
}

// Request builds a signed POST of body to url with the given content type.
func (s Signer) Request(target, contentType string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range s.Headers(body) {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", contentType)
	return req, nil
}

// legacyVerificationToken fills the deprecated `token` field Slack still
// sends; Hoist verifies signatures instead and ignores it.
const legacyVerificationToken = "gIkuvaNzQIHg97ATvDxqgjtO" //nolint:gosec // Slack's documented sample value

// Form is the content type of slash commands and interactions.
const Form = "application/x-www-form-urlencoded"

// SlashCommand is one slash command invocation as Slack posts it.
type SlashCommand struct {
	TeamID      string
	ChannelID   string
	ChannelName string
	UserID      string
	UserName    string
	Command     string // "/hoist", "/deploy", …
	Text        string
	ResponseURL string
}

// Body is the form-encoded body Slack sends.
func (c SlashCommand) Body() []byte {
	v := url.Values{}
	v.Set("token", legacyVerificationToken)
	v.Set("team_id", c.TeamID)
	v.Set("team_domain", "example")
	v.Set("channel_id", c.ChannelID)
	v.Set("channel_name", c.ChannelName)
	v.Set("user_id", c.UserID)
	v.Set("user_name", c.UserName)
	v.Set("command", c.Command)
	v.Set("text", c.Text)
	v.Set("api_app_id", "A0HOIST")
	v.Set("is_enterprise_install", "false")
	v.Set("response_url", c.ResponseURL)
	v.Set("trigger_id", "13345224609.738474920.8088930838d88f008e0")
	return []byte(v.Encode())
}

// BlockAction is a click on a Block Kit button as Slack posts it.
type BlockAction struct {
	TeamID      string
	ChannelID   string
	UserID      string
	UserName    string
	ActionID    string
	BlockID     string
	Value       string
	MessageTS   string
	ResponseURL string
}

// Body is the form body Slack sends: the JSON payload in the `payload` field.
func (a BlockAction) Body() []byte {
	payload := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": a.UserID, "username": a.UserName, "name": a.UserName, "team_id": a.TeamID},
		"api_app_id":   "A0HOIST",
		"token":        legacyVerificationToken,
		"container":    map[string]any{"type": "message", "message_ts": a.MessageTS, "channel_id": a.ChannelID, "is_ephemeral": false},
		"trigger_id":   "13345224609.738474920.8088930838d88f008e0",
		"team":         map[string]any{"id": a.TeamID, "domain": "example"},
		"channel":      map[string]any{"id": a.ChannelID, "name": "deploys"},
		"message":      map[string]any{"type": "message", "ts": a.MessageTS, "text": "release card"},
		"response_url": a.ResponseURL,
		"actions": []map[string]any{{
			"type":      "button",
			"action_id": a.ActionID,
			"block_id":  a.BlockID,
			"text":      map[string]any{"type": "plain_text", "text": "Approve", "emoji": true},
			"value":     a.Value,
			"action_ts": strconv.FormatInt(time.Now().Unix(), 10) + ".000100",
		}},
	}
	raw, _ := json.Marshal(payload)
	v := url.Values{}
	v.Set("payload", string(raw))
	return []byte(v.Encode())
}
