package app_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/app"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

// scrape reads GET /metrics as Prometheus does and returns each sample
// by its name and labels as written.
func (h *hoist) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(h.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// TestMetricsOfAnApprovedRelease walks a release to production through
// Slack and reads what an operator's Prometheus would see.
func TestMetricsOfAnApprovedRelease(t *testing.T) {
	h := start(t, release.Ports{Pipeline: &instantPipeline{}})
	st := h.openStore()
	h.slack.RateLimitNext("chat.update", 1)

	h.command(developer, "/deploy", "api master")
	r := h.waitRelease(st, 1, release.AwaitingApproval)
	if a := h.post("/slack/commands", []byte("command=%2Fdeploy&text=api+master"), http.Header{}); a.status != http.StatusUnauthorized {
		t.Fatalf("unsigned command: %d", a.status)
	}
	h.click(developer, bot.ActionApprove, 1, "dev-click")
	h.eventually(t, "the developer's refusal", func() bool { return len(h.responses("dev-click")) == 1 })
	h.click(admin, bot.ActionApprove, 1, "admin-click")
	h.waitRelease(st, 1, release.Succeeded)
	h.eventually(t, "the card to show the outcome", func() bool {
		final, _ := h.slack.Message(askChannel, r.MessageTS)
		return strings.Contains(final.Text, "succeeded")
	})

	m := h.scrape(t)
	for series, want := range map[string]float64{
		`hoist_slack_requests_total{kind="command",outcome="ok"}`:            1,
		`hoist_slack_requests_total{kind="command",outcome="unauthorized"}`:  1,
		`hoist_slack_requests_total{kind="interaction",outcome="ok"}`:        2,
		`hoist_slack_ack_duration_seconds_count{kind="command"}`:             2,
		`hoist_slack_ack_duration_seconds_bucket{kind="interaction",le="3"}`: 2,
		`hoist_approvals_total{outcome="approved"}`:                          1,
		`hoist_approvals_total{outcome="refused"}`:                           1,
		`hoist_approvals_total{outcome="denied"}`:                            0,
		`hoist_releases{env="production",state="succeeded"}`:                 1,
		`hoist_releases{env="production",state="awaiting_approval"}`:         0,
		`hoist_slack_api_rate_limited_total{method="chat.update"}`:           1,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
		}
	}
	if m[`hoist_slack_api_calls_total{code="200",method="chat.postMessage"}`] < 3 {
		t.Errorf("chat.postMessage calls = %v; want the card and two announcements at least", m[`hoist_slack_api_calls_total{code="200",method="chat.postMessage"}`])
	}
	if m[`hoist_slack_api_calls_total{code="429",method="chat.update"}`] != 1 {
		t.Error("the 429 of chat.update is not counted among the calls")
	}
	if m[`hoist_store_operation_duration_seconds_count{operation="transition"}`] < 4 {
		t.Errorf("transitions timed = %v; want the four of the release at least", m[`hoist_store_operation_duration_seconds_count{operation="transition"}`])
	}
}

func TestMetricsCountJenkinsBeingDown(t *testing.T) {
	h, j := startWithJenkins(t, jenkinssim.Job{Lines: 10})
	st := h.openStore()
	j.SetDown(true)
	h.command(developer, "/deploy", "api feature-x")
	h.waitRelease(st, 1, release.Failed)
	m := h.scrape(t)
	if got := m[`hoist_integration_errors_total{operation="trigger",system="jenkins",transient="true"}`]; got < 1 {
		t.Errorf("transient Jenkins errors of trigger = %v; want at least 1", got)
	}
	if got := m[`hoist_releases{env="test",state="failed"}`]; got != 1 {
		t.Errorf("failed releases in test = %v", got)
	}
}

// TestReadyzNeedsSlackToAcceptTheToken runs Hoist with bot tokens Slack
// cannot take: it is alive, but not ready, and says why.
func TestReadyzNeedsSlackToAcceptTheToken(t *testing.T) {
	sim := slackapi.New(slackapi.WithToken("xoxb-the-right-one"))
	t.Cleanup(sim.Close)
	for _, tt := range []struct {
		name, token, why, log string
	}{
		{"revoked", "xoxb-revoked-token-0123", "slack: auth.test: invalid_auth", "slack refuses Hoist's bot token"},
		{"the example's placeholder", config.PlaceholderBotToken, "slack: slack.bot_token is the example's placeholder", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			base, logs := runBare(t, "HOIST_SLACK_MODE=http", "HOIST_SLACK_API_URL="+sim.URL(), "HOIST_SLACK_BOT_TOKEN="+tt.token,
				"HOIST_SLACK_SIGNING_SECRET="+signingSecret, "HOIST_STORE_DSN="+filepath.Join(t.TempDir(), "hoist.db"))
			if status, _ := getBody(t, base+"/healthz"); status != http.StatusOK {
				t.Errorf("/healthz = %d", status)
			}
			if status, body := getBody(t, base+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, tt.why) {
				t.Errorf("/readyz = %d %q; want 503 saying %q", status, body, tt.why)
			}
			if tt.log != "" && !strings.Contains(logs.String(), tt.log) {
				t.Errorf("the log does not say %q:\n%s", tt.log, logs.String())
			}
			if strings.Contains(logs.String(), tt.token) {
				t.Error("the logs show the bot token")
			}
		})
	}
}

// runBare runs Hoist on the embedded example with environ, without
// waiting for it to be ready, and returns its URL and logs.
func runBare(t *testing.T, environ ...string) (string, *syncBuffer) {
	t.Helper()
	cfg, err := config.Load("", environ)
	if err != nil {
		t.Fatal(err)
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hoist stopped with %v", err)
		}
	})
	return "http://" + ln.Addr().String(), logs
}

// getBody answers a GET; the request waits in the listener's backlog until
// Hoist serves.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
