package bot

import (
	"testing"
	"time"
)

func TestReplayGuard(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	g := newReplayGuard(func() time.Time { return now })
	if !g.firstSight("v0=a") {
		t.Fatal("a new signature was called a replay")
	}
	if g.firstSight("v0=a") {
		t.Fatal("a replayed signature was let through")
	}
	if !g.firstSight("v0=b") {
		t.Fatal("another signature was called a replay")
	}
	now = now.Add(replayWindow + time.Second)
	if !g.firstSight("v0=a") {
		t.Fatal("a signature is remembered past the window in which Slack's timestamp check would refuse it anyway")
	}
}
