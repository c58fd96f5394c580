package bot

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

// simWorld is a simulated clock for the Scheduler: time moves only when the
// Scheduler sleeps, and things scheduled with At happen, in order, as it
// moves past them. Everything runs on Run's goroutine, so a test is
// deterministic and takes no real time.
type simWorld struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	events simEvents
	end    time.Time // once nothing is left to happen after end, the run stops
	stop   context.CancelFunc
	busy   func() bool // whether the Scheduler still has work; it is not stopped then
}

type simEvent struct {
	at  time.Time
	seq int
	do  func()
}

var simStart = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newSimWorld() *simWorld { return &simWorld{now: simStart} }

func (w *simWorld) Now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

// At makes do happen at simStart+offset.
func (w *simWorld) At(offset time.Duration, do func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	heap.Push(&w.events, simEvent{at: simStart.Add(offset), seq: w.seq, do: do})
}

// simEvents is a heap of events, earliest first, in the order they were
// added when at the same time.
type simEvents []simEvent

func (h simEvents) Len() int { return len(h) }
func (h simEvents) Less(i, j int) bool {
	return h[i].at.Before(h[j].at) || h[i].at.Equal(h[j].at) && h[i].seq < h[j].seq
}
func (h simEvents) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *simEvents) Push(x any)   { *h = append(*h, x.(simEvent)) }
func (h *simEvents) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (w *simWorld) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	target := w.now.Add(d)
	w.mu.Unlock()
	for {
		w.mu.Lock()
		if len(w.events) == 0 || w.events[0].at.After(target) {
			w.mu.Unlock()
			break
		}
		ev := heap.Pop(&w.events).(simEvent)
		if ev.at.After(w.now) {
			w.now = ev.at
		}
		w.mu.Unlock()
		ev.do()
		if err := ctx.Err(); err != nil {
			return err // an update woke the Scheduler
		}
	}
	w.mu.Lock()
	idle := len(w.events) == 0 && target.After(w.end)
	busy, giveUp := w.busy, target.After(w.end.Add(time.Hour))
	w.mu.Unlock()
	if idle && (busy == nil || !busy() || giveUp) {
		w.stop()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	w.mu.Lock()
	w.now = target
	w.mu.Unlock()
	return nil
}

// fakeUpdater records chat.update calls at the simulated time, and fails
// them as fail says.
type fakeUpdater struct {
	w     *simWorld
	mu    sync.Mutex
	calls []fakeCall
	shown map[release.MessageRef]string // each message's text after the calls
	fail  func(n int, ref release.MessageRef) error
}

type fakeCall struct {
	at   time.Time
	ref  release.MessageRef
	text string
	err  error
}

func newFakeUpdater(w *simWorld) *fakeUpdater {
	return &fakeUpdater{w: w, shown: map[release.MessageRef]string{}}
}

func (f *fakeUpdater) UpdateMessageContext(ctx context.Context, channel, ts string, opts ...slack.MsgOption) (string, string, string, error) {
	_, values, err := slack.UnsafeApplyMsgOptions("token", channel, "https://slack.test/api/", opts...)
	if err != nil {
		return "", "", "", err
	}
	ref := release.MessageRef{Channel: channel, TS: ts}
	f.mu.Lock()
	defer f.mu.Unlock()
	call := fakeCall{at: f.w.Now(), ref: ref, text: values.Get("text")}
	if f.fail != nil {
		call.err = f.fail(len(f.calls), ref)
	}
	f.calls = append(f.calls, call)
	if call.err != nil {
		return "", "", "", call.err
	}
	f.shown[ref] = call.text
	return channel, ts, call.text, nil
}

func (f *fakeUpdater) allCalls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeUpdater) text(ref release.MessageRef) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.shown[ref]
}

// runSim runs a Scheduler with budget against the simulated world until
// nothing is left to happen after end and it has nothing left to send.
func runSim(t *testing.T, w *simWorld, s *Scheduler, end time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.mu.Lock()
	w.end, w.stop = simStart.Add(end), cancel
	w.busy = func() bool { return s.Stats().Pending > 0 }
	w.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
}

func newSimScheduler(t *testing.T, budget int, opts ...SchedulerOption) (*simWorld, *fakeUpdater, *Scheduler, *syncBuffer) {
	t.Helper()
	w := newSimWorld()
	api := newFakeUpdater(w)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	s := NewScheduler(api, budget, logger, append([]SchedulerOption{WithSchedulerClock(w.Now, w.Sleep)}, opts...)...)
	return w, api, s, logs
}

func msgRef(i int) release.MessageRef {
	return release.MessageRef{Channel: "C0DEPLOYS", TS: fmt.Sprintf("1700000000.%06d", i)}
}

func textMsg(s string) Message { return Message{Text: s} }

func TestSchedulerCoalescesUpdatesOfOneMessage(t *testing.T) {
	w, api, s, _ := newSimScheduler(t, 50)
	ref := msgRef(1)
	for i := 1; i <= 100; i++ {
		w.At(time.Duration(i)*100*time.Millisecond, func() { s.Update(ref, textMsg(fmt.Sprintf("update %d", i)), false) })
	}
	runSim(t, w, s, time.Minute)

	calls := api.allCalls()
	// 10s of updates at one call every 1.2s: about 9 calls.
	if len(calls) < 5 || len(calls) > 11 {
		t.Errorf("%d calls for 100 updates over 10s, want about 9", len(calls))
	}
	if got := api.text(ref); got != "update 100" {
		t.Errorf("message shows %q, want the last update", got)
	}
	st := s.Stats()
	if st.Calls != len(calls) || st.Coalesced != 100-len(calls) {
		t.Errorf("stats = %+v, want %d calls and %d coalesced", st, len(calls), 100-len(calls))
	}
	if st.Pending != 0 || st.Dropped != 0 {
		t.Errorf("stats = %+v, want nothing pending or dropped", st)
	}
}

// checkBudget fails when any 60-second window holds more than budget calls.
func checkBudget(t *testing.T, calls []fakeCall, budget int) {
	t.Helper()
	for i := budget; i < len(calls); i++ {
		if span := calls[i].at.Sub(calls[i-budget].at); span < time.Minute {
			t.Fatalf("calls %d to %d (%d calls) within %s, budget is %d a minute", i-budget, i, budget+1, span, budget)
		}
	}
}

func TestSchedulerKeepsToBudgetAndIsFair(t *testing.T) {
	for _, tc := range []struct{ builds, budget int }{
		{1, 50}, {10, 50}, {40, 50}, {100, 50}, {7, 7}, {25, 20},
	} {
		t.Run(fmt.Sprintf("%d_builds_budget_%d", tc.builds, tc.budget), func(t *testing.T) {
			w, api, s, _ := newSimScheduler(t, tc.budget)
			const length = 5 * time.Minute
			// Each build's log changes every 3s, starting at staggered moments.
			for b := range tc.builds {
				ref := msgRef(b)
				offset := time.Duration(b) * 37 * time.Millisecond
				n := 0
				for at := offset; at < length; at += 3 * time.Second {
					n++
					content := fmt.Sprintf("build %d line %d", b, n)
					w.At(at, func() { s.Update(ref, textMsg(content), false) })
				}
				last := fmt.Sprintf("build %d done", b)
				w.At(length+offset, func() { s.Update(ref, textMsg(last), true) })
			}
			runSim(t, w, s, length+time.Minute)

			calls := api.allCalls()
			checkBudget(t, calls, tc.budget)
			for b := range tc.builds {
				if got, want := api.text(msgRef(b)), fmt.Sprintf("build %d done", b); got != want {
					t.Errorf("build %d shows %q, want %q", b, got, want)
				}
			}
			// Each message waits at most about N/B minutes (the calls it
			// takes for every other message to have its turn), and no
			// less than the time between two of its own updates allows.
			st := s.Stats()
			bound := time.Duration(float64(time.Minute) * float64(tc.builds) / float64(tc.budget) * 1.5)
			bound = max(bound, 3*time.Minute/time.Duration(tc.budget))
			if len(st.MaxWaits) != tc.builds {
				t.Errorf("waits known for %d messages, want %d", len(st.MaxWaits), tc.builds)
			}
			for ref, wait := range st.MaxWaits {
				if wait > bound {
					t.Errorf("message %s waited %s, bound %s", ref.TS, wait, bound)
				}
			}
			t.Logf("%d calls, max wait %s (bound %s), coalesced %d", len(calls), st.MaxWait, bound, st.Coalesced)
		})
	}
}

func TestSchedulerFinalIsNotReplacedByLaterUpdates(t *testing.T) {
	w, api, s, _ := newSimScheduler(t, 60)
	busy, ref := msgRef(1), msgRef(2)
	// Keep the budget busy so that updates of ref stay pending a while.
	s.Update(busy, textMsg("busy"), false)
	w.At(0, func() {
		s.Update(ref, textMsg("running"), false)
		s.Update(ref, textMsg("FAILURE"), true)
		s.Update(ref, textMsg("running again?"), false)
	})
	w.At(10*time.Second, func() { s.Update(ref, textMsg("late running"), false) })
	runSim(t, w, s, time.Minute)

	if got := api.text(ref); got != "FAILURE" {
		t.Errorf("message shows %q, want the final content", got)
	}
	var texts []string
	for _, c := range api.allCalls() {
		if c.ref == ref {
			texts = append(texts, c.text)
		}
	}
	if !slices.Equal(texts, []string{"FAILURE"}) {
		t.Errorf("calls for the message: %q, want only the final one", texts)
	}
	if st := s.Stats(); st.Dropped != 1 {
		t.Errorf("dropped = %d, want 1 (the update after the final one went out)", st.Dropped)
	}
}

func TestSchedulerFinalsGoFirst(t *testing.T) {
	w, api, s, _ := newSimScheduler(t, 60)
	for i := range 5 {
		s.Update(msgRef(i), textMsg(fmt.Sprintf("running %d", i)), false)
	}
	s.Update(msgRef(9), textMsg("done"), true)
	runSim(t, w, s, time.Minute)
	calls := api.allCalls()
	if len(calls) != 6 || calls[0].ref != msgRef(9) {
		t.Fatalf("calls = %+v, want the final update first", calls)
	}
	// The others in the order their updates arrived.
	for i, c := range calls[1:] {
		if c.ref != msgRef(i) {
			t.Errorf("call %d went to %s, want %s", i+1, c.ref.TS, msgRef(i).TS)
		}
	}
}

func TestSchedulerRetriesFinalsOnErrors(t *testing.T) {
	w, api, s, logs := newSimScheduler(t, 50)
	ref, other := msgRef(1), msgRef(2)
	failures := 0
	api.fail = func(_ int, r release.MessageRef) error {
		if r == ref && failures < 6 {
			failures++
			if failures%2 == 0 {
				return errors.New("connection reset by peer")
			}
			return slack.SlackErrorResponse{Err: "internal_error"}
		}
		return nil
	}
	s.Update(ref, textMsg("SUCCESS"), true)
	s.Update(other, textMsg("running"), false)
	w.At(time.Second, func() { s.Update(other, textMsg("still running"), false) })
	runSim(t, w, s, 10*time.Minute)

	if got := api.text(ref); got != "SUCCESS" {
		t.Fatalf("final update never landed; message shows %q", got)
	}
	// Backoff: the retries are spaced 2s, 4s, 8s, 16s, 32s, 60s apart, at least.
	var at []time.Time
	for _, c := range api.allCalls() {
		if c.ref == ref {
			at = append(at, c.at)
		}
	}
	if len(at) != 7 {
		t.Fatalf("%d calls for the final update, want 7", len(at))
	}
	for i, want := range []time.Duration{2, 4, 8, 16, 32, 60} {
		if gap := at[i+1].Sub(at[i]); gap < want*time.Second {
			t.Errorf("retry %d came %s after the previous try, want at least %ds", i+1, gap, want)
		}
	}
	if got := api.text(other); got != "still running" {
		t.Errorf("other message shows %q: a failing final must not hold others up", got)
	}
	st := s.Stats()
	if st.Errors != 6 || st.Dropped != 0 {
		t.Errorf("stats = %+v, want 6 errors and nothing dropped", st)
	}
	if !strings.Contains(logs.String(), "retrying the final update") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
}

func TestSchedulerDropsFailedNonFinalUpdates(t *testing.T) {
	w, api, s, _ := newSimScheduler(t, 50)
	ref := msgRef(1)
	api.fail = func(n int, _ release.MessageRef) error {
		if n == 0 {
			return slack.SlackErrorResponse{Err: "internal_error"}
		}
		return nil
	}
	s.Update(ref, textMsg("running 1"), false)
	w.At(5*time.Second, func() { s.Update(ref, textMsg("running 2"), false) })
	runSim(t, w, s, time.Minute)
	calls := api.allCalls()
	if len(calls) != 2 || calls[0].text != "running 1" || calls[1].text != "running 2" {
		t.Fatalf("calls = %+v, want one failed try of each update", calls)
	}
	if st := s.Stats(); st.Errors != 1 || st.Dropped != 1 {
		t.Errorf("stats = %+v, want 1 error and 1 dropped", st)
	}
}

func TestSchedulerGivesUpOnGoneMessages(t *testing.T) {
	w, api, s, logs := newSimScheduler(t, 50)
	gone, ok := msgRef(1), msgRef(2)
	api.fail = func(_ int, r release.MessageRef) error {
		if r == gone {
			return slack.SlackErrorResponse{Err: "message_not_found"}
		}
		return nil
	}
	s.Update(gone, textMsg("FAILURE"), true)
	s.Update(ok, textMsg("SUCCESS"), true)
	w.At(10*time.Minute, func() {
		s.Update(gone, textMsg("again"), true)
		s.Update(gone, textMsg("running"), false)
	})
	runSim(t, w, s, 20*time.Minute)
	n := 0
	for _, c := range api.allCalls() {
		if c.ref == gone {
			n++
		}
	}
	if n != goneTries {
		t.Errorf("%d calls for a deleted message, want %d", n, goneTries)
	}
	if api.text(ok) != "SUCCESS" {
		t.Errorf("other message not updated")
	}
	if !strings.Contains(logs.String(), "cannot be updated any more") {
		t.Errorf("giving up not logged:\n%s", logs.String())
	}
}

func TestSchedulerPausesEverythingOn429(t *testing.T) {
	w, api, s, _ := newSimScheduler(t, 50)
	const retryAfter = 30 * time.Second
	api.fail = func(n int, _ release.MessageRef) error {
		if n == 3 {
			return &slack.RateLimitedError{RetryAfter: retryAfter}
		}
		return nil
	}
	for b := range 4 {
		ref := msgRef(b)
		for at := time.Duration(0); at < 2*time.Minute; at += time.Second {
			content := fmt.Sprintf("build %d at %s", b, at)
			w.At(at, func() { s.Update(ref, textMsg(content), false) })
		}
		last := fmt.Sprintf("build %d done", b)
		w.At(2*time.Minute, func() { s.Update(ref, textMsg(last), true) })
	}
	runSim(t, w, s, 5*time.Minute)

	calls := api.allCalls()
	limited := calls[3]
	if limited.err == nil {
		t.Fatal("call 3 was not rate-limited")
	}
	next := calls[4]
	if gap := next.at.Sub(limited.at); gap < retryAfter {
		t.Errorf("next call %s after the 429, want at least %s (every message pauses)", gap, retryAfter)
	}
	if next.ref != limited.ref {
		t.Errorf("after the pause %s went first, want %s, which was refused", next.ref.TS, limited.ref.TS)
	}
	checkBudget(t, calls, 50)
	st := s.Stats()
	if st.RateLimited != 1 {
		t.Errorf("RateLimited = %d, want 1", st.RateLimited)
	}
	for b := range 4 {
		if got, want := api.text(msgRef(b)), fmt.Sprintf("build %d done", b); got != want {
			t.Errorf("build %d shows %q, want %q", b, got, want)
		}
	}
}

func TestSchedulerFlushesFinalsWhenStopping(t *testing.T) {
	w, api, s, _ := newSimScheduler(t, 60, WithFlushGrace(3500*time.Millisecond))
	for i := range 10 {
		s.Update(msgRef(i), textMsg("running"), false)
		s.Update(msgRef(i), textMsg("done"), true)
	}
	s.Update(msgRef(99), textMsg("running"), false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.end, w.stop = simStart, func() {}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	// 3.5s of grace at one call a second: four finals go out, in order.
	calls := api.allCalls()
	if len(calls) != 4 {
		t.Fatalf("%d calls in the grace, want 4", len(calls))
	}
	for i, c := range calls {
		if c.ref != msgRef(i) || c.text != "done" {
			t.Errorf("call %d = %s %q, want final update of %s", i, c.ref.TS, c.text, msgRef(i).TS)
		}
	}
	if st := s.Stats(); st.Dropped != 7 {
		t.Errorf("dropped = %d, want 6 finals and 1 non-final", st.Dropped)
	}
}

func TestSchedulerUpdateNeverBlocks(t *testing.T) {
	block := make(chan struct{})
	api := updaterFunc(func(ctx context.Context) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return ctx.Err()
	})
	s := NewScheduler(api, 6000, nil, WithFlushGrace(10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	start := time.Now()
	for i := range 10000 {
		s.Update(msgRef(i%50), textMsg("x"), i%7 == 0)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("10,000 updates took %s with Slack not answering", d)
	}
	cancel()
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type updaterFunc func(ctx context.Context) error

func (f updaterFunc) UpdateMessageContext(ctx context.Context, channel, ts string, _ ...slack.MsgOption) (string, string, string, error) {
	return channel, ts, "", f(ctx)
}

func TestNewSchedulerDefaultBudget(t *testing.T) {
	s := NewScheduler(nil, 0, nil)
	if s.interval != 1224*time.Millisecond {
		t.Errorf("interval = %s, want 1.2s (50 a minute) and a 2%% margin", s.interval)
	}
	// Rounded up so that budget calls never fit in less than a minute.
	if s := NewScheduler(nil, 7, nil); 7*s.interval < time.Minute {
		t.Errorf("7 intervals of %s are less than a minute", s.interval)
	}
}

// TestSchedulerGivesCardsAQuarter lets cards (background) and live builds
// wait together: cards get one call in four, builds the rest, and
// neither starves.
func TestSchedulerGivesCardsAQuarter(t *testing.T) {
	w, api, s, _ := newSimScheduler(t, 60)
	cards, builds := 0, 0
	for i := range 30 {
		s.Update(msgRef(100+i), Message{Text: fmt.Sprintf("card %d", i), Background: true}, false)
		s.Update(msgRef(i), textMsg(fmt.Sprintf("build %d", i)), false)
	}
	runSim(t, w, s, 30*time.Second)
	calls := api.allCalls()
	if len(calls) != 60 {
		t.Fatalf("calls = %d; want every update sent", len(calls))
	}
	for _, c := range calls[:32] { // both kinds were waiting
		if strings.HasPrefix(c.text, "card") {
			cards++
		} else {
			builds++
		}
	}
	if cards != 8 || builds != 24 {
		t.Errorf("of the first 32 calls, %d went to cards and %d to builds; want builds to get three calls in four", cards, builds)
	}
}

// TestSchedulerSendsABuildResultBeforeCards: a build's final state does not
// wait behind a card, even when cards are due a turn.
func TestSchedulerSendsABuildResultBeforeCards(t *testing.T) {
	w, api, s, _ := newSimScheduler(t, 60)
	for i := range 3 {
		s.Update(msgRef(i), textMsg(fmt.Sprintf("build %d running", i)), false)
	}
	w.At(2500*time.Millisecond, func() {
		s.Update(msgRef(50), Message{Text: "card 50 succeeded", Background: true}, true)
		s.Update(msgRef(0), textMsg("build 0 SUCCESS"), true)
	})
	runSim(t, w, s, time.Minute)
	calls := api.allCalls()
	if len(calls) != 5 || calls[3].text != "build 0 SUCCESS" || calls[4].text != "card 50 succeeded" {
		t.Fatalf("calls = %+v; want the build's result before the card", calls)
	}
}

// TestSchedulerWithSlackSimulator runs the Scheduler against the Slack
// simulator through a real slack.Client: a 429 pauses the updates for its
// Retry-After, then the newest content of each message lands.
func TestSchedulerWithSlackSimulator(t *testing.T) {
	sim := slackapi.New(slackapi.WithChannel(chMember, "deploys", false, true))
	t.Cleanup(sim.Close)
	api := slack.New(slackapi.DefaultToken, slack.OptionAPIURL(sim.URL()))
	ctx := context.Background()
	var refs []release.MessageRef
	for i := range 3 {
		ch, ts, err := api.PostMessageContext(ctx, chMember, slack.MsgOptionText(fmt.Sprintf("build %d", i), false))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, release.MessageRef{Channel: ch, TS: ts})
	}
	sim.RateLimitNext("chat.update", 1)

	s := NewScheduler(api, 600, nil)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	for round := range 5 {
		for i, ref := range refs {
			blocks, text := RenderBuild(release.BuildView{
				Release: release.ID(i + 1), Job: "api/staging", Number: int64(round + 1),
				Started: simStart, Now: simStart.Add(time.Duration(round) * time.Second), Estimated: time.Minute,
				Tail: []string{fmt.Sprintf("round %d", round)},
			})
			s.Update(ref, Message{Text: text, Blocks: blocks}, round == 4)
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	// One refused call, then one landing per message at least.
	if _, err := sim.WaitFor(wctx, "chat.update", 4); err != nil {
		t.Fatal(err)
	}
	for {
		done := 0
		for _, ref := range refs {
			if m, _ := sim.Message(ref.Channel, ref.TS); strings.Contains(string(m.Blocks), "round 4") {
				done++
			}
		}
		if done == len(refs) {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("not every message got its final update; calls: %d", len(sim.Calls("chat.update")))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	calls := sim.Calls("chat.update")
	if calls[0].Status != 429 {
		t.Fatalf("first call answered %d, want the injected 429", calls[0].Status)
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("second call %s after the 429, want at least the 1s Retry-After", gap)
	}
	st := s.Stats()
	if st.RateLimited != 1 || st.Calls != len(calls) {
		t.Errorf("stats = %+v; simulator saw %d calls", st, len(calls))
	}
	for _, ref := range refs {
		m, _ := sim.Message(ref.Channel, ref.TS)
		if m.Edits == 0 || !strings.Contains(m.Text, "Build #5") {
			t.Errorf("message %s: %d edits, text %q", ref.TS, m.Edits, m.Text)
		}
	}
}
