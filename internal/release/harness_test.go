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
	thread    []string
	views     map[string][]release.BuildView   // live build messages by ts
	rollouts  map[string][]release.RolloutView // live rollout messages by ts
	uploads   map[string]string
	changed   chan struct{}
}

func newFakeChat() *fakeChat {
	return &fakeChat{cards: map[string]release.Card{}, cannot: map[string]bool{}, changed: make(chan struct{}, 1000),
		views: map[string][]release.BuildView{}, rollouts: map[string][]release.RolloutView{}, uploads: map[string]string{}}
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

func (c *fakeChat) PostThread(_ context.Context, card release.MessageRef, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	c.thread = append(c.thread, text)
	return nil
}

func (c *fakeChat) PostBuild(_ context.Context, card release.MessageRef, v release.BuildView) (release.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	ref := release.MessageRef{Channel: card.Channel, TS: fmt.Sprintf("1700000001.%06d", len(c.views)+1)}
	c.views[ref.TS] = append(c.views[ref.TS], v)
	return ref, nil
}

func (c *fakeChat) UpdateBuild(_ context.Context, ref release.MessageRef, v release.BuildView) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	c.views[ref.TS] = append(c.views[ref.TS], v)
	return nil
}

func (c *fakeChat) PostRollout(_ context.Context, card release.MessageRef, v release.RolloutView) (release.MessageRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	ref := release.MessageRef{Channel: card.Channel, TS: fmt.Sprintf("1700000002.%06d", len(c.rollouts)+1)}
	c.rollouts[ref.TS] = append(c.rollouts[ref.TS], v)
	return ref, nil
}

func (c *fakeChat) UpdateRollout(_ context.Context, ref release.MessageRef, v release.RolloutView) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	c.rollouts[ref.TS] = append(c.rollouts[ref.TS], v)
	return nil
}

// rolloutViews returns every live rollout message's views, by ts.
func (c *fakeChat) rolloutViews() map[string][]release.RolloutView {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string][]release.RolloutView{}
	for ts, vs := range c.rollouts {
		out[ts] = append([]release.RolloutView(nil), vs...)
	}
	return out
}

func (c *fakeChat) UploadLog(_ context.Context, _ release.MessageRef, name string, log []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	c.uploads[name] = string(log)
	return nil
}

func (c *fakeChat) Respond(_ context.Context, _ string, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.notify()
	c.responded = append(c.responded, text)
	return nil
}

// fakePipeline is a build server whose builds print log and end when the
// test says, or at once.
type fakePipeline struct {
	mu        sync.Mutex
	triggers  map[string]int // by RELEASE_ID
	result    string
	log       string
	block     chan struct{} // when set, builds run until it is closed
	started   chan release.ID
	queueSeq  int64
	releaseOf map[int64]release.ID
	stopped   []int64
	reads     int
	bytesRead int
	failWith  error // when set, Trigger fails with it
	readErr   error // when set, ReadLog fails with it
	findErr   error // when set, FindBuild fails with it
	finds     int   // FindBuild calls
}

func newFakePipeline() *fakePipeline {
	return &fakePipeline{triggers: map[string]int{}, releaseOf: map[int64]release.ID{}, result: "SUCCESS",
		log: "[Pipeline] stage\n+ make build\nok\n[Pipeline] End of Pipeline\nFinished: SUCCESS\n"}
}

func (f *fakePipeline) Trigger(_ context.Context, req release.BuildRequest) (int64, error) {
	f.mu.Lock()
	if f.failWith != nil {
		f.mu.Unlock()
		return 0, f.failWith
	}
	f.queueSeq++
	id := f.queueSeq
	f.triggers[req.Params["RELEASE_ID"]]++
	rid, _ := release.ParseID(req.Params["RELEASE_ID"])
	f.releaseOf[id] = rid
	started := f.started
	f.mu.Unlock()
	if started != nil {
		started <- rid
	}
	return id, nil
}

func (f *fakePipeline) FindBuild(_ context.Context, _ string, id release.ID) (release.FoundBuild, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.finds++
	if f.findErr != nil {
		return release.FoundBuild{}, false, f.findErr
	}
	for q, rid := range f.releaseOf {
		if rid == id {
			return release.FoundBuild{QueueID: q}, true, nil
		}
	}
	return release.FoundBuild{}, false, nil
}

func (f *fakePipeline) WaitForBuild(_ context.Context, job string, queueID int64) (int64, string, error) {
	return queueID, fmt.Sprintf("http://jenkins.test/job/%s/%d/", job, queueID), nil
}

func (f *fakePipeline) running() bool {
	if f.block == nil {
		return false
	}
	select {
	case <-f.block:
		return false
	default:
		return true
	}
}

func (f *fakePipeline) Status(_ context.Context, _ string, number int64) (release.BuildStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running() {
		return release.BuildStatus{Building: true, Estimated: -1}, nil
	}
	return release.BuildStatus{Result: f.result, Estimated: time.Minute}, nil
}

func (f *fakePipeline) ReadLog(_ context.Context, _ string, _ int64, offset int64) (release.LogChunk, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readErr != nil {
		return release.LogChunk{}, f.readErr
	}
	end := int64(len(f.log))
	running := f.running()
	if running {
		end /= 2 // half the log is written while the build runs
	}
	data := []byte(f.log[min(offset, end):end])
	f.reads++
	f.bytesRead += len(data)
	return release.LogChunk{Data: data, Next: max(offset, end), More: running}, nil
}

func (f *fakePipeline) CancelQueued(_ context.Context, queueID int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, -queueID)
	return nil
}

func (f *fakePipeline) Stop(_ context.Context, _ string, number int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = append(f.stopped, number)
	return nil
}

func (f *fakePipeline) builds(id release.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.triggers[id.String()]
}

// fakeCluster keeps namespaces in memory and plays a scripted rollout:
// it reports steps, then returns fail, or waits for ctx when hang is set.
type fakeCluster struct {
	mu         sync.Mutex
	namespaces map[string]release.Namespace // by cluster/name
	unmanaged  map[string]bool              // cluster/name of namespaces Hoist did not create
	steps      []release.RolloutProgress
	fail       error
	hang       bool
	rollouts   []release.RolloutTarget
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{namespaces: map[string]release.Namespace{}, unmanaged: map[string]bool{},
		steps: []release.RolloutProgress{{Desired: 2, Updated: 1, Old: 1}, {Desired: 2, Updated: 2, Available: 2}}}
}

func (f *fakeCluster) EnsureNamespace(_ context.Context, ns release.Namespace) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unmanaged[ns.Cluster+"/"+ns.Name] {
		return fmt.Errorf("namespace %s: %w", ns.Name, release.ErrNotManaged)
	}
	f.namespaces[ns.Cluster+"/"+ns.Name] = ns
	return nil
}

func (f *fakeCluster) DeleteNamespace(_ context.Context, cluster, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unmanaged[cluster+"/"+name] {
		return fmt.Errorf("namespace %s: %w", name, release.ErrNotManaged)
	}
	delete(f.namespaces, cluster+"/"+name)
	return nil
}

func (f *fakeCluster) ListNamespaces(_ context.Context, cluster string) ([]release.Namespace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []release.Namespace
	for _, ns := range f.namespaces {
		if ns.Cluster == cluster {
			out = append(out, ns)
		}
	}
	return out, nil
}

func (f *fakeCluster) Rollout(ctx context.Context, t release.RolloutTarget, progress func(release.RolloutProgress)) error {
	f.mu.Lock()
	f.rollouts = append(f.rollouts, t)
	steps, fail, hang := f.steps, f.fail, f.hang
	f.mu.Unlock()
	for _, p := range steps {
		progress(p)
	}
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return fail
}

func (f *fakeCluster) namespace(cluster, name string) (release.Namespace, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns, ok := f.namespaces[cluster+"/"+name]
	return ns, ok
}

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
			"production": {Branch: "master", Protected: true, Cluster: "main", Namespace: "{app}-production", JenkinsJob: "{app}/production"},
			"staging":    {Branch: "latest", Protected: true, PromotesTo: "production", Cluster: "main", Namespace: "{app}-staging", JenkinsJob: "{app}/staging"},
			"test":       {Branch: "*", Ephemeral: true, TTL: 72 * time.Hour, Cluster: "main", Namespace: "{app}-{branch}", JenkinsJob: "{app}/preview"},
		},
		Apps: map[string]config.App{"api": {Repo: "acme/api", Deployment: "api", Channel: "CAPI"}},
	}
}

type harness struct {
	t       *testing.T
	cfg     *config.Config
	store   store.Store
	chat    *fakeChat
	ci      *fakePipeline
	cluster *fakeCluster
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
		ci:      newFakePipeline(),
		cluster: newFakeCluster(),
		now:     time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	h.ports = release.Ports{Chat: h.chat, BuildChat: h.chat, RolloutChat: h.chat, Pipeline: h.ci, SCM: newFakeSCM(map[string]string{"master": sha("a"), "latest": sha("b"), "feature-x": sha("c"), "feature-y": sha("f"), "v1": sha("d"), "feature/Login_v2": sha("e")}), Cluster: h.cluster}
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
	h.worker = release.NewWorker(h.cfg, pol, h.store, h.ports, release.WorkerOptions{Interval: interval, LogPoll: 5 * time.Millisecond,
		Redact: func(b []byte) []byte { return []byte(strings.ReplaceAll(string(b), "s3cr3t", "[REDACTED]")) }}, logger)
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
