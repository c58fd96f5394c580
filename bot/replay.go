package bot

import (
	"sync"
	"time"
)

// replayWindow is how long a signature stays valid: Slack's timestamps are
// accepted five minutes either side of now.
const replayWindow = 10 * time.Minute

// maxRemembered bounds the memory a flood of signed requests can take.
const maxRemembered = 100_000

// replayGuard refuses a signed request seen before: a signature is valid
// for minutes, and one captured in transit must not be able to click or
// command again. Slack itself never resends an interaction or a command
// with the same signature, and retries events with a new one.
type replayGuard struct {
	mu   sync.Mutex
	seen map[string]time.Time // signature → when it stops mattering
	now  func() time.Time
}

func newReplayGuard(now func() time.Time) *replayGuard {
	return &replayGuard{seen: map[string]time.Time{}, now: now}
}

// firstSight records signature and reports whether it is new.
func (g *replayGuard) firstSight(signature string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if until, ok := g.seen[signature]; ok && now.Before(until) {
		return false
	}
	if len(g.seen) >= maxRemembered {
		for sig, until := range g.seen {
			if !now.Before(until) {
				delete(g.seen, sig)
			}
		}
	}
	if len(g.seen) < maxRemembered {
		g.seen[signature] = now.Add(replayWindow)
	}
	return true
}
