package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

func postCardForBuild(t *testing.T, f *notifierFixture, channel string) release.MessageRef {
	t.Helper()
	card, err := f.n.PostCard(t.Context(), channel, awaitingCard())
	if err != nil {
		t.Fatalf("PostCard: %v", err)
	}
	return card
}

func TestNotifierPostBuildInThread(t *testing.T) {
	f := newNotifierFixture(t)
	card := postCardForBuild(t, f, chMember)
	v := baseBuildView()
	ref, err := f.n.PostBuild(t.Context(), card, v)
	if err != nil {
		t.Fatalf("PostBuild: %v", err)
	}
	if ref.Channel != chMember || ref.TS == "" || ref.TS == card.TS {
		t.Fatalf("ref = %+v", ref)
	}
	m, ok := f.sim.Message(ref.Channel, ref.TS)
	if !ok {
		t.Fatal("build message not in the simulator")
	}
	if m.ThreadTS != card.TS {
		t.Errorf("thread_ts = %q, want the card's %q", m.ThreadTS, card.TS)
	}
	blocks, fallback := RenderBuild(v)
	if !sameJSON(t, m.Blocks, marshalBlocks(t, blocks)) {
		t.Errorf("posted blocks differ from RenderBuild's:\n%s", m.Blocks)
	}
	if m.Text != fallback {
		t.Errorf("text = %q, want %q", m.Text, fallback)
	}
}

func TestNotifierPostBuildJoinsPublicChannel(t *testing.T) {
	f := newNotifierFixture(t)
	// A card in a channel Hoist has since left (or was removed from).
	card := release.MessageRef{Channel: chOutside, TS: "1700000000.000001"}
	if _, err := f.n.PostBuild(t.Context(), card, baseBuildView()); err != nil {
		t.Fatalf("PostBuild: %v", err)
	}
	if !f.sim.IsMember(chOutside) {
		t.Error("did not join the public channel")
	}
	_, err := f.n.PostBuild(t.Context(), release.MessageRef{Channel: chPrivate, TS: "1700000000.000001"}, baseBuildView())
	if !errors.Is(err, release.ErrCannotPost) {
		t.Errorf("PostBuild in a private channel: %v, want ErrCannotPost", err)
	}
}

func TestNotifierUpdateBuildDirect(t *testing.T) {
	f := newNotifierFixture(t)
	card := postCardForBuild(t, f, chMember)
	ref, err := f.n.PostBuild(t.Context(), card, baseBuildView())
	if err != nil {
		t.Fatal(err)
	}
	v := baseBuildView()
	v.Result = "SUCCESS"
	f.sim.RateLimitNext("chat.update", 1)
	if err := f.n.UpdateBuild(t.Context(), ref, v); err != nil {
		t.Fatalf("UpdateBuild: %v", err)
	}
	m, _ := f.sim.Message(ref.Channel, ref.TS)
	if !strings.Contains(m.Text, "SUCCESS") || m.Edits != 1 {
		t.Errorf("message = %q after %d edits", m.Text, m.Edits)
	}
	if got := f.sleeps(); len(got) != 1 || got[0] != time.Second {
		t.Errorf("waited %v, want the 1s Slack asked for", got)
	}
	err = f.n.UpdateBuild(t.Context(), release.MessageRef{Channel: chMember, TS: "1.2"}, v)
	if err == nil || !strings.Contains(err.Error(), "message_not_found") {
		t.Errorf("UpdateBuild of a missing message: %v", err)
	}
}

func TestNotifierUpdateBuildViaScheduler(t *testing.T) {
	f := newNotifierFixture(t)
	api := slack.New(slackapi.DefaultToken, slack.OptionAPIURL(f.sim.URL()))
	sched := NewScheduler(api, 600, nil)
	n := NewNotifier(api, nil, WithScheduler(sched))
	card := postCardForBuild(t, f, chMember)
	ref, err := n.PostBuild(t.Context(), card, baseBuildView())
	if err != nil {
		t.Fatal(err)
	}

	// Updates are only queued until the Scheduler runs.
	for i := range 20 {
		v := baseBuildView()
		v.Now = buildStart.Add(time.Duration(i) * time.Second)
		if i == 19 {
			v.Result = "FAILURE"
		}
		if err := n.UpdateBuild(t.Context(), ref, v); err != nil {
			t.Fatalf("UpdateBuild: %v", err)
		}
	}
	if calls := f.sim.Calls("chat.update"); len(calls) != 0 {
		t.Fatalf("UpdateBuild called Slack itself %d times", len(calls))
	}
	if st := sched.Stats(); st.Pending != 1 || st.Coalesced != 19 {
		t.Fatalf("stats = %+v, want one pending update after 19 coalesced", st)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	// Slack answered once the Scheduler knows how long the update waited.
	for len(sched.Stats().MaxWaits) == 0 {
		if wctx.Err() != nil {
			t.Fatal("the update was never sent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m, _ := f.sim.Message(ref.Channel, ref.TS)
	if m.Edits != 1 || !strings.Contains(m.Text, "FAILURE in 19s") {
		t.Errorf("message = %q after %d edits, want the final view in one edit", m.Text, m.Edits)
	}
}
