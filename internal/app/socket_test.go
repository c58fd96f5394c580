package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/app"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
)

const appToken = "xapp-1-A0HOIST-1234567890-e2e-app-token"

// TestSocketMode runs Hoist in socket mode against the Slack simulator:
// commands and clicks arrive over Socket Mode, and releases run as they
// do in http mode.
func TestSocketMode(t *testing.T) {
	h := startWith(t, release.Ports{Pipeline: &instantPipeline{}}, []slackapi.Option{slackapi.WithAppToken(appToken)},
		"HOIST_SLACK_MODE=socket", "HOIST_SLACK_APP_TOKEN="+appToken)
	h.secrets = append(h.secrets, appToken)
	st := h.openStore()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	slash := func(user, command, text string) string {
		t.Helper()
		ack, err := h.slack.SendSlashCommand(ctx, slackreq.SlashCommand{TeamID: team, ChannelID: askChannel, ChannelName: "dev",
			UserID: user, UserName: user, Command: command, Text: text, ResponseURL: h.slack.ResponseURL("cmd")}.JSON())
		if err != nil {
			t.Fatal(err)
		}
		_, reply, err := ack.SlashReply()
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}

	if reply := slash(developer, "/deploy", "api feature-x"); !strings.Contains(reply, "Release #1 requested") {
		t.Fatalf("deploy reply: %q", reply)
	}
	r := h.waitRelease(st, 1, release.Succeeded)
	if !strings.Contains(r.StateReason, "success") {
		t.Errorf("reason = %q", r.StateReason)
	}

	if reply := slash(developer, "/deploy", "api master"); !strings.Contains(reply, "Release #2 requested") {
		t.Fatalf("deploy reply: %q", reply)
	}
	h.waitRelease(st, 2, release.AwaitingApproval)
	ack, err := h.slack.SendInteractive(ctx, slackreq.BlockAction{TeamID: team, ChannelID: askChannel, UserID: admin, UserName: admin,
		ActionID: bot.ActionApprove, BlockID: "release_2_actions", Value: "2", ResponseURL: h.slack.ResponseURL("approve")}.JSON())
	if err != nil || ack.Payload != nil {
		t.Fatalf("click ack: %+v, %v", ack, err)
	}
	h.waitRelease(st, 2, release.Succeeded)
	h.eventually(t, "the answer to the click", func() bool { return len(h.responses("approve")) == 1 })

	// Slack's requests come over the socket only.
	if a := h.command(developer, "/deploy", "api feature-y"); a.status != http.StatusNotFound {
		t.Errorf("POST /slack/commands in socket mode: %d %s", a.status, a.body)
	}
	metrics := get(t, h.url+"/metrics")
	if !strings.Contains(metrics, `hoist_slack_requests_total{kind="command",outcome="ok"} 2`) {
		t.Errorf("socket mode acknowledgements are not counted:\n%s", grepLines(metrics, "hoist_slack_requests_total"))
	}
}

// TestSocketModeWithThePlaceholderToken runs Hoist on the embedded example
// configuration, as `make run` does: it serves, does not connect to Slack,
// and /readyz says why.
func TestSocketModeWithThePlaceholderToken(t *testing.T) {
	sim := slackapi.New()
	t.Cleanup(sim.Close)
	cfg, err := config.Load("", []string{"HOIST_SLACK_API_URL=" + sim.URL(), "HOIST_STORE_DSN=" + filepath.Join(t.TempDir(), "hoist.db")})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Slack.Mode != "socket" {
		t.Fatalf("the example's mode is %q", cfg.Slack.Mode)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, cfg, app.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Listener: ln})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hoist stopped with %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	var health string
	for deadline := time.Now().Add(10 * time.Second); health != "ok\n"; {
		if time.Now().After(deadline) {
			t.Fatal("/healthz never answered ok")
		}
		health = get(t, base+"/healthz")
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "slack.app_token is the example's placeholder; set HOIST_SLACK_APP_TOKEN") {
		t.Errorf("/readyz = %d %q", resp.StatusCode, body)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(logs.String(), "slack.app_token holds the example's placeholder"); {
		if time.Now().After(deadline) {
			t.Fatalf("the logs do not say why Hoist does not connect:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if calls := sim.Calls("apps.connections.open"); len(calls) != 0 {
		t.Errorf("Hoist tried to connect with the placeholder: %+v", calls)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return fmt.Sprint(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func grepLines(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
