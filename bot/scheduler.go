package bot

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/wait"
)

// Updater is the slack-go call the Scheduler makes; *slack.Client is one.
type Updater interface {
	UpdateMessageContext(ctx context.Context, channelID, timestamp string, options ...slack.MsgOption) (string, string, string, error)
}

var _ Updater = (*slack.Client)(nil)

// Message is the content a message is updated to: its blocks, and the
// fallback text Slack shows in notifications.
type Message struct {
	Text   string
	Blocks []slack.Block
	// Metadata, when set, replaces the message's metadata (a card's
	// release ID).
	Metadata *slack.SlackMetadata
	// Background messages (cards) get one call in backgroundShare while
	// other messages (live builds) wait, so that cards never starve and
	// live builds keep most of the budget.
	Background bool
}

// backgroundShare: one call in this many goes to a background message
// when messages of both kinds wait. Live builds keep three quarters of the
// budget, so N of them are each refreshed within 4/3 × N/B minutes (with
// budgetMargin, 1.36 × N/B: under the 1.5 × N/B Hoist promises).
const backgroundShare = 4

// backgroundSettle is how long a background message's update waits before
// it may be sent, so that a card passing through several states at once
// (requested, approved, building) costs one call, not three.
const backgroundSettle = time.Second

// budgetMargin spaces calls a little wider than the budget, so that the
// jitter of the network never puts budget+1 calls in one minute.
const budgetMargin = 1.02

// DefaultUpdateBudget is the Scheduler's default budget of chat.update calls
// a minute: Slack's Tier 3, which chat.update belongs to.
const DefaultUpdateBudget = 50

const (
	// defaultFlushGrace bounds the last flush of final updates when Run's
	// context ends.
	defaultFlushGrace = 5 * time.Second
	// updateTimeout bounds one chat.update call, so that a call Slack never
	// answers cannot hold up every other message.
	updateTimeout = 20 * time.Second
	// Failed final updates are retried after finalBackoffBase, doubling up
	// to finalBackoffMax.
	finalBackoffBase = 2 * time.Second
	finalBackoffMax  = time.Minute
	// goneTries is how many times in a row Slack may say a message cannot
	// be updated (deleted, archived channel) before the Scheduler believes
	// it and stops updating that message. Slack sometimes answers
	// message_not_found just after a message is posted, so one answer is
	// not enough.
	goneTries = 3
	// idleWait is how long Run sleeps when nothing is pending; any Update
	// wakes it earlier.
	idleWait = time.Hour
	// maxTracked bounds the messages the Scheduler remembers after their
	// last update: finished or gone messages, and the per-message waits of
	// SchedulerStats.
	maxTracked = 1024
)

// Scheduler is the one way Hoist updates messages (chat.update) in a
// workspace. Slack limits chat.update per workspace, not per message, so
// all updates share one budget:
//
//   - Updates of one message are coalesced: only the newest pending content
//     of a message is sent.
//   - Calls are spaced 60s/budget apart (a token bucket holding one token,
//     refilled budget times a minute), so that no 60-second window holds
//     more than budget calls. A deeper bucket would allow bursts that break
//     that bound and let a few busy messages starve the others.
//   - Messages take turns: the one waiting longest goes first, and a message
//     just refreshed goes to the back, so with N messages changing all the
//     time each is refreshed about every N/budget minutes. Final updates
//     go before others.
//   - When Slack answers 429 every update pauses for the Retry-After it
//     asks for, since the limit is the workspace's.
//   - A final update (a message's last content, like a finished build) is
//     never dropped: no later non-final update replaces it, and it is
//     retried with capped backoff until it is sent, until Run's context
//     ends and the last flush is over, or until Slack has said three times
//     that the message cannot be updated any more (deleted, archived).
//     A non-final update that fails is dropped: the next one will do.
//
// Update never blocks on Slack; Run makes the calls.
type Scheduler struct {
	api      Updater
	logger   *slog.Logger
	interval time.Duration
	// sinceBackground counts calls to other messages since the last call
	// to a background one.
	sinceBackground int
	now             func() time.Time
	sleep           func(ctx context.Context, d time.Duration) error
	grace           time.Duration

	mu          sync.Mutex
	entries     map[release.MessageRef]*pendingUpdate
	queue       []*pendingUpdate // messages with a pending update, in turn order
	notBefore   time.Time        // no call before this: the budget
	pausedUntil time.Time        // no call before this: Slack's 429
	wake        context.CancelFunc
	woken       bool
	done        trackedRefs[bool] // true: gone, ignore everything; false: final sent, ignore non-finals
	waits       trackedRefs[time.Duration]
	stats       SchedulerStats
}

// pendingUpdate is what the Scheduler knows of one message.
type pendingUpdate struct {
	ref   release.MessageRef
	has   bool // an update is pending
	msg   Message
	final bool
	since time.Time // when the oldest update not yet sent arrived

	queued   bool
	retryAt  time.Time // a failed final update waits until then
	failures int       // failed calls in a row
	gone     int       // answers in a row that the message cannot be updated
}

// SchedulerStats counts what the Scheduler did since it was made.
type SchedulerStats struct {
	// Calls counts chat.update calls made, whatever their outcome.
	Calls int
	// RateLimited counts calls Slack answered with 429.
	RateLimited int
	// Errors counts calls that failed otherwise.
	Errors int
	// Coalesced counts updates replaced by a newer one of the same message
	// before they were sent.
	Coalesced int
	// Dropped counts updates never sent: non-final ones that failed or came
	// after the message's final one, updates of messages that are gone, and
	// final ones still pending when the last flush ended.
	Dropped int
	// Pending is how many messages have an update waiting.
	Pending int
	// MaxWait is the longest time an update waited between its arrival and
	// the call that sent it (or sent newer content of its message).
	MaxWait time.Duration
	// MaxWaits is MaxWait per message, for the last 1,024 messages updated.
	MaxWaits map[release.MessageRef]time.Duration
}

// SchedulerOption configures a Scheduler.
type SchedulerOption func(*Scheduler)

// WithSchedulerClock sets the Scheduler's clock and how it waits, for tests.
// sleep must wait d, or return early with ctx's error when ctx ends; the
// Scheduler ends a wait's context early when an update arrives. The default
// is time.Now and a timer.
func WithSchedulerClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) SchedulerOption {
	return func(s *Scheduler) { s.now, s.sleep = now, sleep }
}

// WithFlushGrace sets how long Run goes on sending final updates after its
// context ends. The default is 5s.
func WithFlushGrace(d time.Duration) SchedulerOption {
	return func(s *Scheduler) { s.grace = d }
}

// NewScheduler returns a Scheduler that calls api at most budgetPerMinute
// times a minute (DefaultUpdateBudget when not positive) and logs to logger
// (nil: no logs). Start it with Run.
func NewScheduler(api Updater, budgetPerMinute int, logger *slog.Logger, opts ...SchedulerOption) *Scheduler {
	if budgetPerMinute <= 0 {
		budgetPerMinute = DefaultUpdateBudget
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := time.Duration(budgetPerMinute)
	s := &Scheduler{
		api:    api,
		logger: logger,
		// Rounded up, so that budget intervals are never shorter than a minute.
		interval: time.Duration(float64((time.Minute+b-1)/b) * budgetMargin),
		now:      time.Now,
		sleep:    wait.Sleep,
		grace:    defaultFlushGrace,
		entries:  make(map[release.MessageRef]*pendingUpdate),
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Update schedules the update of the message at ref to msg, and returns at
// once. final says it is the message's last content: it is then never
// dropped, and later non-final updates of the message are ignored.
func (s *Scheduler) Update(ref release.MessageRef, msg Message, final bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gone, ok := s.done.get(ref); ok && (gone || !final) {
		s.stats.Dropped++
		return
	}
	p := s.entries[ref]
	if p == nil {
		p = &pendingUpdate{ref: ref}
		s.entries[ref] = p
	}
	if p.has {
		s.stats.Coalesced++
		if p.final && !final {
			return // the pending final content stays
		}
		becameFinal := final && !p.final
		p.msg, p.final = msg, final
		if becameFinal {
			s.signalLocked()
		}
		return
	}
	p.has, p.msg, p.final, p.since = true, msg, final, s.now()
	s.enqueueLocked(p, false)
	s.signalLocked()
}

// Stats returns what the Scheduler did so far.
func (s *Scheduler) Stats() SchedulerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Pending = len(s.queue)
	st.MaxWaits = make(map[release.MessageRef]time.Duration, len(s.waits.m))
	for ref, w := range s.waits.m {
		st.MaxWaits[ref] = w
	}
	return st
}

// Run sends updates until ctx ends, then goes on sending final updates for
// a short grace (WithFlushGrace) and returns nil.
func (s *Scheduler) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		p, snap, wait := s.next(false)
		if p == nil {
			s.wait(ctx, wait)
			continue
		}
		s.send(ctx, p, snap)
	}
	s.flush(ctx)
	return nil
}

// flush sends the final updates still pending, within the grace, keeping
// to the budget and to Slack's 429s.
func (s *Scheduler) flush(parent context.Context) {
	deadline := s.now().Add(s.grace)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), s.grace)
	defer cancel()
	for ctx.Err() == nil {
		p, snap, wait := s.next(true)
		if p != nil {
			s.send(ctx, p, snap)
			continue
		}
		if wait < 0 || s.now().Add(wait).After(deadline) {
			break
		}
		s.wait(ctx, wait)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	finals := 0
	for _, p := range s.queue {
		if p.final {
			finals++
		}
	}
	s.stats.Dropped += len(s.queue)
	if finals > 0 {
		s.logger.Warn("stopping with final message updates unsent", "finals", finals, "grace", s.grace)
	}
}

// next picks the update to send now, takes a token for it and takes it off
// its message; or, when none may go now, says how long to wait (negative:
// nothing is pending). Only final updates are considered when finalsOnly.
func (s *Scheduler) next(finalsOnly bool) (*pendingUpdate, pendingUpdate, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	gate := later(s.notBefore, s.pausedUntil)
	// The first ready message of each kind, a final one when there is.
	var fore, back *pendingUpdate
	var earliest time.Time
	for _, p := range s.queue {
		if finalsOnly && !p.final {
			continue
		}
		ready := later(gate, p.retryAt)
		if p.msg.Background && !p.final && !finalsOnly {
			ready = later(ready, p.since.Add(backgroundSettle))
		}
		if ready.After(now) {
			if earliest.IsZero() || ready.Before(earliest) {
				earliest = ready
			}
			continue
		}
		pick := &fore
		if p.msg.Background {
			pick = &back
		}
		if *pick == nil || p.final && !(*pick).final {
			*pick = p
		}
	}
	// A live build's final state (its result) goes before any card; else
	// cards take their turn once in backgroundShare calls.
	pick := fore
	if back != nil && (fore == nil || !fore.final && s.sinceBackground >= backgroundShare-1) {
		pick = back
	}
	if pick == nil {
		if earliest.IsZero() {
			return nil, pendingUpdate{}, -1
		}
		return nil, pendingUpdate{}, earliest.Sub(now)
	}
	if pick.msg.Background {
		s.sinceBackground = 0
	} else {
		s.sinceBackground++
	}
	snap := *pick
	pick.has, pick.msg = false, Message{}
	s.dequeueLocked(pick)
	s.notBefore = now.Add(s.interval)
	s.stats.Calls++
	return pick, snap, 0
}

// send makes the call for snap, the content taken off p, and deals with
// the outcome.
func (s *Scheduler) send(ctx context.Context, p *pendingUpdate, snap pendingUpdate) {
	cctx, cancel := context.WithTimeout(ctx, updateTimeout)
	options := []slack.MsgOption{slack.MsgOptionText(snap.msg.Text, false), slack.MsgOptionBlocks(snap.msg.Blocks...)}
	if snap.msg.Metadata != nil {
		options = append(options, slack.MsgOptionMetadata(*snap.msg.Metadata))
	}
	_, _, _, err := s.api.UpdateMessageContext(cctx, snap.ref.Channel, snap.ref.TS, options...)
	cancel()

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	log := s.logger.With("channel", snap.ref.Channel, "ts", snap.ref.TS, "final", snap.final)
	var limited *slack.RateLimitedError
	switch {
	case err == nil:
		p.failures, p.gone, p.retryAt = 0, 0, time.Time{}
		s.recordWaitLocked(snap.ref, now.Sub(snap.since))
		if snap.final {
			s.done.put(snap.ref, false)
			if p.has && !p.final {
				p.has = false
				s.stats.Dropped++
				s.dequeueLocked(p)
			}
		}
	case errors.As(err, &limited):
		s.stats.RateLimited++
		s.pausedUntil = later(s.pausedUntil, now.Add(limited.RetryAfter))
		log.Warn("slack rate-limited chat.update; pausing every update", "retry_after", limited.RetryAfter)
		s.restoreLocked(p, snap)
	case ctx.Err() != nil:
		// Stopping: not the message's fault. The flush may try again.
		s.restoreLocked(p, snap)
	default:
		s.stats.Errors++
		p.failures++
		if isGoneError(slackErrorCode(err)) {
			p.gone++
		} else {
			p.gone = 0
		}
		switch {
		case p.gone >= goneTries:
			log.Error("message cannot be updated any more; dropping its updates", "err", err)
			s.stats.Dropped++
			if p.has {
				p.has = false
				s.stats.Dropped++
				s.dequeueLocked(p)
			}
			s.done.put(snap.ref, true)
		case snap.final:
			backoff := min(finalBackoffBase<<min(p.failures-1, 16), finalBackoffMax)
			p.retryAt = now.Add(backoff)
			log.Warn("update message; retrying the final update", "err", err, "retry_in", backoff)
			s.restoreLocked(p, snap)
		default:
			log.Warn("update message; dropping the update", "err", err)
			s.stats.Dropped++
		}
	}
	// A message is remembered between updates only while Slack's answers
	// say it may be gone.
	if !p.has && (p.gone == 0 || p.gone >= goneTries) {
		delete(s.entries, p.ref)
	}
}

// restoreLocked puts snap, whose call did not go through, back on p at the
// front of the queue; newer content that arrived meanwhile wins, unless it
// would replace a final update with a non-final one.
func (s *Scheduler) restoreLocked(p *pendingUpdate, snap pendingUpdate) {
	if p.has {
		s.stats.Coalesced++
		if snap.final && !p.final {
			p.msg, p.final = snap.msg, true
		}
		p.since = earlier(p.since, snap.since)
	} else {
		p.has, p.msg, p.final, p.since = true, snap.msg, snap.final, snap.since
	}
	s.dequeueLocked(p)
	s.enqueueLocked(p, true)
}

func (s *Scheduler) enqueueLocked(p *pendingUpdate, front bool) {
	if p.queued {
		return
	}
	p.queued = true
	if front {
		s.queue = slices.Insert(s.queue, 0, p)
		return
	}
	s.queue = append(s.queue, p)
}

func (s *Scheduler) dequeueLocked(p *pendingUpdate) {
	if !p.queued {
		return
	}
	p.queued = false
	if i := slices.Index(s.queue, p); i >= 0 {
		s.queue = slices.Delete(s.queue, i, i+1)
	}
}

func (s *Scheduler) recordWaitLocked(ref release.MessageRef, w time.Duration) {
	s.stats.MaxWait = max(s.stats.MaxWait, w)
	if old, ok := s.waits.get(ref); ok && old >= w {
		return
	}
	s.waits.put(ref, w)
}

// wait sleeps d, or until an update arrives or ctx ends.
func (s *Scheduler) wait(ctx context.Context, d time.Duration) {
	if d < 0 {
		d = idleWait
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.woken {
		s.woken = false
		s.mu.Unlock()
		return
	}
	s.wake = cancel
	s.mu.Unlock()

	_ = s.sleep(wctx, d)

	s.mu.Lock()
	s.wake, s.woken = nil, false
	s.mu.Unlock()
}

// signalLocked ends the current wait, or the next one if Run is not waiting.
func (s *Scheduler) signalLocked() {
	if s.wake != nil {
		s.wake()
		s.wake = nil
		return
	}
	s.woken = true
}

// isGoneError reports whether a Slack error means the message cannot be
// updated any more.
func isGoneError(code string) bool {
	switch code {
	case "message_not_found", "cant_update_message", "edit_window_closed",
		"channel_not_found", "is_archived", "not_in_channel":
		return true
	}
	return false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// trackedRefs is a map of the last maxTracked messages put in it.
type trackedRefs[V any] struct {
	m     map[release.MessageRef]V
	order []release.MessageRef
}

func (t *trackedRefs[V]) get(ref release.MessageRef) (V, bool) {
	v, ok := t.m[ref]
	return v, ok
}

func (t *trackedRefs[V]) put(ref release.MessageRef, v V) {
	if t.m == nil {
		t.m = make(map[release.MessageRef]V)
	}
	if _, ok := t.m[ref]; !ok {
		t.order = append(t.order, ref)
		if len(t.order) > maxTracked {
			delete(t.m, t.order[0])
			t.order = slices.Delete(t.order, 0, 1)
		}
	}
	t.m[ref] = v
}
