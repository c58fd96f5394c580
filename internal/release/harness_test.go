package release_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/commands"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/policy"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/store"
)

// fakeChat records what the core shows, as a Slack workspace would.
type fakeChat struct {
	mu        sync.Mutex
	cards     map[string]release.Card // by ts
	posts     int
	updates   int
	announced []string
	responded []string
	cannot    map[string]bool // channels the bot cannot post in
	changed   chan struct{}
}

func newFakeChat() *fakeChat {
	return &fakeChat{cards: map[string]release.Card{}, cannot: map[string]bool{}, changed: make(chan struct{}, 1000)}
}

func (c *fakeChat) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *fakeChat) PostCard(_ context.Context, channel string, card release.Card) (release.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	if c.cannot[channel] {
		return release.MessageRef{}, fmt.Errorf("%w: invite me with /invite @Hoist", release.ErrCannotPost)
	}
	c.posts++
	ts := fmt.Sprintf("1700000000.%06d", c.posts)
	c.cards[ts] = card
	return release.MessageRef{Channel: channel, TS: ts}, nil
}

func (c *fakeChat) UpdateCard(_ context.Context, ref release.MessageRef, card release.Card) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	if _, ok := c.cards[ref.TS]; !ok {
		return errors.New("message_not_found")
	}
	c.updates++
	c.cards[ref.TS] = card
	return nil
}

func (c *fakeChat) Announce(_ context.Context, channel, text string, _ release.MessageRef) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	c.announced = append(c.announced, channel+": "+text)
	return nil
}

func (c *fakeChat) Permalink(_ context.Context, ref release.MessageRef) (string, error) {
	return "https://example.slack.com/archives/" + ref.Channel + "/p" + strings.ReplaceAll(ref.TS, ".", ""), nil
}

func (c *fakeChat) PostThread(context.Context, release.MessageRef, string) error { return nil }

func (c *fakeChat) Respond(_ context.Context, _ string, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	c.responded = append(c.responded, text)
	return nil
}

// fakeCI runs builds that end when the test says, or at once.
type fakeCI struct {
	mu      sync.Mutex
	calls   map[release.ID]int
	result  release.BuildResult
	block   chan struct{} // when set, builds wait for it (or their context)
	started chan release.ID
}

func (f *fakeCI) Build(ctx context.Context, r release.Release) (release.BuildResult, error) {
	f.mu.Lock()
	f.calls[r.ID]++
	f.mu.Unlock()
	if f.started != nil {
		f.started <- r.ID
	}
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return release.BuildResult{}, ctx.Err()
		}
	}
	return f.result, nil
}

func (f *fakeCI) builds(id release.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

type fakeSCM map[string]string

func (f fakeSCM) ResolveCommit(_ context.Context, _, ref string) (string, error) {
	if sha, ok := f[ref]; ok {
		return sha, nil
	}
	return "", fmt.Errorf("no commit named %q", ref)
}

type fakeCluster struct{ fail error }

func (f fakeCluster) Rollout(context.Context, release.Release) error  { return f.fail }
func (f fakeCluster) Teardown(context.Context, release.Release) error { return nil }

const (
	admin1 = "UADMIN1"
	admin2 = "UADMIN2"
	dev    = "UDEV"
)

func testConfig() *config.Config {
	return &config.Config{
		Slack:     config.Slack{NotifyChannel: "CNOTIFY"},
		RBAC:      config.RBAC{Admins: []string{admin1, admin2}, RequiredApprovals: 1},
		Approvals: config.Approvals{Timeout: 30 * time.Minute},
		Clusters:  map[string]config.Cluster{"main": {}},
		Environments: map[string]config.Environment{
			"production": {Branch: "master", Protected: true, Cluster: "main", Namespace: "{app}-production"},
			"staging":    {Branch: "latest", Protected: true, PromotesTo: "production", Cluster: "main", Namespace: "{app}-staging"},
			"test":       {Branch: "*", Ephemeral: true, TTL: 72 * time.Hour, Cluster: "main", Namespace: "{app}-{branch}"},
		},
		Apps: map[string]config.App{"api": {Repo: "acme/api", Deployment: "api", Channel: "CAPI"}},
	}
}

type harness struct {
	t       *testing.T
	cfg     *config.Config
	store   store.Store
	chat    *fakeChat
	ci      *fakeCI
	ports   release.Ports
	svc     *release.Service
	worker  *release.Worker
	now     time.Time
	clockMu sync.Mutex
	// realTime makes the worker and service use the real clock, and
	// interval sets the worker's sweep interval (20ms when zero).
	realTime bool
	interval time.Duration
	stop     func()
}

func newHarness(t *testing.T, mutate ...func(*config.Config, *release.Ports)) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "hoist.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := &harness{t: t, cfg: testConfig(), store: st, chat: newFakeChat(),
		ci:  &fakeCI{calls: map[release.ID]int{}, result: release.BuildResult{OK: true, Summary: "build #1 succeeded"}},
		now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	h.ports = release.Ports{Chat: h.chat, CI: h.ci, SCM: fakeSCM{"master": sha("a"), "latest": sha("b"), "feature-x": sha("c"), "v1": sha("d"), "feature/Login_v2": sha("e")}, Cluster: fakeCluster{}}
	for _, m := range mutate {
		m(h.cfg, &h.ports)
	}
	h.startWorker()
	return h
}

func sha(c string) string {
	out := ""
	for len(out) < 40 {
		out += c
	}
	return out
}

func (h *harness) clock() time.Time {
	h.clockMu.Lock()
	defer h.clockMu.Unlock()
	return h.now
}

func (h *harness) advance(d time.Duration) {
	h.clockMu.Lock()
	h.now = h.now.Add(d)
	h.clockMu.Unlock()
}

func (h *harness) startWorker() {
	logger := slog.New(slog.DiscardHandler)
	pol := policy.New(h.cfg, nil)
	interval := h.interval
	if interval == 0 {
		interval = 20 * time.Millisecond
	}
	h.worker = release.NewWorker(h.cfg, pol, h.store, h.ports, release.WorkerOptions{Interval: interval}, logger)
	if !h.realTime {
		h.worker.SetClock(h.clock)
	}
	h.svc = release.NewService(h.cfg, pol, h.store, h.worker, logger)
	if !h.realTime {
		h.svc.SetClock(h.clock)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.worker.Run(ctx); close(done) }()
	h.stop = func() { cancel(); <-done }
	h.t.Cleanup(h.stop)
}

// do runs a slash command's text as user, failing on parse errors.
func (h *harness) do(user, text string) release.Reply {
	h.t.Helper()
	res := commands.Parse(text)
	if res.Command == nil {
		h.t.Fatalf("parse %q: %s", text, res.Reply)
	}
	reply, err := h.svc.Handle(context.Background(), release.Request{User: user, Channel: "CASK", ResponseURL: "https://hooks.slack.com/x", Command: *res.Command})
	if err != nil {
		h.t.Fatalf("handle %q: %v", text, err)
	}
	return reply
}

// waitState waits until release id reaches state.
func (h *harness) waitState(id release.ID, want release.State) release.Release {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r, err := h.store.GetRelease(context.Background(), id)
		if err != nil {
			h.t.Fatal(err)
		}
		if r.State == want && r.MessageTS != "" {
			h.chat.mu.Lock()
			shown := h.chat.cards[r.MessageTS].Release.State
			h.chat.mu.Unlock()
			if shown == want {
				return r
			}
		}
		select {
		case <-deadline:
			h.t.Fatalf("release #%d is %s (%s); want %s", id, r.State, r.StateReason, want)
		case <-h.chat.changed:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// eventually waits until cond holds, checking whenever the chat changes.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(5 * time.Second)
	for !cond() {
		select {
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s", what)
		case <-h.chat.changed:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// cardOf waits until release id's card satisfies cond, and returns it.
func (h *harness) cardOf(id release.ID, cond func(release.Card) bool) release.Card {
	h.t.Helper()
	var card release.Card
	h.eventually(fmt.Sprintf("the card of release #%d", id), func() bool {
		r, err := h.store.GetRelease(context.Background(), id)
		if err != nil || r.MessageTS == "" {
			return false
		}
		h.chat.mu.Lock()
		defer h.chat.mu.Unlock()
		card = h.chat.cards[r.MessageTS]
		return cond(card)
	})
	return card
}

func (h *harness) announcements() []string {
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	return append([]string(nil), h.chat.announced...)
}

func (h *harness) releases() []release.Release {
	h.t.Helper()
	rs, err := h.store.ListReleases(context.Background(), release.Filter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return rs
}
