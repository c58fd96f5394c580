package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
)

const (
	socketAppToken = "xapp-1-A0HOIST-socket-test-secret"
	socketBotToken = "xoxb-socket-test-bot-token"
	socketTeam     = "T0HOIST00"
)

// vote is a vote the dispatcher was asked to record.
type vote struct {
	user    string
	id      release.ID
	approve bool
}

// socketDispatcher answers commands as the release service would, and
// records votes. A vote waits until voteGate is closed, when it is set.
type socketDispatcher struct {
	reply    func(release.Request) release.Reply
	voteGate chan struct{}

	mu       sync.Mutex
	requests []release.Request
	votes    []vote
}

func (d *socketDispatcher) Handle(_ context.Context, req release.Request) (release.Reply, error) {
	d.mu.Lock()
	d.requests = append(d.requests, req)
	d.mu.Unlock()
	if d.reply != nil {
		return d.reply(req), nil
	}
	return release.Reply{Text: "Release #1 requested: `" + req.Command.App + "` `" + req.Command.Ref + "`."}, nil
}

func (d *socketDispatcher) Vote(_ context.Context, user string, id release.ID, approve bool, _ string) (release.Reply, error) {
	if d.voteGate != nil {
		<-d.voteGate
	}
	d.mu.Lock()
	d.votes = append(d.votes, vote{user, id, approve})
	d.mu.Unlock()
	return release.Reply{Text: "You approved release #" + id.String() + "."}, nil
}

func (d *socketDispatcher) recorded() ([]release.Request, []vote) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]release.Request(nil), d.requests...), append([]vote(nil), d.votes...)
}

type socketLogs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *socketLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *socketLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// socketRig is a Socket connected to a Slack simulator on loopback, with
// the real notifier answering clicks through response URLs.
type socketRig struct {
	t        *testing.T
	sim      *slackapi.Server
	socket   *bot.Socket
	front    *bot.Server
	dispatch *socketDispatcher
	logs     *socketLogs
	cancel   context.CancelFunc
	done     chan error

	mu    sync.Mutex
	waits []time.Duration
	acks  []string // "kind outcome" of each acknowledgement, as ObserveAck is told
}

// startSocket runs a Socket whose app token is appToken against a new
// simulator that accepts socketAppToken. Its waits between connection
// attempts are recorded and return at once.
func startSocket(t *testing.T, appToken string, d *socketDispatcher, simOpts ...slackapi.Option) *socketRig {
	t.Helper()
	sim := slackapi.New(append([]slackapi.Option{slackapi.WithToken(socketBotToken), slackapi.WithAppToken(socketAppToken)}, simOpts...)...)
	t.Cleanup(sim.Close)
	if d == nil {
		d = &socketDispatcher{}
	}
	r := &socketRig{t: t, sim: sim, dispatch: d, logs: &socketLogs{}, done: make(chan error, 1)}
	logger := slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := config.Slack{Mode: "socket", AppToken: config.Secret(appToken), BotToken: socketBotToken, APIURL: sim.URL(), TeamID: socketTeam}
	notifier := bot.NewNotifier(slack.New(socketBotToken, slack.OptionAPIURL(sim.URL())), logger)
	r.front = bot.NewServer(cfg, d, notifier, func(context.Context) error { return nil }, logger)
	r.socket = bot.NewSocket(cfg, logger, bot.SocketOptions{Wait: func(ctx context.Context, d time.Duration) error {
		r.mu.Lock()
		r.waits = append(r.waits, d)
		r.mu.Unlock()
		return ctx.Err()
	}, ObserveAck: func(kind, outcome string, d time.Duration) {
		r.mu.Lock()
		r.acks = append(r.acks, kind+" "+outcome)
		r.mu.Unlock()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.socket.Run(ctx, r.front) }()
	t.Cleanup(func() {
		r.stop()
		for _, secret := range []string{socketAppToken, appToken, "ticket="} {
			if strings.Contains(r.logs.String(), secret) {
				t.Errorf("logs contain %q:\n%s", secret, r.logs.String())
			}
		}
	})
	return r
}

// stop stops the Socket and returns what Run returned.
func (r *socketRig) stop() error {
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(10 * time.Second):
		r.t.Fatal("the socket did not stop")
		return nil
	}
}

func (r *socketRig) recordedWaits() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

// waitConnected waits for the n-th connection to Slack and its hello.
func (r *socketRig) waitConnected(n int) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := r.sim.WaitFor(ctx, slackapi.MethodSocketConnect, n); err != nil {
		r.t.Fatal(err)
	}
	for r.socket.Ready(context.Background()) != nil {
		if ctx.Err() != nil {
			r.t.Fatalf("never connected: %v", r.socket.Ready(context.Background()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *socketRig) slash(command, text string) slackapi.Ack {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := r.sim.SendSlashCommand(ctx, slackreq.SlashCommand{TeamID: socketTeam, ChannelID: "CASK", ChannelName: "dev",
		UserID: "UDEV1", UserName: "dev", Command: command, Text: text, ResponseURL: r.sim.ResponseURL("cmd")}.JSON())
	if err != nil {
		r.t.Fatal(err)
	}
	return ack
}

func replyOf(t *testing.T, ack slackapi.Ack) (responseType, text string) {
	t.Helper()
	responseType, text, err := ack.SlashReply()
	if err != nil {
		t.Fatal(err)
	}
	return responseType, text
}

func TestSocketAnswersASlashCommandInItsAck(t *testing.T) {
	r := startSocket(t, socketAppToken, nil)
	r.waitConnected(1)

	ack := r.slash("/deploy", "api feature-x")
	if kind, text := replyOf(t, ack); kind != "ephemeral" || text != "Release #1 requested: `api` `feature-x`." {
		t.Fatalf("ack reply = %s %q", kind, text)
	}
	reqs, _ := r.dispatch.recorded()
	if len(reqs) != 1 || reqs[0].User != "UDEV1" || reqs[0].Channel != "CASK" || reqs[0].Command.Verb != "deploy" || reqs[0].ResponseURL != r.sim.ResponseURL("cmd") {
		t.Fatalf("dispatched %+v", reqs)
	}
	// Usage mistakes are answered by the same code as over HTTP.
	if _, text := replyOf(t, r.slash("/deploy", "api")); !strings.Contains(text, "Usage: `/hoist deploy APP REF [to ENV]`") {
		t.Errorf("usage reply = %q", text)
	}
	// A command from another workspace is acknowledged, and nothing else.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other, err := r.sim.SendSlashCommand(ctx, slackreq.SlashCommand{TeamID: "T0THER", ChannelID: "CASK", UserID: "UDEV1",
		Command: "/deploy", Text: "api master", ResponseURL: r.sim.ResponseURL("other")}.JSON())
	if err != nil || other.Payload != nil {
		t.Errorf("other team's command: ack %+v, %v", other, err)
	}
	// Events are acknowledged.
	if ack, err := r.sim.SendEvent(ctx, socketTeam, json.RawMessage(`{"type":"app_home_opened","user":"UDEV1"}`)); err != nil || ack.Payload != nil {
		t.Errorf("event: ack %+v, %v", ack, err)
	}
	if reqs, _ := r.dispatch.recorded(); len(reqs) != 1 {
		t.Errorf("dispatched %d commands; want only the first", len(reqs))
	}
	// An acknowledgement is observed once sent, so the simulator may see
	// it first: compare in order of kind.
	observed := func() string {
		r.mu.Lock()
		defer r.mu.Unlock()
		return strings.Join(slices.Sorted(slices.Values(r.acks)), ", ")
	}
	for deadline := time.Now().Add(5 * time.Second); strings.Count(observed(), ",") < 3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := observed(); got != "command ok, command ok, command refused, event ok" {
		t.Errorf("acknowledgements observed: %s", got)
	}
}

func TestSocketAcksAClickBeforeDecidingIt(t *testing.T) {
	d := &socketDispatcher{voteGate: make(chan struct{})}
	r := startSocket(t, socketAppToken, d)
	r.waitConnected(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ack, err := r.sim.SendInteractive(ctx, slackreq.BlockAction{TeamID: socketTeam, ChannelID: "C0DEPLOYS", UserID: "UADMIN1", UserName: "ana",
		ActionID: bot.ActionApprove, BlockID: "release_42_actions", Value: "42", MessageTS: "1700000000.000100",
		ResponseURL: r.sim.ResponseURL("click")}.JSON())
	if err != nil {
		t.Fatal(err)
	}
	if ack.Payload != nil {
		t.Errorf("click ack carries %s", ack.Payload)
	}
	if _, votes := d.recorded(); len(votes) != 0 {
		t.Fatalf("the vote was decided before the click was acknowledged: %+v", votes)
	}
	close(d.voteGate)
	calls, err := r.sim.WaitFor(ctx, slackapi.MethodResponseURL, 1)
	if err != nil {
		t.Fatal(err)
	}
	if calls[0].Ref != "click" || calls[0].Params["text"] != "You approved release #42." {
		t.Errorf("reply through the response URL: %+v", calls[0])
	}
	if _, votes := d.recorded(); len(votes) != 1 || votes[0] != (vote{"UADMIN1", 42, true}) {
		t.Errorf("votes = %+v", votes)
	}
}

// TestSocketKeepsEveryAckUnderSlacksLimit sends commands whose replies
// are far longer than an acknowledgement may be: each is cut cleanly, and
// Slack would take every acknowledgement.
func TestSocketKeepsEveryAckUnderSlacksLimit(t *testing.T) {
	lines := func(line string, n int) string { return strings.TrimSuffix(strings.Repeat(line+"\n", n), "\n") }
	// Keyed by the environment of `/hoist lock ENV`, which the
	// dispatcher answers with the text.
	replies := map[string]string{
		"short":      "Release #1 requested.",
		"lines":      lines("• *staging*: `api` `feature-x` by <@U012AB3CD> — succeeded", 2000),
		"one-line":   strings.Repeat("x", 100_000),
		"code-block": "Build log:\n```\n" + lines(`step "quoted" \ backslashed <tag> & more`, 3000) + "\n```\nDone.",
		"multi-byte": lines("déploiement 🚀 réussi — 発行", 5000),
		"links":      strings.Repeat("<https://example.com/a/very/long/path|a link> ", 3000),
		"near-limit": strings.Repeat("y", bot.MaxAckBytes-100),
	}
	d := &socketDispatcher{reply: func(req release.Request) release.Reply {
		return release.Reply{Text: replies[req.Command.Env], Public: req.Command.Env == "lines"}
	}}
	r := startSocket(t, socketAppToken, d)
	r.waitConnected(1)
	for name, full := range replies {
		t.Run(name, func(t *testing.T) {
			ack := r.slash("/hoist", "lock "+name)
			if ack.Dropped || ack.Size >= bot.MaxAckBytes {
				t.Fatalf("ack of %d bytes: Slack drops it", ack.Size)
			}
			kind, text := replyOf(t, ack)
			if want := map[bool]string{true: "in_channel", false: "ephemeral"}[name == "lines"]; kind != want {
				t.Errorf("response type %q; want %q", kind, want)
			}
			if text == full {
				return
			}
			if !strings.HasSuffix(text, "more than Slack accepts at once._") {
				t.Errorf("a cut reply does not say so: …%q", text[max(0, len(text)-80):])
			}
			kept, _, _ := strings.Cut(text, "\n…\n")
			if !strings.HasPrefix(full, strings.TrimSuffix(kept, "\n```")) {
				t.Errorf("the reply was not cut at its end")
			}
			if len(text) < bot.MaxAckBytes/4 {
				t.Errorf("only %d bytes of the reply were kept", len(text))
			}
			if !utf8.ValidString(text) || strings.Count(text, "```")%2 != 0 {
				t.Errorf("cut inside a rune or a code block: …%q", text[max(0, len(text)-120):])
			}
			if strings.LastIndex(kept, "<") > strings.LastIndex(kept, ">") {
				t.Errorf("cut inside a link or mention: …%q", kept[max(0, len(kept)-80):])
			}
		})
	}
}

func TestSocketReconnects(t *testing.T) {
	r := startSocket(t, socketAppToken, nil)
	r.waitConnected(1)

	for i, reason := range []string{"refresh_requested", "warning"} {
		if n := r.sim.Disconnect(reason); n != 1 {
			t.Fatalf("%s sent on %d connections", reason, n)
		}
		r.waitConnected(i + 2)
		if _, text := replyOf(t, r.slash("/deploy", "api feature-x")); !strings.Contains(text, "Release #1 requested") {
			t.Fatalf("after %s: reply %q", reason, text)
		}
	}
	if waits := r.recordedWaits(); len(waits) != 0 {
		t.Errorf("Slack asked to reconnect, yet Hoist waited %v", waits)
	}

	r.sim.DropSockets()
	r.waitConnected(4)
	if _, text := replyOf(t, r.slash("/deploy", "api feature-x")); !strings.Contains(text, "Release #1 requested") {
		t.Fatalf("after a dropped connection: reply %q", text)
	}
	if waits := r.recordedWaits(); len(waits) != 1 || waits[0] <= 0 || waits[0] > time.Second {
		t.Errorf("a connection lost right after it opened is reopened after a short backoff; waits = %v", waits)
	}
	if calls := r.sim.Calls("apps.connections.open"); len(calls) != 4 {
		t.Errorf("%d apps.connections.open calls for 4 connections", len(calls))
	}
}

func TestSocketBacksOffWhenSlackHasTooManyConnections(t *testing.T) {
	r := startSocket(t, socketAppToken, nil, slackapi.WithSocketsRefused(4))
	r.waitConnected(5)
	waits := r.recordedWaits()
	if len(waits) < 4 {
		t.Fatalf("waits = %v; want one after each of the 4 refusals", waits)
	}
	waits = waits[len(waits)-4:]
	if waits[0] <= 0 || waits[3] <= 2*waits[0] {
		t.Errorf("waits do not grow: %v", waits)
	}
	if _, text := replyOf(t, r.slash("/deploy", "api feature-x")); !strings.Contains(text, "Release #1 requested") {
		t.Fatalf("reply %q", text)
	}
	if !strings.Contains(r.logs.String(), "too_many_websockets") {
		t.Errorf("the logs do not say why Hoist waits")
	}
}

func TestSocketWaitsLongWhenSocketModeIsOff(t *testing.T) {
	r := startSocket(t, socketAppToken, nil)
	r.waitConnected(1)
	r.sim.Disconnect("link_disabled")
	r.waitConnected(2)
	if waits := r.recordedWaits(); len(waits) != 1 || waits[0] != 2*time.Minute {
		t.Errorf("waits = %v; want the longest wait, 2m0s", waits)
	}
	if !strings.Contains(r.logs.String(), "turn it on under Settings → Socket Mode") {
		t.Errorf("the logs do not say how to fix it")
	}
}

func TestSocketStopsOnAWrongAppToken(t *testing.T) {
	const wrong = "xapp-1-A0HOIST-wrong-secret"
	r := startSocket(t, wrong, nil)
	var err error
	select {
	case err = <-r.done:
		r.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Run goes on with a token Slack refuses")
	}
	if err == nil || !strings.Contains(err.Error(), "invalid_auth") || !strings.Contains(err.Error(), "HOIST_SLACK_APP_TOKEN") {
		t.Errorf("Run = %v; want an error naming invalid_auth and HOIST_SLACK_APP_TOKEN", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the token: %v", err)
	}
	if calls := r.sim.Calls("apps.connections.open"); len(calls) != 1 {
		t.Errorf("%d apps.connections.open calls; want 1", len(calls))
	}
	if ready := r.socket.Ready(context.Background()); ready == nil || !strings.Contains(ready.Error(), "not connected") {
		t.Errorf("Ready = %v", ready)
	}
}

func TestSocketDoesNotConnectWithThePlaceholder(t *testing.T) {
	r := startSocket(t, config.PlaceholderAppToken, nil)
	ready := r.socket.Ready(context.Background())
	for ready == nil || !strings.Contains(ready.Error(), "placeholder") {
		time.Sleep(5 * time.Millisecond)
		ready = r.socket.Ready(context.Background())
	}
	if !strings.Contains(ready.Error(), "HOIST_SLACK_APP_TOKEN") {
		t.Errorf("Ready = %v; want it to name HOIST_SLACK_APP_TOKEN", ready)
	}
	if err := r.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if calls := r.sim.Calls(""); len(calls) != 0 {
		t.Errorf("Hoist called Slack: %+v", calls)
	}
}

// TestSocketFinishesItsAcksWhenStopping stops Hoist while a command is
// being answered: the answer still reaches Slack.
func TestSocketFinishesItsAcksWhenStopping(t *testing.T) {
	gate := make(chan struct{})
	d := &socketDispatcher{reply: func(release.Request) release.Reply {
		<-gate
		return release.Reply{Text: "Release #1 requested."}
	}}
	r := startSocket(t, socketAppToken, d)
	r.waitConnected(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	acked := make(chan slackapi.Ack, 1)
	go func() {
		ack, _ := r.sim.SendSlashCommand(ctx, slackreq.SlashCommand{TeamID: socketTeam, ChannelID: "CASK", UserID: "UDEV1",
			Command: "/deploy", Text: "api feature-x", ResponseURL: r.sim.ResponseURL("cmd")}.JSON())
		acked <- ack
	}()
	for {
		if reqs, _ := d.recorded(); len(reqs) == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.cancel()
	close(gate)
	if _, text := replyOf(t, <-acked); text != "Release #1 requested." {
		t.Errorf("reply = %q", text)
	}
	if err := r.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
}
