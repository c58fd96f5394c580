package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/demo"
)

// syncBuffer collects logs written from several goroutines.
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

// startDemo runs the demo in-process on a random loopback port, with builds
// that take buildTime and the simulated cluster, and returns the page's
// URL. The demo stops when the test ends; its logs are shown when the test
// fails.
func startDemo(t *testing.T, buildTime time.Duration) string {
	t.Helper()
	return startDemoWith(t, demo.Options{BuildTime: buildTime, Cluster: demo.ClusterSim})
}

// startDemoWith is startDemo with opts; their Listener, Logger and Ready
// are the test's.
func startDemoWith(t *testing.T, opts demo.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	opts.Listener = ln
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Ready = func(url string) { ready <- url }
	go func() { done <- demo.Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the demo stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the demo did not stop")
		}
		if t.Failed() {
			t.Logf("demo logs:\n%s", logs.String())
		}
	})
	select {
	case url := <-ready:
		return strings.TrimSuffix(url, "/")
	case err := <-done:
		t.Fatalf("the demo did not start: %v", err)
	case <-time.After(150 * time.Second): // the local control plane may take its time to start
		t.Fatal("the demo did not become ready")
	}
	return ""
}

// pageFeed follows the page's event stream as the page does.
type pageFeed struct {
	mu      sync.Mutex
	items   map[string]demo.Item
	order   []string
	changed chan struct{}
}

func watchFeed(t *testing.T, base string) *pageFeed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/demo/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events answered %s with %q", resp.Status, ct)
	}
	f := &pageFeed{items: map[string]demo.Item{}, changed: make(chan struct{})}
	stopped := make(chan struct{})
	t.Cleanup(func() { cancel(); resp.Body.Close(); <-stopped })
	go func() {
		defer close(stopped)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 1<<20), 8<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var items []demo.Item
				data := []byte(strings.TrimPrefix(line, "data: "))
				if event == "reset" {
					_ = json.Unmarshal(data, &items)
				} else {
					var it demo.Item
					_ = json.Unmarshal(data, &it)
					items = []demo.Item{it}
				}
				f.add(items)
			}
		}
	}()
	return f
}

func (f *pageFeed) add(items []demo.Item) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range items {
		if _, ok := f.items[it.ID]; !ok {
			f.order = append(f.order, it.ID)
		}
		f.items[it.ID] = it
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// all returns the items shown so far, in the order they appeared.
func (f *pageFeed) all() []demo.Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]demo.Item, 0, len(f.order))
	for _, id := range f.order {
		out = append(out, f.items[id])
	}
	return out
}

// waitFor waits until an item matches, and returns it.
func (f *pageFeed) waitFor(t *testing.T, what string, match func(demo.Item) bool) demo.Item {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		f.mu.Lock()
		changed := f.changed
		f.mu.Unlock()
		for _, it := range f.all() {
			if match(it) {
				return it
			}
		}
		select {
		case <-changed:
		case <-deadline:
			for _, it := range f.all() {
				t.Logf("shown: %s %s viewer=%s thread=%s: %.300s", it.Kind, it.Channel, it.Viewer, it.ThreadTS, it.HTML)
			}
			t.Fatalf("the page never showed %s", what)
		}
	}
}

func ephemeralFor(user, text string) func(demo.Item) bool {
	return func(it demo.Item) bool {
		return it.Kind == "ephemeral" && it.Viewer == user && strings.Contains(it.HTML, text)
	}
}

// postJSON posts v to the page's API and returns the status and answer.
func postJSON(t *testing.T, url, contentType string, v any) (int, string) {
	t.Helper()
	raw, ok := v.([]byte)
	if !ok {
		raw, _ = json.Marshal(v)
	}
	resp, err := http.Post(url, contentType, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func command(t *testing.T, base, user, text string) {
	t.Helper()
	if status, body := postJSON(t, base+"/demo/command", "application/json", map[string]string{"user": user, "channel": demo.DeploysID, "text": text}); status != http.StatusOK {
		t.Fatalf("command %q: %d %s", text, status, body)
	}
}

func click(t *testing.T, base, user string, card demo.Item, actionID string) {
	t.Helper()
	status, body := postJSON(t, base+"/demo/action", "application/json", map[string]string{
		"user": user, "channel": card.Channel, "message_ts": card.TS, "action_id": actionID, "value": "1"})
	if status != http.StatusOK {
		t.Fatalf("click %s: %d %s", actionID, status, body)
	}
}

// TestProductionDeployThroughThePage drives the page's API as the page
// does: Hoist answers, refuses the developer's approval, takes the
// admin's, builds in Jenkins, and every step reaches the page.
func TestProductionDeployThroughThePage(t *testing.T) {
	base := startDemo(t, 2*time.Second)
	feed := watchFeed(t, base)

	command(t, base, demo.DeveloperID, "/deploy demo master")
	feed.waitFor(t, "Hoist's answer to Dave", ephemeralFor(demo.DeveloperID, "Release #1 requested"))
	card := feed.waitFor(t, "the release card", func(it demo.Item) bool {
		return it.Kind == "message" && it.Channel == demo.DeploysID && strings.Contains(it.HTML, `data-action-id="hoist_approve"`)
	})
	feed.waitFor(t, "the announcement in #releases", func(it demo.Item) bool {
		return it.Channel == demo.ReleasesID && strings.Contains(it.HTML, "Release #1 started")
	})

	click(t, base, demo.DeveloperID, card, "hoist_approve")
	feed.waitFor(t, "the refusal of Dave's approval", ephemeralFor(demo.DeveloperID, "Only admins can approve"))

	click(t, base, demo.AdminID, card, "hoist_approve")
	feed.waitFor(t, "the answer to Ana's approval", ephemeralFor(demo.AdminID, "Release #1 approved."))
	feed.waitFor(t, "the finished build in the card's thread", func(it demo.Item) bool {
		return it.ThreadTS == card.TS && strings.Contains(it.HTML, "SUCCESS") && strings.Contains(it.HTML, "Finished: SUCCESS")
	})
	feed.waitFor(t, "the rollout followed to its end in the card's thread", func(it demo.Item) bool {
		return it.ThreadTS == card.TS && strings.Contains(it.HTML, "Rolled out") && strings.Contains(it.HTML, "demo-production") &&
			strings.Contains(it.HTML, "3/3 updated")
	})
	feed.waitFor(t, "the card at its outcome", func(it demo.Item) bool {
		return it.ID == card.ID && strings.Contains(it.HTML, "Succeeded") && !strings.Contains(it.HTML, "hoist_approve")
	})
	file := feed.waitFor(t, "the uploaded build log", func(it demo.Item) bool { return it.Kind == "file" && it.ThreadTS == card.TS })
	resp, err := http.Get(base + "/demo/files/" + file.File.ID)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(log), "helm upgrade --install demo") || !strings.Contains(string(log), "Finished: SUCCESS") {
		t.Errorf("the uploaded log: %s\n%s", resp.Status, log)
	}
}

// TestBadInputGetsAClearAnswer: what the page API refuses, it says why,
// and nothing reaches Hoist.
func TestBadInputGetsAClearAnswer(t *testing.T) {
	base := startDemo(t, time.Second)
	feed := watchFeed(t, base)
	ok := map[string]string{"user": demo.DeveloperID, "channel": demo.DeploysID, "text": "/deploy demo master"}
	with := func(key, value string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		m[key] = value
		return m
	}
	for _, tc := range []struct {
		name, contentType string
		body              any
		status            int
		says              string
	}{
		{"not JSON", "text/plain", []byte("/deploy demo master"), http.StatusUnsupportedMediaType, "send JSON"},
		{"broken JSON", "application/json", []byte(`{"user":`), http.StatusBadRequest, "not the JSON the page sends"},
		{"unknown field", "application/json", with("as", "root"), http.StatusBadRequest, "not the JSON the page sends"},
		{"unknown person", "application/json", with("user", "U0MALLORY"), http.StatusBadRequest, "unknown person"},
		{"unknown channel", "application/json", with("channel", "C0NOPE"), http.StatusBadRequest, "unknown channel"},
		{"nothing typed", "application/json", with("text", "   "), http.StatusBadRequest, "type a command"},
		{"too long", "application/json", with("text", "/deploy "+strings.Repeat("x", 20000)), http.StatusRequestEntityTooLarge, "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postJSON(t, base+"/demo/command", tc.contentType, tc.body)
			if status != tc.status || !strings.Contains(body, tc.says) {
				t.Errorf("answered %d %s; want %d saying %q", status, body, tc.status, tc.says)
			}
		})
	}

	status, body := postJSON(t, base+"/demo/action", "application/json", map[string]string{
		"user": demo.AdminID, "channel": demo.DeploysID, "message_ts": "1700000000.000100", "action_id": "hoist_approve", "value": "1"})
	if status != http.StatusNotFound || !strings.Contains(body, "not in #deploys") {
		t.Errorf("a click on a message that does not exist: %d %s", status, body)
	}
	resp, err := http.Get(base + "/demo/files/F0NOPE")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a file that does not exist: %s", resp.Status)
	}

	command(t, base, demo.DeveloperID, "/deploi demo master")
	feed.waitFor(t, "Slack's answer to an unknown command", func(it demo.Item) bool {
		return it.Author == "USLACKBOT" && it.Viewer == demo.DeveloperID && strings.Contains(it.HTML, "is not a valid command")
	})
	command(t, base, demo.DeveloperID, "/hoist status")
	feed.waitFor(t, "the answer to /hoist status", func(it demo.Item) bool {
		return it.Kind == "ephemeral" && it.Author != "USLACKBOT" && it.Command == "/hoist status"
	})
	for _, it := range feed.all() {
		if it.Kind == "message" {
			t.Errorf("bad input made Hoist post: %+v", it)
		}
	}

	command(t, base, demo.DeveloperID, "/deploy demo master")
	card := feed.waitFor(t, "the release card", func(it demo.Item) bool {
		return it.Kind == "message" && strings.Contains(it.HTML, `data-action-id="hoist_approve"`)
	})
	status, body = postJSON(t, base+"/demo/action", "application/json", map[string]string{
		"user": demo.AdminID, "channel": card.Channel, "message_ts": card.TS, "action_id": "hoist_approve", "value": "2"})
	if status != http.StatusConflict || !strings.Contains(body, "no longer on the message") {
		t.Errorf("a click on a button the card does not have: %d %s", status, body)
	}
}

// cardOf waits for release id's card in #deploys that matches, and returns
// it.
func cardOf(t *testing.T, feed *pageFeed, id, what string, match func(html string) bool) demo.Item {
	t.Helper()
	return feed.waitFor(t, "release #"+id+"'s card "+what, func(it demo.Item) bool {
		return it.Kind == "message" && it.Channel == demo.DeploysID && it.ThreadTS == "" &&
			strings.Contains(it.HTML, `data-block-id="release_`+id+`_title"`) && match(it.HTML)
	})
}

// approved has Dave ask for a release with text, Ana approve it, and
// returns the card once the release has ended.
func approved(t *testing.T, base string, feed *pageFeed, id, text string) demo.Item {
	t.Helper()
	command(t, base, demo.DeveloperID, text)
	card := cardOf(t, feed, id, "awaiting approval", func(html string) bool { return strings.Contains(html, `data-action-id="hoist_approve"`) })
	if status, body := postJSON(t, base+"/demo/action", "application/json", map[string]string{
		"user": demo.AdminID, "channel": card.Channel, "message_ts": card.TS, "action_id": "hoist_approve", "value": id}); status != http.StatusOK {
		t.Fatalf("approve release #%s: %d %s", id, status, body)
	}
	return cardOf(t, feed, id, "at its outcome", func(html string) bool {
		return strings.Contains(html, "Succeeded") || strings.Contains(html, "Failed")
	})
}

// TestPromoteAndRollbackThroughThePage is the README's promotion: after
// master in production and latest in staging, promoting staging merges a
// pull request into master on GitHub and deploys staging's commit to
// production; a rollback then deploys master's earlier commit again.
func TestPromoteAndRollbackThroughThePage(t *testing.T) {
	base := startDemo(t, time.Second)
	feed := watchFeed(t, base)
	commit := regexp.MustCompile(`\(<code class="bk-code">([0-9a-f]{7})</code>\)`)
	sha := func(card demo.Item) string {
		t.Helper()
		m := commit.FindStringSubmatch(card.HTML)
		if m == nil {
			t.Fatalf("no commit on the card: %s", card.HTML)
		}
		return m[1]
	}

	first := approved(t, base, feed, "1", "/deploy demo master")
	staging := approved(t, base, feed, "2", "/deploy demo latest")
	if !strings.Contains(first.HTML, "Succeeded") || !strings.Contains(staging.HTML, "Succeeded") || sha(first) == sha(staging) {
		t.Fatalf("master to production, then latest to staging:\n%s\n%s", first.HTML, staging.HTML)
	}

	promoted := approved(t, base, feed, "3", "/promote demo staging to production")
	if !strings.Contains(promoted.HTML, "Succeeded") || sha(promoted) != sha(staging) {
		t.Errorf("the promotion did not deploy staging's commit %s: %s", sha(staging), promoted.HTML)
	}
	feed.waitFor(t, "the merged pull request in the promotion's thread", func(it demo.Item) bool {
		return it.ThreadTS == promoted.TS && strings.Contains(it.HTML, "Merged ") &&
			strings.Contains(it.HTML, `pull request #1</a> into <code class="bk-code">master</code>`)
	})

	back := approved(t, base, feed, "4", "/rollback demo production")
	if !strings.Contains(back.HTML, "Succeeded") || !strings.Contains(back.HTML, "Roll back") || sha(back) != sha(first) {
		t.Errorf("the rollback did not deploy master's earlier commit %s again: %s", sha(first), back.HTML)
	}
	feed.waitFor(t, "the rollback's rollout", func(it demo.Item) bool {
		return it.ThreadTS == back.TS && strings.Contains(it.HTML, "Rolled out") && strings.Contains(it.HTML, "demo-production")
	})
}
