package release_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
)

// waitStored waits until release id is in state want in the store,
// whether or not it has a card.
func (h *harness) waitStored(id release.ID, want release.State) release.Release {
	h.t.Helper()
	var r release.Release
	h.eventually(fmt.Sprintf("release #%d %s", id, want), func() bool {
		var err error
		r, err = h.store.GetRelease(context.Background(), id)
		return err == nil && r.State == want
	})
	return r
}

// reply waits for an ephemeral reply to the requester that contains want.
func (h *harness) reply(want string) string {
	h.t.Helper()
	var got string
	h.eventually("a reply containing "+want, func() bool {
		h.chat.mu.Lock()
		defer h.chat.mu.Unlock()
		for _, text := range h.chat.responded {
			if strings.Contains(text, want) {
				got = text
				return true
			}
		}
		return false
	})
	return got
}

func (h *harness) cardsPosted() int {
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	return h.chat.posts
}

func TestUnknownRefIsRefusedWithoutACard(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api nope")
	r := h.waitStored(1, release.Failed)
	h.reply("Release #1 stopped, nothing was deployed: `acme/api` has no branch, tag or commit named `nope`: check the name, or push it first.")
	if !strings.Contains(r.StateReason, "no branch, tag or commit named `nope`") {
		t.Errorf("reason = %q", r.StateReason)
	}
	time.Sleep(50 * time.Millisecond) // a few sweeps, which must not post a card either
	if n := h.cardsPosted(); n != 0 {
		t.Errorf("%d cards posted for a ref that does not exist", n)
	}
	if n := h.ci.builds(1); n != 0 {
		t.Errorf("%d builds for a ref that does not exist", n)
	}
}

func TestUnknownRefWithMarkupIsEscaped(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api no&pe")
	h.waitStored(1, release.Failed)
	if got := h.reply("Release #1 stopped"); !strings.Contains(got, "`no&amp;pe`") {
		t.Errorf("reply = %q", got)
	}
}

func TestGitHubAwayStopsTheRequestWithItsReason(t *testing.T) {
	h := newHarness(t, func(_ *config.Config, p *release.Ports) {
		p.SCM.(*fakeSCM).fail = fmt.Errorf("github unreachable at https://api.github.test/ after 4 tries: %w", release.ErrUnavailable)
	})
	h.do(dev, "deploy api feature-x")
	h.waitStored(1, release.Failed)
	h.reply("Release #1 stopped, nothing was deployed: could not resolve `feature-x` in `acme/api`: github unreachable at https://api.github.test/ after 4 tries")
	if n := h.cardsPosted(); n != 0 {
		t.Errorf("%d cards posted", n)
	}
}

func TestCardShowsTheResolvedCommit(t *testing.T) {
	h := newHarness(t)
	h.do(dev, "deploy api feature-x")
	card := h.cardOf(1, func(c release.Card) bool { return c.Release.Commit != "" })
	want := release.Release{Commit: sha("c"), CommitTitle: "Change ccc", CommitURL: "https://github.test/acme/api/commit/" + sha("c")}
	if r := card.Release; r.Commit != want.Commit || r.CommitTitle != want.CommitTitle || r.CommitURL != want.CommitURL {
		t.Errorf("card shows commit %q %q %q; want %q %q %q", r.Commit, r.CommitTitle, r.CommitURL, want.Commit, want.CommitTitle, want.CommitURL)
	}
}

func TestPromotionCarriesTheCommitTitle(t *testing.T) {
	h := newHarness(t)
	stagingRuns(h)
	h.do(dev, "promote api")
	r := h.waitState(2, release.AwaitingApproval)
	if r.Commit != sha("b") || r.CommitTitle != "Change bbb" || !strings.HasSuffix(r.CommitURL, sha("b")) {
		t.Errorf("promotion = %q %q %q", r.Commit, r.CommitTitle, r.CommitURL)
	}
}
