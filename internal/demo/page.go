package demo

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hoistbot/hoist/internal/demo/blockkit"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

//go:embed web
var webFiles embed.FS

// slashCommands are the commands the demo's Slack app has registered, as
// in the README's setup.
func slashCommands() []string { return []string{"/hoist", "/deploy", "/env", "/promote", "/rollback"} }

// maxInputBytes bounds what the page may post; Slack caps a message at
// 40,000 characters and a slash command's text far lower.
const maxInputBytes = 16 << 10

// page serves the channel view and turns what the visitor does there into
// what Slack would send Hoist.
type page struct {
	feed   *feed
	mirror *mirror
	proxy  *proxy
	slack  *slackapi.Server
	logger *slog.Logger
}

// handler routes the page, its assets and its API.
func (p *page) handler() http.Handler {
	assets, _ := fs.Sub(webFiles, "web")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(assets))
	mux.HandleFunc("GET /demo/setup", p.handleSetup)
	mux.HandleFunc("GET /demo/events", p.handleEvents)
	mux.HandleFunc("POST /demo/command", p.handleCommand)
	mux.HandleFunc("POST /demo/action", p.handleAction)
	mux.HandleFunc("GET /demo/files/{id}", p.handleFile)
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' https: data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// setup is what the page needs to draw the workspace.
type setup struct {
	Team     string    `json:"team"`
	People   []Person  `json:"people"`
	Channels []Channel `json:"channels"`
	BotID    string    `json:"bot_id"`
	BotName  string    `json:"bot_name"`
	Commands []string  `json:"commands"`
	// JenkinsURL is the root URL Jenkins links start with.
	JenkinsURL string `json:"jenkins_url"`
}

func (p *page) handleSetup(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, setup{Team: "Hoist demo", People: people(), Channels: channels(),
		BotID: slackapi.BotUserID, BotName: "Hoist", Commands: slashCommands(), JenkinsURL: jenkinssim.DefaultRootURL})
}

// handleEvents streams the feed as server-sent events: first "reset" with
// every item so far, then each item as it is added or changed.
func (p *page) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // the stream lives as long as the page
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	items, updates, stop := p.feed.watch()
	defer stop()
	if err := sendEvent(w, rc, "reset", items); err != nil {
		return
	}
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-heartbeat.C:
			if _, err := fmt.Fprint(w, ": still here\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case it, ok := <-updates:
			if !ok {
				return // too far behind: the browser reconnects and starts afresh
			}
			if err := sendEvent(w, rc, "item", it); err != nil {
				return
			}
		}
	}
}

func sendEvent(w http.ResponseWriter, rc *http.ResponseController, event string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", event, err)
	}
	if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, raw); err != nil {
		return fmt.Errorf("send %s event: %w", event, err)
	}
	return rc.Flush()
}

// commandInput is what the visitor typed, as whom, where.
type commandInput struct {
	User    string `json:"user"`
	Channel string `json:"channel"`
	Text    string `json:"text"`
}

func (p *page) handleCommand(w http.ResponseWriter, r *http.Request) {
	var in commandInput
	if !readJSON(w, r, &in) {
		return
	}
	user, ch, ok := p.whoAndWhere(w, in.User, in.Channel)
	if !ok {
		return
	}
	typed := strings.TrimSpace(in.Text)
	if typed == "" || !utf8.ValidString(typed) {
		writeProblem(w, http.StatusBadRequest, "type a command, such as /hoist help")
		return
	}
	if !strings.HasPrefix(typed, "/") {
		// Hoist does not read the channel: a plain message is only shown.
		p.feed.put(Item{ID: p.mirror.newID("said"), Kind: kindMessage, Channel: ch.ID, Author: user.ID, At: time.Now(),
			HTML: string(p.mirror.render.Mrkdwn(escapeTyped(typed)))})
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	command, text, _ := strings.Cut(typed, " ")
	command = strings.ToLower(command)
	target := replyTarget{viewer: user.ID, channel: ch.ID, command: typed}
	if !slices.Contains(slashCommands(), command) {
		p.slackbotSays(target, fmt.Sprintf("`%s` is not a valid command. In Slack, all messages that start with \"/\" are interpreted as commands. This workspace has %s.",
			escapeTyped(command), strings.Join(quoteAll(slashCommands()), ", ")))
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	reply, err := p.proxy.command(r.Context(), user, ch, command, strings.TrimSpace(text), p.mirror.responseURL(target))
	if err != nil {
		p.logger.Warn("slash command not delivered to hoist", "command", command, "err", err)
		p.slackbotSays(target, fmt.Sprintf("%s failed with the error \"%s\"", command, slackCode(err)))
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	if reply.Text != "" {
		p.mirror.reply(target, reply.ResponseType, reply.Text, nil, time.Now())
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// actionInput is a click on a button of a message.
type actionInput struct {
	User      string `json:"user"`
	Channel   string `json:"channel"`
	MessageTS string `json:"message_ts"`
	ActionID  string `json:"action_id"`
	Value     string `json:"value"`
}

func (p *page) handleAction(w http.ResponseWriter, r *http.Request) {
	var in actionInput
	if !readJSON(w, r, &in) {
		return
	}
	user, ch, ok := p.whoAndWhere(w, in.User, in.Channel)
	if !ok {
		return
	}
	msg, found := p.slack.Message(ch.ID, in.MessageTS)
	if !found {
		writeProblem(w, http.StatusNotFound, "that message is not in #"+ch.Name)
		return
	}
	b, found := findButton(msg.Blocks, in.ActionID, in.Value)
	if !found {
		writeProblem(w, http.StatusConflict, "that button is no longer on the message; it may have just changed")
		return
	}
	url := p.mirror.responseURL(replyTarget{viewer: user.ID, channel: ch.ID})
	if err := p.proxy.click(r.Context(), user, ch, msg.TS, b, url); err != nil {
		p.logger.Warn("click not delivered to hoist", "action", in.ActionID, "err", err)
		p.slackbotSays(replyTarget{viewer: user.ID, channel: ch.ID}, "Hoist did not answer the click in time ("+slackCode(err)+"). Try again.")
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// handleFile shows an uploaded file's content as plain text.
func (p *page) handleFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	for _, f := range p.slack.Files() {
		if f.ID == id && f.Complete {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": f.Name}))
			_, _ = w.Write(f.Content)
			return
		}
	}
	writeProblem(w, http.StatusNotFound, "no such file")
}

// whoAndWhere checks the person and channel a request names, and answers
// the request when either is unknown.
func (p *page) whoAndWhere(w http.ResponseWriter, userID, channelID string) (Person, Channel, bool) {
	user, ok := personByID(userID)
	if !ok {
		writeProblem(w, http.StatusBadRequest, "unknown person: choose who you are at the top right")
		return Person{}, Channel{}, false
	}
	ch, ok := channelByID(channelID)
	if !ok {
		writeProblem(w, http.StatusBadRequest, "unknown channel: pick one on the left")
		return Person{}, Channel{}, false
	}
	return user, ch, true
}

// slackbotSays shows the visitor a message from Slack itself, as Slack
// does when a command cannot reach an app.
func (p *page) slackbotSays(t replyTarget, text string) {
	p.mirror.put(Item{ID: p.mirror.newID("slackbot"), Kind: kindEphemeral, Channel: t.channel, Author: "USLACKBOT",
		Viewer: t.viewer, Command: t.command, At: time.Now()}, text, nil)
}

// readJSON decodes a JSON request body into v, and answers the request
// when it cannot. Requiring application/json keeps other sites' forms from
// posting here.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, "send JSON (Content-Type: application/json)")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxInputBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "that is too long for Slack")
			return false
		}
		writeProblem(w, http.StatusBadRequest, "the request is not the JSON the page sends: "+err.Error())
		return false
	}
	return true
}

func writeProblem(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]string{"error": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// escapeTyped escapes text a person typed as Slack does before it becomes
// mrkdwn, so that it is shown as typed.
func escapeTyped(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return out
}

// slackCode is the error code Slack would show for err.
func slackCode(err error) string {
	var se *errSlack
	if errors.As(err, &se) {
		return se.code
	}
	return "dispatch_failed"
}

// button is a button of a message, as a click on it reports it.
type button struct {
	ActionID string
	BlockID  string
	Value    string
}

// findButton finds the button with actionID and value on a message, as
// Slack sends a click only for a button the message has.
func findButton(blocks []byte, actionID, value string) (button, bool) {
	var parsed []blockkit.Block
	if len(blocks) == 0 || json.Unmarshal(blocks, &parsed) != nil {
		return button{}, false
	}
	for _, b := range parsed {
		elements := b.Elements
		if b.Accessory != nil {
			elements = append(elements, *b.Accessory)
		}
		for _, e := range elements {
			if e.Type == "button" && e.ActionID == actionID && e.Value == value {
				return button{ActionID: actionID, BlockID: b.BlockID, Value: value}, true
			}
		}
	}
	return button{}, false
}
