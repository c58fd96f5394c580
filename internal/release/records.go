package release

import (
	"errors"
	"time"
)

// Errors the store returns, checked with errors.Is.
var (
	// ErrNotFound: the release, lock or environment does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a compare-and-set lost (the release was not in the expected state).
	ErrConflict = errors.New("conflict")
	// ErrLocked: the environment is already locked by someone else.
	ErrLocked = errors.New("locked")
)

// Filter selects releases; zero fields match everything.
type Filter struct {
	App    string
	Env    string
	States []State
	Limit  int // 0 = no limit
	// OldestFirst orders by ID ascending; by default the newest come first.
	OldestFirst bool
}

// EventFilter selects audit events; zero fields match everything.
type EventFilter struct {
	ReleaseID ID
	Env       string
	Limit     int // 0 = no limit; the newest Limit events, oldest first
}

// Environment is an ephemeral environment Hoist created for a branch.
type Environment struct {
	App         string
	Branch      string
	Env         string // the configured environment it belongs to
	Namespace   string
	Owner       string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	LastRelease ID
}

// Build is what Hoist remembers of a release's pipeline run, stored as it
// becomes known so that a restart follows the same build, from the same
// log offset, and never triggers a second one.
type Build struct {
	ReleaseID ID
	Job       string
	QueueID   int64 // zero until triggered
	Number    int64 // zero until the queue item became a build
	URL       string
	LogOffset int64 // bytes of the console log already read and kept
	// TriggeredAt is when Hoist last asked the build server to queue the
	// build; it is stored before asking, so that a drive resumed with no
	// queue ID knows the build may exist and looks for it (FindBuild)
	// rather than queueing a second one. Zero until Hoist first asked.
	TriggeredAt time.Time
}
