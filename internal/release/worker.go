package release

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/policy"
)

// Ports are the outside systems a Worker drives releases through. Chat is
// required; a nil Pipeline, SCM or Cluster means that stage is not
// available, and releases say so when they reach it. Without BuildChat or
// RolloutChat a build or rollout is followed but not shown live.
type Ports struct {
	Chat        Chat
	BuildChat   BuildChat
	RolloutChat RolloutChat
	Pipeline    Pipeline
	SCM         SCM
	Cluster     Cluster
}

// WorkerOptions tune a Worker.
type WorkerOptions struct {
	// Concurrency bounds how many releases are driven at once (default
	// 128): a release that is building holds its slot for the whole build.
	Concurrency int
	// Interval is how often every unfinished release is looked at again
	// (approval expiry, retries after errors, work another replica left).
	Interval time.Duration
	// LogPoll is how often a running build's log is read (default 1s).
	LogPoll time.Duration
	// Redact scrubs secrets from a build log before it is uploaded.
	Redact func([]byte) []byte
	// Owner names this worker in release leases (default: host, process
	// and a random suffix); LeaseTTL is how long a lease lasts unrenewed,
	// so how soon another replica takes over from one that died (default
	// 15s).
	Owner    string
	LeaseTTL time.Duration
	// Leading reports whether this replica runs the sweeps that resume
	// and expire releases (nil: always, as with one replica).
	Leading func() bool
}

// Worker takes releases from the store and drives each through its stages:
// card, commit, approval, build, rollout. Every unfinished release is
// resumed at start, so a restart loses nothing.
type Worker struct {
	store         Store
	ports         Ports
	policy        *policy.Policy
	apps          map[string]config.App
	envs          map[string]config.Environment
	notifyChannel string
	github        config.GitHub
	interval      time.Duration
	logPoll       time.Duration
	redact        func([]byte) []byte
	owner         string
	leaseTTL      time.Duration
	leading       func() bool
	sem           chan struct{}
	wake          chan ID
	now           func() time.Time
	logger        *slog.Logger

	wg      sync.WaitGroup
	mu      sync.Mutex
	running map[ID]*drive
	shown   map[ID]string // what each card last showed, to skip needless updates
	timers  map[ID]*time.Timer
}

// DefaultLeaseTTL is how long a release lease lasts unrenewed.
const DefaultLeaseTTL = 15 * time.Second

// DefaultOwner names this process in release leases: its host, its
// process ID and a random suffix, unique among replicas.
func DefaultOwner() string {
	host, _ := os.Hostname()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), suffix)
}

// RoleApprovals names the copy of a card posted in an environment's
// approvals channel.
const RoleApprovals = "approvals"

type drive struct {
	cancel context.CancelFunc
	again  bool
}

// NewWorker builds a worker.
func NewWorker(cfg *config.Config, pol *policy.Policy, store Store, ports Ports, opts WorkerOptions, logger *slog.Logger) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 128
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.LogPoll <= 0 {
		opts.LogPoll = time.Second
	}
	if opts.Redact == nil {
		opts.Redact = func(b []byte) []byte { return b }
	}
	if opts.Owner == "" {
		opts.Owner = DefaultOwner()
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.Leading == nil {
		opts.Leading = func() bool { return true }
	}
	return &Worker{
		store:         store,
		ports:         ports,
		policy:        pol,
		apps:          cfg.Apps,
		envs:          cfg.Environments,
		notifyChannel: cfg.Slack.NotifyChannel,
		github:        cfg.GitHub,
		interval:      opts.Interval,
		logPoll:       opts.LogPoll,
		redact:        opts.Redact,
		owner:         opts.Owner,
		leaseTTL:      opts.LeaseTTL,
		leading:       opts.Leading,
		sem:           make(chan struct{}, opts.Concurrency),
		wake:          make(chan ID, 1024),
		now:           time.Now,
		logger:        logger,
		running:       map[ID]*drive{},
		shown:         map[ID]string{},
		timers:        map[ID]*time.Timer{},
	}
}

// SetClock replaces the clock, for tests.
func (w *Worker) SetClock(now func() time.Time) { w.now = now }

// Wake asks the worker to look at a release now. It never blocks: when the
// queue is full, the next sweep picks the release up.
func (w *Worker) Wake(id ID) {
	select {
	case w.wake <- id:
	default:
	}
}

// Run drives releases until ctx ends, then waits for the drives in flight.
func (w *Worker) Run(ctx context.Context) error {
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	defer w.wg.Wait()
	defer w.stopTimers()
	w.reshowRecent(ctx)
	if w.leading() {
		w.sweep(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-w.wake:
			w.start(ctx, id)
		case <-ticker.C:
			if w.leading() {
				w.sweep(ctx)
			}
		}
	}
}

// reshowWindow is how far back a start looks for finished releases whose
// card may not show the end: a stopping Hoist sends pending card updates
// for a few seconds only, within its update budget.
const reshowWindow = 15 * time.Minute

// reshowRecent sends again the cards of releases that ended shortly
// before this start, so that no card is left showing a state its release
// has left, and stops the builds of those that were cancelled.
func (w *Worker) reshowRecent(ctx context.Context) {
	ended := []State{Succeeded, Denied, Expired, Cancelled, Failed}
	recent, err := w.store.ListReleases(ctx, Filter{States: ended, Limit: 100})
	if err != nil {
		w.logger.ErrorContext(ctx, "list recently finished releases", "err", err)
		return
	}
	for _, r := range recent {
		if r.MessageTS == "" || w.now().Sub(r.UpdatedAt) > reshowWindow {
			continue
		}
		if err := w.syncCard(ctx, &r); err != nil {
			w.logger.WarnContext(ctx, "show a finished release again", "release", r.ID, "err", err)
		}
		if err := w.reshowBuild(ctx, r); err != nil {
			w.logger.WarnContext(ctx, "show a finished build again", "release", r.ID, "err", err)
		}
		if r.State == Cancelled && w.ports.Pipeline != nil {
			w.stopIfCancelled(r, Build{}) // cancelled while no Hoist was following its build
		}
		w.forget(r.ID)
	}
}

func (w *Worker) sweep(ctx context.Context) {
	active, err := w.store.ListReleases(ctx, Filter{States: ActiveStates()})
	if err != nil {
		w.logger.ErrorContext(ctx, "list unfinished releases", "err", err)
		return
	}
	for i := len(active) - 1; i >= 0; i-- {
		w.start(ctx, active[i].ID)
	}
}

// start drives a release in its own goroutine, unless it is being driven
// already: then that drive runs once more when it is done, and stops what
// it is doing when the release has meanwhile ended (cancelled, say).
func (w *Worker) start(ctx context.Context, id ID) {
	w.mu.Lock()
	if d, ok := w.running[id]; ok {
		d.again = true
		cancel := d.cancel
		w.mu.Unlock()
		if r, err := w.store.GetRelease(ctx, id); err == nil && r.State.Terminal() && cancel != nil {
			cancel()
		}
		return
	}
	d := &drive{}
	w.running[id] = d
	w.mu.Unlock()

	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		select {
		case w.sem <- struct{}{}:
		case <-ctx.Done():
			w.finish(id)
			return
		}
		defer func() { <-w.sem }()
		lctx, held := w.hold(ctx, id)
		if lctx == nil {
			w.finish(id) // another replica drives it
			return
		}
		defer held()
		for {
			dctx, cancel := context.WithCancel(lctx)
			w.mu.Lock()
			d.cancel, d.again = cancel, false
			w.mu.Unlock()
			w.drive(dctx, id)
			cancel()
			w.mu.Lock()
			again := d.again && ctx.Err() == nil
			if !again {
				delete(w.running, id)
			}
			w.mu.Unlock()
			if !again {
				return
			}
		}
	}()
}

// hold takes the release's lease, so that of several replicas only this
// one drives it, and keeps it renewed until release is called. The context
// it returns ends when the lease is lost, or the release has ended on
// another replica (cancelled, say); it is nil when another replica holds
// the lease.
func (w *Worker) hold(ctx context.Context, id ID) (lctx context.Context, release func()) {
	ok, err := w.store.AcquireLease(ctx, id, w.owner, w.now(), w.leaseTTL)
	if err != nil {
		if ctx.Err() == nil {
			w.logger.ErrorContext(ctx, "take release lease", "release", id, "err", err)
		}
		return nil, nil
	}
	if !ok {
		return nil, nil
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(w.leaseTTL / 3)
		defer ticker.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-ticker.C:
			}
			ok, err := w.store.AcquireLease(lctx, id, w.owner, w.now(), w.leaseTTL)
			if err == nil && !ok {
				w.logger.WarnContext(ctx, "release lease lost to another replica; stopping", "release", id)
				cancel()
				return
			}
			if r, err := w.store.GetRelease(lctx, id); err == nil && r.State.Terminal() {
				cancel() // ended elsewhere: stop what this drive is doing
			}
		}
	}()
	return lctx, func() {
		cancel()
		<-done
		rctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer stop()
		if err := w.store.ReleaseLease(rctx, id, w.owner); err != nil {
			w.logger.WarnContext(ctx, "give up release lease", "release", id, "err", err)
		}
	}
}

func (w *Worker) finish(id ID) {
	w.mu.Lock()
	delete(w.running, id)
	w.mu.Unlock()
}

// drive moves a release on as far as it can go now.
func (w *Worker) drive(ctx context.Context, id ID) {
	log := w.logger.With("release", id)
	r, err := w.store.GetRelease(ctx, id)
	if err != nil {
		log.ErrorContext(ctx, "load release", "err", err)
		return
	}
	if r, err = w.resolveCommit(ctx, r); err != nil {
		if ctx.Err() == nil {
			log.ErrorContext(ctx, "resolve commit", "err", err)
		}
		return
	}
	for {
		if err := w.syncCard(ctx, &r); err != nil {
			if ctx.Err() == nil {
				log.ErrorContext(ctx, "show release", "err", err)
			}
			return
		}
		w.syncDeployment(ctx, r)
		if r.State.Terminal() {
			if r.State == Cancelled && w.ports.Pipeline != nil {
				w.stopIfCancelled(r, Build{}) // its build may be running on no drive at all
			}
			w.forget(id)
			return
		}
		next, err := w.advance(ctx, r)
		if errors.Is(err, ErrConflict) {
			next, err = w.store.GetRelease(ctx, id)
		}
		if err != nil {
			if ctx.Err() == nil {
				log.ErrorContext(ctx, "advance release", "state", r.State, "err", err)
			}
			return
		}
		if next.State == r.State {
			return
		}
		log.InfoContext(ctx, "release moved", "from", r.State, "to", next.State)
		r = next
	}
}

// advance runs the stage of r's current state and returns the release as
// it is afterwards (unchanged while it waits).
func (w *Worker) advance(ctx context.Context, r Release) (Release, error) {
	switch r.State {
	case Requested:
		return w.prepare(ctx, r)
	case AwaitingApproval:
		if w.now().Before(r.ApprovalDeadline) {
			w.wakeAt(r.ID, r.ApprovalDeadline)
			return r, nil
		}
		return w.move(ctx, r, Expired, "no decision before "+slackDate(r.ApprovalDeadline))
	case Approved:
		if r.Kind == KindEnvDown {
			return w.teardown(ctx, r)
		}
		if r.Kind == KindEnvUp {
			if next, done, err := w.ensureNamespace(ctx, r); done {
				return next, err
			}
		}
		if r.Kind == KindPromote {
			if promoted, err := w.promote(ctx, r); err != nil || promoted.State != Approved {
				return promoted, err
			}
		}
		if w.ports.Pipeline == nil {
			return w.move(ctx, r, Failed, "no build server is connected to Hoist (set jenkins.url), so nothing was built or deployed")
		}
		return w.move(ctx, r, Building, "")
	case Building:
		return w.build(ctx, r)
	case RollingOut:
		return w.rollout(ctx, r)
	}
	return r, fmt.Errorf("advance from %s: unknown state", r.State)
}

// prepare sends a release whose commit is resolved (resolveCommit) to
// approval, or straight on when its environment needs none.
func (w *Worker) prepare(ctx context.Context, r Release) (Release, error) {
	if !r.ApprovalDeadline.IsZero() {
		return w.move(ctx, r, AwaitingApproval, "")
	}
	return w.move(ctx, r, Approved, "")
}

func (w *Worker) move(ctx context.Context, r Release, to State, reason string) (Release, error) {
	return w.store.Transition(ctx, Transition{ID: r.ID, From: r.State, To: to, Actor: ActorHoist, Reason: reason})
}

// syncCard posts the release's card the first time, updates it when what
// it shows has changed, and announces start and outcome in the app's
// channel.
func (w *Worker) syncCard(ctx context.Context, r *Release) error {
	votes, err := w.store.Votes(ctx, r.ID)
	if err != nil {
		return fmt.Errorf("load votes: %w", err)
	}
	card := Card{Release: *r, Votes: votes, RequiredApprovals: w.policy.RequiredApprovals()}
	key := fmt.Sprintf("%s|%d|%s|%s", r.State, len(votes), r.StateReason, r.Commit)
	w.mu.Lock()
	before, seen := w.shown[r.ID]
	w.mu.Unlock()

	if r.MessageTS == "" && r.State.Terminal() {
		return nil // it ended before it could be shown; the requester was told why
	}
	if r.MessageTS == "" {
		// Posted and recorded even when Hoist is stopping meanwhile, or
		// the next start would post a second card.
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		ref, err := w.ports.Chat.PostCard(kctx, r.Channel, card)
		if errors.Is(err, ErrCannotPost) {
			return w.failUnposted(ctx, r, err)
		}
		if err != nil {
			return fmt.Errorf("post card: %w", err)
		}
		if err := w.store.SetMessage(kctx, r.ID, ref.Channel, ref.TS); err != nil {
			return fmt.Errorf("record card: %w", err)
		}
		r.MessageChannel, r.MessageTS = ref.Channel, ref.TS
		w.announce(ctx, *r, "started: "+Describe(*r))
	} else if !seen || before != key {
		if err := w.ports.Chat.UpdateCard(ctx, MessageRef{Channel: r.MessageChannel, TS: r.MessageTS}, card); err != nil {
			return fmt.Errorf("update card: %w", err)
		}
		if r.State.Terminal() && seen {
			w.announce(ctx, *r, outcome(*r))
		}
	} else {
		return nil
	}
	w.syncApprovalsCard(ctx, *r, card)
	w.mu.Lock()
	w.shown[r.ID] = key
	w.mu.Unlock()
	return nil
}

// syncApprovalsCard keeps a copy of the card in the environment's
// approvals channel, when it has one, linking back to the request. A
// failure there is logged: the card where the release was asked is the one
// that matters.
func (w *Worker) syncApprovalsCard(ctx context.Context, r Release, card Card) {
	channel := w.envs[r.Env].ApprovalsChannel
	if channel == "" || channel == r.MessageChannel || r.ApprovalDeadline.IsZero() {
		return
	}
	log := w.logger.With("release", r.ID, "channel", channel)
	msgs, err := w.store.Messages(ctx, r.ID)
	if err != nil {
		log.WarnContext(ctx, "load approvals card", "err", err)
		return
	}
	main := MessageRef{Channel: r.MessageChannel, TS: r.MessageTS}
	card.Note = "Requested in <#" + r.MessageChannel + ">"
	if link, err := w.ports.Chat.Permalink(ctx, main); err == nil {
		card.Note += " · <" + link + "|Open the release thread>"
	}
	ref, ok := msgs[RoleApprovals]
	if ok {
		if err := w.ports.Chat.UpdateCard(ctx, ref, card); err != nil {
			log.WarnContext(ctx, "update approvals card", "err", err)
		}
		return
	}
	if r.State.Terminal() {
		return
	}
	ref, err = w.ports.Chat.PostCard(ctx, channel, card)
	if err != nil {
		log.WarnContext(ctx, "post approvals card", "err", err)
		return
	}
	if err := w.store.PutMessage(ctx, r.ID, RoleApprovals, ref); err != nil {
		log.WarnContext(ctx, "record approvals card", "err", err)
	}
}

// failUnposted ends a release whose card cannot be posted, telling the
// requester why and what to do.
func (w *Worker) failUnposted(ctx context.Context, r *Release, cause error) error {
	if r.ResponseURL != "" {
		if err := w.ports.Chat.Respond(ctx, r.ResponseURL, fmt.Sprintf("Release #%d stopped: %v", r.ID, cause)); err != nil {
			w.logger.WarnContext(ctx, "reply to requester", "release", r.ID, "err", err)
		}
	}
	next, err := w.move(ctx, *r, Failed, cause.Error())
	if err != nil {
		return fmt.Errorf("fail release: %w", err)
	}
	*r = next
	return nil
}

func (w *Worker) announce(ctx context.Context, r Release, text string) {
	channel := w.apps[r.App].Channel
	if channel == "" {
		channel = w.notifyChannel
	}
	if channel == "" || channel == r.Channel {
		return
	}
	msg := fmt.Sprintf("Release #%d %s (requested by %s)", r.ID, text, requester(r))
	if err := w.ports.Chat.Announce(ctx, channel, msg, MessageRef{Channel: r.MessageChannel, TS: r.MessageTS}); err != nil {
		w.logger.WarnContext(ctx, "announce release", "release", r.ID, "channel", channel, "err", err)
	}
}

func outcome(r Release) string {
	text := StateText(r.State) + ": " + Describe(r)
	if r.StateReason != "" {
		text += " — " + r.StateReason
	}
	return text
}

func (w *Worker) forget(id ID) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.shown, id)
	if t, ok := w.timers[id]; ok {
		t.Stop()
		delete(w.timers, id)
	}
}

// wakeAt looks at a release again at a given moment, so that an approval
// expires, and its card says so, when its time is up rather than at the
// next sweep.
func (w *Worker) wakeAt(id ID, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t, ok := w.timers[id]; ok {
		t.Stop()
	}
	w.timers[id] = time.AfterFunc(max(at.Sub(w.now()), 0), func() { w.Wake(id) })
}

func (w *Worker) stopTimers() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, t := range w.timers {
		t.Stop()
		delete(w.timers, id)
	}
}
