package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/app"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
	"github.com/hoistbot/hoist/internal/store"
)

const (
	signingSecret = "e2e-signing-secret-0123456789"
	team          = "T0HOIST00"
	askChannel    = "CASK"
	appChannel    = "C0DEPLOYS" // apps.api.channel in the embedded example
	admin         = "UADMIN1"
	admin2        = "UADMIN2"
	developer     = "UDEV1"
)

// instantPipeline is a build server whose builds succeed at once, and
// counts the builds it is asked for.
type instantPipeline struct{ builds atomic.Int64 }

func (p *instantPipeline) Trigger(context.Context, release.BuildRequest) (int64, error) {
	return p.builds.Add(1), nil
}

func (p *instantPipeline) FindBuild(context.Context, string, release.ID) (release.FoundBuild, bool, error) {
	return release.FoundBuild{}, false, nil
}

func (p *instantPipeline) WaitForBuild(_ context.Context, job string, queueID int64) (int64, string, error) {
	return 7, "http://jenkins.test/job/" + job + "/7/", nil
}

func (p *instantPipeline) Status(context.Context, string, int64) (release.BuildStatus, error) {
	return release.BuildStatus{Result: "SUCCESS", Estimated: -1}, nil
}

func (p *instantPipeline) ReadLog(_ context.Context, _ string, _ int64, offset int64) (release.LogChunk, error) {
	return release.LogChunk{Next: offset}, nil
}

func (p *instantPipeline) CancelQueued(context.Context, int64) error { return nil }
func (p *instantPipeline) Stop(context.Context, string, int64) error { return nil }

// hoist is a running Hoist on loopback, talking to a Slack simulator.
type hoist struct {
	t      *testing.T
	url    string
	slack  *slackapi.Server
	driver string // store driver and DSN Hoist runs on
	dsn    string
	logs   *syncBuffer
	signer slackreq.Signer

	environ []string
	// configFile, when set, is read instead of the embedded example.
	configFile string
	// reapInterval overrides how often expired environments are reaped.
	reapInterval time.Duration
	ports        release.Ports
	stop         func()
	secrets      []string // more values that must never appear in the logs
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs Hoist on its embedded example configuration, pointed at a
// Slack simulator through HOIST_* variables, as a user would.
func start(t *testing.T, ports release.Ports, extraEnv ...string) *hoist {
	t.Helper()
	return startWith(t, ports, nil, extraEnv...)
}

// startWith is start with more simulator options (user groups, say).
func startWith(t *testing.T, ports release.Ports, simOpts []slackapi.Option, extraEnv ...string) *hoist {
	t.Helper()
	return launch(t, ports, simOpts, nil, extraEnv...)
}

// launch is startWith with a last say, through configure, on how Hoist
// runs (a configuration file, say) before it starts.
func launch(t *testing.T, ports release.Ports, simOpts []slackapi.Option, configure func(*hoist), extraEnv ...string) *hoist {
	t.Helper()
	sim := slackapi.New(append([]slackapi.Option{
		slackapi.WithToken("xoxb-e2e-bot-token"),
		slackapi.WithChannel(askChannel, "dev", false, true),
		slackapi.WithChannel(appChannel, "deploys", false, false),
		slackapi.WithChannel("CPRIVATE", "secret", true, false),
	}, simOpts...)...)
	t.Cleanup(sim.Close)
	h := &hoist{t: t, slack: sim, driver: "sqlite", dsn: filepath.Join(t.TempDir(), "hoist.db"), logs: &syncBuffer{},
		signer: slackreq.Signer{Secret: signingSecret}, ports: ports}
	h.environ = append([]string{
		"HOIST_SLACK_MODE=http", // the example's default is socket mode; these tests speak HTTP
		"HOIST_SLACK_API_URL=" + sim.URL(),
		"HOIST_SLACK_BOT_TOKEN=xoxb-e2e-bot-token",
		"HOIST_SLACK_SIGNING_SECRET=" + signingSecret,
		"HOIST_SLACK_TEAM_ID=" + team,
		"HOIST_STORE_DSN=" + h.dsn,
		"HOIST_RBAC_ADMINS=" + admin + "," + admin2,
		"HOIST_SLACK_UPDATE_BUDGET_PER_MINUTE=6000", // tests check outcomes, not pacing: that is the benchmark's
	}, extraEnv...)
	for _, kv := range extraEnv {
		if v, ok := strings.CutPrefix(kv, "HOIST_STORE_DRIVER="); ok {
			h.driver = v
		}
		if v, ok := strings.CutPrefix(kv, "HOIST_STORE_DSN="); ok {
			h.dsn = v
		}
	}
	if configure != nil {
		configure(h)
	}
	h.run()
	t.Cleanup(func() {
		h.stop()
		for _, secret := range append([]string{"xoxb-e2e-bot-token", signingSecret}, h.secrets...) {
			if strings.Contains(h.logs.String(), secret) {
				t.Errorf("logs contain the secret %q", secret)
			}
		}
	})
	return h
}

// run starts Hoist; stop stops it. A test may stop Hoist and run it
// again: the new process finds the same store and simulators.
func (h *hoist) run() {
	h.t.Helper()
	cfg, err := config.Load(h.configFile, h.environ)
	if err != nil {
		h.t.Fatal(err)
	}
	if problems := cfg.Validate(); len(problems) > 0 {
		h.t.Fatalf("config: %v", problems)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		h.t.Fatal(err)
	}
	h.url = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		done <- app.Run(ctx, cfg, app.Options{Logger: logger, Ports: h.ports, Listener: ln,
			WorkerInterval: 50 * time.Millisecond, GroupMinRefresh: 200 * time.Millisecond, LogPoll: 20 * time.Millisecond,
			ReapInterval: h.reapInterval})
	}()
	h.stop = func() {
		h.stop = func() {}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("hoist stopped with %v", err)
			}
		case <-time.After(app.ShutdownGrace + time.Second):
			h.t.Error("hoist did not stop within its grace period")
		}
	}
	h.waitReady()
}

func (h *hoist) waitReady() {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(h.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatal("hoist never became ready")
}

type answer struct {
	status int
	body   string
	reply  struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
}

func (h *hoist) post(path string, body []byte, headers http.Header) answer {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header = headers
	req.Header.Set("Content-Type", slackreq.Form)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.reply); err != nil {
			h.t.Fatalf("reply is not JSON: %s", raw)
		}
	}
	return a
}

func (h *hoist) command(user, slash, text string) answer {
	h.t.Helper()
	body := slackreq.SlashCommand{TeamID: team, ChannelID: askChannel, ChannelName: "dev", UserID: user, UserName: user,
		Command: slash, Text: text, ResponseURL: h.slack.ResponseURL("cmd")}.Body()
	return h.post("/slack/commands", body, h.signer.Headers(body))
}

func (h *hoist) click(user, actionID string, id release.ID, responseID string) answer {
	h.t.Helper()
	body := slackreq.BlockAction{TeamID: team, ChannelID: askChannel, UserID: user, UserName: user, ActionID: actionID,
		BlockID: fmt.Sprintf("release_%d_actions", id), Value: id.String(), ResponseURL: h.slack.ResponseURL(responseID)}.Body()
	return h.post("/slack/interactions", body, h.signer.Headers(body))
}

// openStore opens a second handle on Hoist's database, to look at it.
func (h *hoist) openStore() store.Store {
	h.t.Helper()
	st, err := store.Open(context.Background(), h.driver, h.dsn, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { st.Close() })
	return st
}

func (h *hoist) waitRelease(st store.Store, id release.ID, want release.State) release.Release {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := st.GetRelease(context.Background(), id)
		if err == nil && r.State == want {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("release #%d is %s (%s); want %s", id, r.State, r.StateReason, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cardText waits for the message at (channel, ts) to contain want.
func (h *hoist) waitMessage(want string) slackapi.Message {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range h.slack.Messages() {
			if strings.Contains(m.Text, want) || strings.Contains(string(m.Blocks), want) {
				return m
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no message contains %q; messages: %+v", want, h.slack.Messages())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *hoist) responses(id string) []string {
	var out []string
	for _, c := range h.slack.Calls(slackapi.MethodResponseURL) {
		if c.Ref == id {
			out = append(out, c.Params["text"])
		}
	}
	return out
}
