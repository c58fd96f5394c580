// Command builds measures how Hoist shows concurrent builds in Slack: it
// runs Hoist in process against the Slack and Jenkins simulators on
// loopback, deploys N branches at once whose builds each print L lines
// over D, and reports the Slack calls made, the 429s received, the lag
// between a line's arrival in Jenkins and its appearance in Slack, the
// longest wait of a live message between refreshes, and the Jenkins log
// bytes fetched per byte of log.
//
//	go run ./bench/builds -builds 1 -lines 5000 -duration 1m
//	go run ./bench/builds -builds 50 -lines 5000 -duration 1m
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
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

func main() {
	builds := flag.Int("builds", 1, "concurrent builds")
	lines := flag.Int("lines", 5000, "console lines each build prints")
	duration := flag.Duration("duration", time.Minute, "how long each build prints for")
	budget := flag.Int("budget", 50, "slack.update_budget_per_minute")
	tier := flag.Int("tier", 50, "chat.update calls a minute the Slack simulator allows before answering 429")
	verbose = flag.Bool("v", false, "print every wait between refreshes longer than the bound")
	flag.Parse()
	if err := run(*builds, *lines, *duration, *budget, *tier); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(builds, lines int, duration time.Duration, budget, tier int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slack := slackapi.New(slackapi.WithChannel(channel, "bench", false, true), slackapi.WithRateLimit("chat.update", tier))
	defer slack.Close()
	jenkins := jenkinssim.New(jenkinssim.WithJob("api/preview", jenkinssim.Job{
		Lines: lines, Duration: duration, QueueWait: 10 * time.Millisecond,
		LineText: func(build, line int) string { return fmt.Sprintf("build %d line %06d: compiling package", build, line) },
	}))
	defer jenkins.Close()
	dir, err := os.MkdirTemp("", "hoist-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dsn := filepath.Join(dir, "hoist.db")
	cfg, err := config.Load("", []string{
		"HOIST_SLACK_API_URL=" + slack.URL(),
		"HOIST_SLACK_BOT_TOKEN=" + slackapi.DefaultToken,
		"HOIST_SLACK_SIGNING_SECRET=" + secret,
		"HOIST_SLACK_UPDATE_BUDGET_PER_MINUTE=" + strconv.Itoa(budget),
		"HOIST_STORE_DSN=" + dsn,
		"HOIST_JENKINS_URL=" + jenkins.URL(),
		"HOIST_JENKINS_USER=" + jenkinssim.DefaultUser,
		"HOIST_JENKINS_TOKEN=" + jenkinssim.DefaultToken,
	})
	if err != nil {
		return err
	}
	cfg.Apps["api"] = config.App{Repo: "acme/api", Deployment: "api", Channel: channel}
	if problems := cfg.Validate(); len(problems) > 0 {
		return fmt.Errorf("config: %v", problems)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, cfg, app.Options{Logger: slog.New(slog.DiscardHandler), Listener: ln})
	}()
	base := "http://" + ln.Addr().String()
	if err := waitReady(base); err != nil {
		return err
	}

	start := time.Now()
	signer := slackreq.Signer{Secret: secret}
	for i := range builds {
		body := slackreq.SlashCommand{TeamID: "T1", ChannelID: channel, UserID: "UBENCH", Command: "/deploy",
			Text: fmt.Sprintf("api bench-%d", i), ResponseURL: slack.ResponseURL("bench")}.Body()
		req, err := signer.Request(base+"/slack/commands", slackreq.Form, body)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
	}
	st, err := store.Open(ctx, "sqlite", dsn, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := waitFinished(ctx, st, builds, duration+5*time.Minute); err != nil {
		return err
	}
	finished := time.Since(start)
	if err := waitShown(slack, builds, 5*time.Minute); err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Printf("builds finished after %v; Slack showed every final state after %v\n", finished.Round(time.Second), elapsed.Round(time.Second))
	cancel()
	if err := <-done; err != nil {
		return fmt.Errorf("hoist: %w", err)
	}
	return report(slack, jenkins, builds, lines, duration, budget)
}

func waitReady(base string) error {
	for range 200 {
		if resp, err := http.Get(base + "/readyz"); err == nil {
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
func waitShown(slack *slackapi.Server, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
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

var verbose *bool

var lineRe = regexp.MustCompile(`build (\d+) line (\d+)`)

// showing is what one live message showed at one moment.
type showing struct {
	at    time.Time
	build int
	line  int
}

func report(slack *slackapi.Server, jenkins *jenkinssim.Server, n, lines int, duration time.Duration, budget int) error {
	calls := slack.Calls("")
	byMethod := map[string]int{}
	limited := 0
	refreshes := map[string][]showing{} // live message ts → what it showed, in order
	for _, c := range calls {
		if *verbose && (c.Method == "chat.update" || c.Method == "chat.postMessage") {
			fmt.Printf("  %s %s ts=%s thread=%s status=%d\n", c.At.Format("15:04:05.000"), c.Method, c.Params["ts"], c.Params["thread_ts"], c.Status)
		}
		byMethod[c.Method]++
		if c.Status == http.StatusTooManyRequests {
			limited++
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

	started := map[int]time.Time{}
	var logBytes int64
	for _, b := range jenkins.Builds("api/preview") {
		started[b.Number] = b.Started
		logBytes += int64(b.LogBytes)
	}
	perLine := duration / time.Duration(lines)
	bound := time.Duration(1.5 * float64(n) / float64(budget) * float64(time.Minute))
	var lags []time.Duration
	var maxGap time.Duration
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
				maxGap = max(maxGap, gap)
				if *verbose && gap > bound {
					fmt.Printf("  gap %v before refresh %d of %d (line %d)\n", gap.Round(time.Millisecond), i, len(shows)-1, s.line)
				}
			}
		}
	}
	slices.Sort(lags)
	pct := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	polls := jenkins.Requests("progressiveText")
	fmt.Printf("builds %d × %d lines over %v, update budget %d/min\n", n, lines, duration, budget)
	fmt.Printf("slack calls        %d (chat.update %d, chat.postMessage %d, files %d)\n", len(calls), byMethod["chat.update"], byMethod["chat.postMessage"],
		byMethod["files.getUploadURLExternal"]+byMethod["files.completeUploadExternal"])
	fmt.Printf("429s received      %d\n", limited)
	fmt.Printf("naive baseline     %d log polls with one update each; chat.update/baseline = %.3f\n", polls, float64(byMethod["chat.update"])/float64(max(polls, 1)))
	fmt.Printf("line lag           p50 %v, p95 %v, max %v (%d lines seen)\n", pct(0.5).Round(time.Millisecond), pct(0.95).Round(time.Millisecond), pct(1).Round(time.Millisecond), len(lags))
	fmt.Printf("refresh gap        max %v between refreshes of a live message; bound 1.5×N/B = %v\n", maxGap.Round(time.Millisecond), bound.Round(time.Millisecond))
	fmt.Printf("jenkins log bytes  fetched %d / log %d = %.4f\n", jenkins.LogBytesServed(), logBytes, float64(jenkins.LogBytesServed())/float64(max(logBytes, 1)))
	return nil
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
