package demo

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hoistbot/hoist/internal/demo/blockkit"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

// replyTarget is who sees what Hoist sends to a response URL, and where.
type replyTarget struct {
	viewer  string
	channel string
	command string // the slash command the URL came with, if any
}

// mirror shows on the page what Hoist does in Slack: it follows the calls
// the Slack simulator records and turns messages, updates, ephemeral
// messages, response URL replies and uploads into feed items.
type mirror struct {
	slack  *slackapi.Server
	feed   *feed
	render *blockkit.Renderer
	logger *slog.Logger

	mu      sync.Mutex
	targets map[string]replyTarget // response URL id → who sees the reply
	nextID  int
	shown   map[string]int // message item ID → edits shown
	files   map[string]bool
}

func newMirror(slack *slackapi.Server, f *feed, render *blockkit.Renderer, logger *slog.Logger) *mirror {
	return &mirror{slack: slack, feed: f, render: render, logger: logger,
		targets: map[string]replyTarget{}, shown: map[string]int{}, files: map[string]bool{}}
}

// responseURL returns a new response URL on the Slack simulator whose
// replies t.viewer sees in t.channel.
func (m *mirror) responseURL(t replyTarget) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	id := fmt.Sprintf("r%d", m.nextID)
	m.targets[id] = t
	return m.slack.ResponseURL(id)
}

// newID returns an ID for an item that is not a Slack message.
func (m *mirror) newID(prefix string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	return fmt.Sprintf("%s-%d", prefix, m.nextID)
}

// run mirrors calls until ctx ends or the simulator closes.
func (m *mirror) run(ctx context.Context, calls <-chan slackapi.Call) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-calls:
			if !ok {
				return nil
			}
			m.handle(c)
		}
	}
}

func (m *mirror) handle(c slackapi.Call) {
	if c.Error != "" {
		return
	}
	switch c.Method {
	case "chat.postMessage", "chat.update":
		// The simulator keeps every message's current state: show what
		// changed since last time, so that nothing is lost even when a
		// call was missed.
		m.syncMessages(c.At)
	case "files.completeUploadExternal":
		m.syncFiles(c.At)
	case "chat.postEphemeral":
		m.put(Item{ID: m.newID("eph"), Kind: kindEphemeral, Channel: channelID(c.Params["channel"]), ThreadTS: c.Params["thread_ts"],
			Author: slackapi.BotUserID, Viewer: c.Params["user"], At: c.At}, c.Params["text"], c.Blocks)
	case slackapi.MethodResponseURL:
		m.mu.Lock()
		t, ok := m.targets[c.Ref]
		m.mu.Unlock()
		if !ok {
			m.logger.Warn("reply to an unknown response url", "id", c.Ref)
			return
		}
		m.reply(t, c.Params["response_type"], c.Params["text"], c.Blocks, c.At)
	}
}

// reply shows an answer to t.viewer: to them alone, or to the channel
// when responseType is "in_channel".
func (m *mirror) reply(t replyTarget, responseType, text string, blocks []byte, at time.Time) {
	it := Item{Kind: kindEphemeral, Channel: t.channel, Author: slackapi.BotUserID, Viewer: t.viewer, Command: t.command, At: at}
	if responseType == "in_channel" {
		it.Kind, it.Viewer = kindMessage, ""
	}
	it.ID = m.newID(it.Kind)
	m.put(it, text, blocks)
}

// put renders an item's text or blocks and shows it.
func (m *mirror) put(it Item, text string, blocks []byte) {
	body, err := m.render.Message(text, blocks)
	if err != nil {
		m.logger.Warn("cannot show a message's blocks; showing its text", "item", it.ID, "err", err)
		body = m.render.Mrkdwn(text)
	}
	it.HTML = string(body)
	m.feed.put(it)
}

func (m *mirror) syncMessages(at time.Time) {
	for _, msg := range m.slack.Messages() {
		id := messageID(msg.Channel, msg.TS)
		m.mu.Lock()
		edits, seen := m.shown[id]
		m.shown[id] = msg.Edits
		m.mu.Unlock()
		if seen && edits == msg.Edits {
			continue
		}
		it := Item{ID: id, Kind: kindMessage, Channel: msg.Channel, TS: msg.TS, ThreadTS: msg.ThreadTS, Author: msg.User, Edits: msg.Edits, At: at}
		if old, ok := m.feed.get(id); ok {
			it.At = old.At
		}
		m.put(it, msg.Text, msg.Blocks)
	}
}

func (m *mirror) syncFiles(at time.Time) {
	for _, f := range m.slack.Files() {
		m.mu.Lock()
		seen := m.files[f.ID]
		m.files[f.ID] = f.Complete
		m.mu.Unlock()
		if seen || !f.Complete {
			continue
		}
		m.feed.put(Item{ID: "file-" + f.ID, Kind: kindFile, Channel: f.Channel, ThreadTS: f.ThreadTS, Author: slackapi.BotUserID, At: at,
			HTML: string(template.HTMLEscapeString(f.Title)), File: &FileInfo{ID: f.ID, Name: f.Name, Title: f.Title, Size: len(f.Content)}})
	}
}

// messageID is the feed ID of the Slack message at channel and ts.
func messageID(channel, ts string) string { return "msg-" + channel + "-" + ts }

// channelID resolves a channel given by ID or by name ("#deploys").
func channelID(idOrName string) string {
	name := strings.TrimPrefix(idOrName, "#")
	for _, c := range channels() {
		if c.ID == idOrName || c.Name == name {
			return c.ID
		}
	}
	return idOrName
}
