package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/logctx"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
)

const requestIDSecret = "request-id-test-signing-secret"

// failingDispatcher logs a line on the request's context, as the release
// service does, and then fails, so that the requester gets an apology
// with the request ID.
type failingDispatcher struct{ logger *slog.Logger }

func (d failingDispatcher) Handle(ctx context.Context, req release.Request) (release.Reply, error) {
	d.logger.InfoContext(ctx, "service handles command")
	return release.Reply{}, errors.New("store is gone")
}

func (d failingDispatcher) Vote(ctx context.Context, user string, id release.ID, approve bool, reason string) (release.Reply, error) {
	d.logger.InfoContext(ctx, "service handles vote")
	return release.Reply{}, errors.New("store is gone")
}

type recordingResponder struct {
	mu      sync.Mutex
	replies []string
}

func (r *recordingResponder) Respond(_ context.Context, _, text string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, text)
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// linesOf returns the messages of the JSON log lines naming request id.
func (s *syncBuffer) linesOf(t *testing.T, id string) []string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["request_id"] == id {
			msgs = append(msgs, rec["msg"].(string))
		}
	}
	return msgs
}

var apologyID = regexp.MustCompile("request ID: `([0-9a-f]+)`")

// TestRequestIDReachesEveryLineOfTheRequest checks that the ID a user is
// given in an apology finds every line logged for that request: the front
// door's and the service's, for a command and for a click decided after
// its acknowledgement.
func TestRequestIDReachesEveryLineOfTheRequest(t *testing.T) {
	logs := &syncBuffer{}
	logger := logctx.Logger(slog.New(slog.NewJSONHandler(logs, nil)))
	responder := &recordingResponder{}
	front := bot.NewServer(config.Slack{Mode: "http", SigningSecret: config.Secret(requestIDSecret)},
		failingDispatcher{logger: logger}, responder, func(context.Context) error { return nil }, logger)
	srv := httptest.NewServer(front.Handler())
	defer srv.Close()
	signer := slackreq.Signer{Secret: requestIDSecret}
	post := func(path string, body []byte) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = signer.Headers(body)
		req.Header.Set("Content-Type", slackreq.Form)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := post("/slack/commands", slackreq.SlashCommand{TeamID: "T1", ChannelID: "C1", UserID: "U1", Command: "/hoist", Text: "status"}.Body())
	var reply struct{ Text string }
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := apologyID.FindStringSubmatch(reply.Text)
	if m == nil {
		t.Fatalf("reply %q gives no request ID", reply.Text)
	}
	if got := logs.linesOf(t, m[1]); strings.Join(got, ", ") != "service handles command, handle command" {
		t.Errorf("lines of command %s: %q", m[1], got)
	}

	resp = post("/slack/interactions", slackreq.BlockAction{TeamID: "T1", ChannelID: "C1", UserID: "U1", ActionID: bot.ActionApprove,
		BlockID: "release_7_actions", Value: "7", ResponseURL: "https://hooks.slack.com/actions/T1/1/x"}.Body())
	resp.Body.Close()
	front.Drain(context.Background())
	responder.mu.Lock()
	replies := responder.replies
	responder.mu.Unlock()
	if len(replies) != 1 || apologyID.FindStringSubmatch(replies[0]) == nil {
		t.Fatalf("click answered %q", replies)
	}
	id := apologyID.FindStringSubmatch(replies[0])[1]
	if id == m[1] {
		t.Fatalf("the command and the click share request ID %s", id)
	}
	if got := logs.linesOf(t, id); strings.Join(got, ", ") != "service handles vote, handle vote" {
		t.Errorf("lines of click %s: %q", id, got)
	}
}
