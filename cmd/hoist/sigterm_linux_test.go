package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
	"github.com/hoistbot/hoist/internal/sim/slackreq"
	"github.com/hoistbot/hoist/internal/store"
)

// runMainEnv makes the test binary run main instead of the tests: the
// tests start the real `hoist` that way, without building it again.
const runMainEnv = "RUN_HOIST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	sigtermSecret = "sigterm-signing-secret-0123456789"
	sigtermTeam   = "T0HOIST00"
	sigtermAsk    = "CASK"
)

// process is one `hoist serve` run by the test.
type process struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	url    string
	exited chan struct{}
	err    error // once exited is closed
}

// lines returns the log lines, each of which must be JSON: the default
// when stderr is not a terminal.
func (p *process) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		out = append(out, rec)
	}
	return out
}

// logged returns the first line whose message is msg.
func (p *process) logged(t *testing.T, msg string) (map[string]any, bool) {
	t.Helper()
	for _, rec := range p.lines(t) {
		if rec["msg"] == msg {
			return rec, true
		}
	}
	return nil, false
}

func startHoist(t *testing.T, environ []string) *process {
	t.Helper()
	p := &process{stderr: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOIST_") && !strings.HasPrefix(kv, "KUBERNETES_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(append(p.cmd.Env, environ...), runMainEnv+"=1", "HOIST_SERVER_LISTEN=127.0.0.1:0")
	p.cmd.Stderr = p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("hoist's log:\n%s", p.stderr.String())
		}
	})
	waitFor(t, "hoist to serve", func() bool {
		rec, ok := p.logged(t, "hoist serving")
		if ok {
			p.url = "http://" + rec["addr"].(string)
		}
		return ok
	})
	return p
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) post(t *testing.T, path string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = slackreq.Signer{Secret: sigtermSecret}.Headers(body)
	req.Header.Set("Content-Type", slackreq.Form)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// blockingResponder is a response URL that holds each reply until it is
// let go, to keep a reply in flight while Hoist stops.
type blockingResponder struct {
	arrived chan struct{}
	letGo   chan struct{}
	mu      sync.Mutex
	replies []string
}

func (b *blockingResponder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.arrived <- struct{}{}
	<-b.letGo
	b.mu.Lock()
	b.replies = append(b.replies, string(body))
	b.mu.Unlock()
	io.WriteString(w, "ok")
}

// TestSIGTERMStopsCleanlyAndTheReleaseGoesOn runs the real binary, sends
// it SIGTERM while a release builds in Jenkins and a click's reply is on
// its way, and checks that Hoist stops taking requests at once, delivers
// the reply, exits 0 within its grace period, and that the next start
// finishes the release without a second build.
func TestSIGTERMStopsCleanlyAndTheReleaseGoesOn(t *testing.T) {
	slackSim := slackapi.New(slackapi.WithChannel(sigtermAsk, "dev", false, true))
	t.Cleanup(slackSim.Close)
	j := jenkinssim.New(jenkinssim.WithJob("api/preview", jenkinssim.Job{Lines: 60, Duration: 3 * time.Second}))
	t.Cleanup(j.Close)
	responder := &blockingResponder{arrived: make(chan struct{}, 1), letGo: make(chan struct{})}
	responseURL := httptest.NewServer(responder)
	t.Cleanup(responseURL.Close)
	t.Cleanup(func() {
		select {
		case <-responder.letGo:
		default:
			close(responder.letGo)
		}
	})
	dbPath := filepath.Join(t.TempDir(), "hoist.db")
	environ := []string{
		"HOIST_SLACK_MODE=http",
		"HOIST_SLACK_API_URL=" + slackSim.URL(),
		"HOIST_SLACK_BOT_TOKEN=" + slackapi.DefaultToken,
		"HOIST_SLACK_SIGNING_SECRET=" + sigtermSecret,
		"HOIST_SLACK_TEAM_ID=" + sigtermTeam,
		"HOIST_STORE_DSN=" + dbPath,
		"HOIST_JENKINS_URL=" + j.URL(),
		"HOIST_JENKINS_USER=" + jenkinssim.DefaultUser,
		"HOIST_JENKINS_TOKEN=" + jenkinssim.DefaultToken,
		"HOIST_SLACK_UPDATE_BUDGET_PER_MINUTE=6000",
	}
	first := startHoist(t, environ)
	st, err := store.Open(context.Background(), "sqlite", dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	deploy := slackreq.SlashCommand{TeamID: sigtermTeam, ChannelID: sigtermAsk, UserID: "UDEV1", Command: "/deploy",
		Text: "api feature-x", ResponseURL: slackSim.ResponseURL("deploy")}.Body()
	if status, body := first.post(t, "/slack/commands", deploy); status != 200 || !strings.Contains(body, "Release #1 requested") {
		t.Fatalf("deploy: %d %s", status, body)
	}
	waitFor(t, "the build to be running and half read", func() bool {
		b, err := st.GetBuild(context.Background(), 1)
		return err == nil && b.Number != 0 && b.LogOffset > 0
	})
	click := slackreq.BlockAction{TeamID: sigtermTeam, ChannelID: sigtermAsk, UserID: "UDEV1", ActionID: bot.ActionApprove,
		BlockID: "release_1_actions", Value: "1", ResponseURL: responseURL.URL + "/click"}.Body()
	if status, _ := first.post(t, "/slack/interactions", click); status != 200 {
		t.Fatalf("click: %d", status)
	}
	select {
	case <-responder.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the click's reply never left Hoist")
	}

	signalled := time.Now()
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Hoist to stop taking requests", func() bool {
		resp, err := http.Get(first.url + "/healthz")
		if err != nil {
			return true
		}
		resp.Body.Close()
		return false
	})
	select {
	case <-first.exited:
		t.Fatal("Hoist exited before the click's reply was delivered")
	default:
	}
	close(responder.letGo)
	select {
	case <-first.exited:
	case <-time.After(10*time.Second - time.Since(signalled)):
		t.Fatal("Hoist did not exit within 10 s of SIGTERM")
	}
	if first.err != nil {
		t.Fatalf("Hoist exited with %v; want 0", first.err)
	}
	responder.mu.Lock()
	replies := responder.replies
	responder.mu.Unlock()
	if len(replies) != 1 || !strings.Contains(replies[0], "needs no approval") {
		t.Errorf("the click's replies = %q; want its answer delivered while Hoist stopped", replies)
	}
	for _, msg := range []string{"hoist stopping", "hoist stopped"} {
		if _, ok := first.logged(t, msg); !ok {
			t.Errorf("the log lacks %q", msg)
		}
	}
	if r, _ := st.GetRelease(context.Background(), 1); r.State != release.Building {
		t.Fatalf("after SIGTERM release #1 is %s (%s); want building, to go on at the next start", r.State, r.StateReason)
	}

	startHoist(t, environ)
	waitFor(t, "release #1 to succeed", func() bool {
		r, err := st.GetRelease(context.Background(), 1)
		return err == nil && r.State == release.Succeeded
	})
	builds := j.Builds("api/preview")
	if len(builds) != 1 {
		t.Fatalf("Jenkins ran %d builds; want 1 across the restart", len(builds))
	}
	kept, err := st.Log(context.Background(), 1)
	if err != nil || len(kept) != builds[0].LogBytes {
		t.Errorf("kept %d bytes of a %d-byte log (%v)", len(kept), builds[0].LogBytes, err)
	}
}
