// Package streaming measures how Hoist shows concurrent builds in Slack: it
// runs Hoist in process against the Slack and Jenkins simulators on
// loopback, deploys N branches at once whose builds each print L lines
// over D, and measures the Slack calls made, the 429s received, the lag
// between a line's arrival in Jenkins and its appearance in Slack, the
// longest wait of a live message between refreshes, and the Jenkins log
// bytes fetched per byte of log.
package streaming

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hoistbot/hoist/bench/internal/load"
	"github.com/hoistbot/hoist/internal/app"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
	"github.com/hoistbot/hoist/internal/store"
)

const (
	channel = "CBENCH"
	secret  = "bench-signing-secret"
)

// Options describe a run.
type Options struct {
	// Builds is the number of concurrent builds.
	Builds int
	// Lines is how many console lines each build prints, over Duration.
	Lines    int
	Duration time.Duration
	// Budget is slack.update_budget_per_minute.
	Budget int
	// Tier is how many chat.update calls a minute the Slack simulator
	// allows before it answers 429.
	Tier int
	// Trace, when set, receives every chat.update and chat.postMessage
	// call, and every wait between refreshes longer than the bound.
	Trace io.Writer
}

// Result is what a run measured.
type Result struct {
	Options
	// Finished is how long the builds took, from the first command;
	// Shown how long until Slack showed every final state.
	Finished, Shown time.Duration
	// Calls counts the Slack calls: all, then by kind.
	Calls, Updates, Posts, Files int
	// Limited counts the 429s received.
	Limited int
	// Polls counts the log polls: one update each is the naive baseline.
	Polls int
	// LagP50, LagP95 and LagMax describe the lag of each line shown, from
	// its writing in Jenkins to its first appearance in Slack.
	LagP50, LagP95, LagMax time.Duration
	LagLines               int
	// MaxGap is the longest wait between refreshes of a live message;
	// Bound is 1.5 × Builds / Budget minutes.
	MaxGap, Bound time.Duration
	// LogFetched is the log bytes Jenkins served; LogBytes the size of the
	// logs.
	LogFetched, LogBytes int64
}

// BytesPerLogByte is the Jenkins log bytes fetched per byte of log.
func (r Result) BytesPerLogByte() float64 {
	return float64(r.LogFetched) / float64(max(r.LogBytes, 1))
}

// UpdatesPerPoll is the chat.update calls made per log poll: the share
// of the naive baseline, one update per poll, that Hoist sent.
func (r Result) UpdatesPerPoll() float64 {
	return float64(r.Updates) / float64(max(r.Polls, 1))
}

// Print writes the result as the lines bench/builds prints.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "builds finished after %v; Slack showed every final state after %v\n", r.Finished.Round(time.Second), r.Shown.Round(time.Second))
	fmt.Fprintf(w, "builds %d × %d lines over %v, update budget %d/min\n", r.Builds, r.Lines, r.Duration, r.Budget)
	fmt.Fprintf(w, "slack calls        %d (chat.update %d, chat.postMessage %d, files %d)\n", r.Calls, r.Updates, r.Posts, r.Files)
	fmt.Fprintf(w, "429s received      %d\n", r.Limited)
	fmt.Fprintf(w, "naive baseline     %d log polls with one update each; chat.update/baseline = %.3f\n", r.Polls, r.UpdatesPerPoll())
	fmt.Fprintf(w, "line lag           p50 %v, p95 %v, max %v (%d lines seen)\n", r.LagP50.Round(time.Millisecond), r.LagP95.Round(time.Millisecond), r.LagMax.Round(time.Millisecond), r.LagLines)
	fmt.Fprintf(w, "refresh gap        max %v between refreshes of a live message; bound 1.5×N/B = %v\n", r.MaxGap.Round(time.Millisecond), r.Bound.Round(time.Millisecond))
	fmt.Fprintf(w, "jenkins log bytes  fetched %d / log %d = %.4f\n", r.LogFetched, r.LogBytes, r.BytesPerLogByte())
}

// Run deploys o.Builds branches at once through Hoist and measures how
// their builds are shown, until Slack shows every final state.
func Run(ctx context.Context, o Options) (Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slack := slackapi.New(slackapi.WithChannel(channel, "bench", false, true), slackapi.WithRateLimit("chat.update", o.Tier))
	defer slack.Close()
	jenkins := jenkinssim.New(jenkinssim.WithJob("api/preview", jenkinssim.Job{
		Lines: o.Lines, Duration: o.Duration, QueueWait: 10 * time.Millisecond,
		LineText: func(build, line int) string { return fmt.Sprintf("build %d line %06d: compiling package", build, line) },
	}))
	defer jenkins.Close()
	dir, err := os.MkdirTemp("", "hoist-bench-")
	if err != nil {
		return Result{}, fmt.Errorf("make store directory: %w", err)
	}
	defer os.RemoveAll(dir)
	dsn := filepath.Join(dir, "hoist.db")
	cfg, err := config.Load("", []string{
		"HOIST_SLACK_MODE=http",
		"HOIST_SLACK_API_URL=" + slack.URL(),
		"HOIST_SLACK_BOT_TOKEN=" + slackapi.DefaultToken,
		"HOIST_SLACK_SIGNING_SECRET=" + secret,
		"HOIST_SLACK_UPDATE_BUDGET_PER_MINUTE=" + strconv.Itoa(o.Budget),
		"HOIST_STORE_DSN=" + dsn,
		"HOIST_JENKINS_URL=" + jenkins.URL(),
		"HOIST_JENKINS_USER=" + jenkinssim.DefaultUser,
		"HOIST_JENKINS_TOKEN=" + jenkinssim.DefaultToken,
	})
	if err != nil {
		return Result{}, fmt.Errorf("load configuration: %w", err)
	}
	cfg.Apps["api"] = config.App{Repo: "acme/api", Deployment: "api", Channel: channel}
	if problems := cfg.Validate(); len(problems) > 0 {
		return Result{}, fmt.Errorf("config: %v", problems)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, fmt.Errorf("listen: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, cfg, app.Options{Logger: slog.New(slog.DiscardHandler), Listener: ln})
	}()
	base := "http://" + ln.Addr().String()
	if err := waitReady(ctx, base); err != nil {
		return Result{}, err
	}

	start := time.Now()
	signer := slackreq.Signer{Secret: secret}
	for i := range o.Builds {
		body := slackreq.SlashCommand{TeamID: "T1", ChannelID: channel, UserID: "UBENCH", Command: "/deploy",
			Text: fmt.Sprintf("api bench-%d", i), ResponseURL: slack.ResponseURL("bench")}.Body()
		req, err := signer.Request(base+"/slack/commands", slackreq.Form, body)
		if err != nil {
			return Result{}, err
		}
		resp, err := http.DefaultClient.Do(req.WithContext(ctx))
		if err != nil {
			return Result{}, fmt.Errorf("deploy: %w", err)
		}
		resp.Body.Close()
	}
	st, err := store.Open(ctx, "sqlite", dsn, nil)
	if err != nil {
		return Result{}, err
	}
	defer st.Close()
	if err := waitFinished(ctx, st, o.Builds, o.Duration+5*time.Minute); err != nil {
		return Result{}, err
	}
	finished := time.Since(start)
	if err := waitShown(ctx, slack, o.Builds, 5*time.Minute); err != nil {
		return Result{}, err
	}
	shown := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		return Result{}, fmt.Errorf("hoist: %w", err)
	}
	r := measure(slack, jenkins, o)
	r.Finished, r.Shown = finished, shown
	return r, nil
}

func waitReady(ctx context.Context, base string) error {
	for range 200 {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("wait for hoist: %w", err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("hoist never became ready")
}

func waitFinished(ctx context.Context, st store.Store, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		rs, err := st.ListReleases(ctx, release.Filter{})
		if err != nil {
			return err
		}
		finished := 0
		for _, r := range rs {
			if r.State.Terminal() {
				if r.State != release.Succeeded {
					return fmt.Errorf("release #%d ended %s: %s", r.ID, r.State, r.StateReason)
				}
				finished++
			}
		}
		if finished == n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the builds did not finish within %v", limit)
}

// waitShown waits until every live build message and every card in Slack
// shows its final state.
func waitShown(ctx context.Context, slack *slackapi.Server, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		builds, cards := 0, 0
		for _, m := range slack.Messages() {
			text := blocksText(m.Blocks)
			switch {
			case m.ThreadTS != "" && strings.Contains(text, "SUCCESS"):
				builds++
			case m.ThreadTS == "" && strings.Contains(text, "*Succeeded*"):
				cards++
			}
		}
		if builds == n && cards == n {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("slack did not show every final state within %v", limit)
}

// showing is what one live message showed at one moment.
type showing struct {
	at    time.Time
	build int
	line  int
}

func measure(slack *slackapi.Server, jenkins *jenkinssim.Server, o Options) Result {
	r := Result{Options: o}
	lineRe := regexp.MustCompile(`build (\d+) line (\d+)`)
	calls := slack.Calls("")
	byMethod := map[string]int{}
	refreshes := map[string][]showing{} // live message ts → what it showed, in order
	for _, c := range calls {
		if o.Trace != nil && (c.Method == "chat.update" || c.Method == "chat.postMessage") {
			fmt.Fprintf(o.Trace, "  %s %s ts=%s thread=%s status=%d\n", c.At.Format("15:04:05.000"), c.Method, c.Params["ts"], c.Params["thread_ts"], c.Status)
		}
		byMethod[c.Method]++
		if c.Status == http.StatusTooManyRequests {
			r.Limited++
			continue
		}
		if c.Error != "" {
			continue
		}
		var ts string
		switch {
		case c.Method == "chat.update":
			ts = c.Params["ts"]
		case c.Method == "chat.postMessage" && c.Params["thread_ts"] != "":
			ts = c.Ref
		default:
			continue
		}
		text := blocksText(c.Blocks)
		s := showing{at: c.At, build: -1, line: -1}
		for _, m := range lineRe.FindAllStringSubmatch(text, -1) {
			b, _ := strconv.Atoi(m[1])
			l, _ := strconv.Atoi(m[2])
			s.build, s.line = b, max(s.line, l)
		}
		if strings.Contains(text, "Build #") {
			refreshes[ts] = append(refreshes[ts], s)
		}
	}
	r.Calls = len(calls)
	r.Updates, r.Posts = byMethod["chat.update"], byMethod["chat.postMessage"]
	r.Files = byMethod["files.getUploadURLExternal"] + byMethod["files.completeUploadExternal"]

	started := map[int]time.Time{}
	for _, b := range jenkins.Builds("api/preview") {
		started[b.Number] = b.Started
		r.LogBytes += int64(b.LogBytes)
	}
	perLine := o.Duration / time.Duration(o.Lines)
	r.Bound = time.Duration(1.5 * float64(o.Builds) / float64(o.Budget) * float64(time.Minute))
	var lags []time.Duration
	for _, shows := range refreshes {
		slices.SortFunc(shows, func(a, b showing) int { return a.at.Compare(b.at) })
		shown := -1
		for i, s := range shows {
			for l := shown + 1; l <= s.line && s.build >= 0; l++ {
				written := started[s.build].Add(time.Duration(l) * perLine)
				lags = append(lags, max(s.at.Sub(written), 0))
			}
			shown = max(shown, s.line)
			if i > 0 {
				gap := s.at.Sub(shows[i-1].at)
				r.MaxGap = max(r.MaxGap, gap)
				if o.Trace != nil && gap > r.Bound {
					fmt.Fprintf(o.Trace, "  gap %v before refresh %d of %d (line %d)\n", gap.Round(time.Millisecond), i, len(shows)-1, s.line)
				}
			}
		}
	}
	slices.Sort(lags)
	r.LagP50, r.LagP95, r.LagMax = load.Percentile(lags, 0.5), load.Percentile(lags, 0.95), load.Percentile(lags, 1)
	r.LagLines = len(lags)
	r.Polls = jenkins.Requests("progressiveText")
	r.LogFetched = jenkins.LogBytesServed()
	return r
}

// blocksText is the text of every element of a message's blocks.
func blocksText(raw json.RawMessage) string {
	var b strings.Builder
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			if s, ok := t["text"].(string); ok {
				b.WriteString(s)
				b.WriteByte('\n')
			}
			for _, x := range t {
				walk(x)
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		}
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		walk(v)
	}
	return b.String()
}
