package release

import (
	"context"
	"errors"
	"time"
)

// MessageRef locates a Slack message: its channel and timestamp.
type MessageRef struct {
	Channel string
	TS      string
}

// Card is everything a release's top-level message shows.
type Card struct {
	Release           Release
	Votes             []Vote
	RequiredApprovals int
	// Note is a line of explanation under the card, e.g. why a release
	// stopped where it did. Empty for none.
	Note string
}

// ErrCannotPost means Hoist cannot post in a channel (a private channel it
// was not invited to, an archived one). The error text tells people what to
// do about it.
var ErrCannotPost = errors.New("cannot post in channel")

// Chat is the port through which everything the user sees is shown.
type Chat interface {
	// PostCard posts the release's card as a new top-level message in
	// channel, joining a public channel first if needed. It returns
	// ErrCannotPost (wrapped, with advice) when that is impossible.
	PostCard(ctx context.Context, channel string, c Card) (MessageRef, error)
	// UpdateCard replaces the card at ref.
	UpdateCard(ctx context.Context, ref MessageRef, c Card) error
	// Announce posts a one-line notice about a release in channel, linking
	// to the card at ref.
	Announce(ctx context.Context, channel, text string, card MessageRef) error
	// PostThread posts text in the card's thread.
	PostThread(ctx context.Context, card MessageRef, text string) error
	// Permalink returns a link to the message at ref.
	Permalink(ctx context.Context, ref MessageRef) (string, error)
	// Respond sends an ephemeral reply to the requester through the
	// request's response URL.
	Respond(ctx context.Context, responseURL, text string) error
}

// SCM is the port to the source host (GitHub).
type SCM interface {
	// ResolveCommit returns the full commit SHA that ref names in repo.
	ResolveCommit(ctx context.Context, repo, ref string) (string, error)
}

// BuildRequest is one pipeline run to queue: the job's path ("a/b" is
// job b in folder a) and its parameters.
type BuildRequest struct {
	Job    string
	Params map[string]string
}

// BuildStatus is what the build server says of a running or finished build.
type BuildStatus struct {
	Building bool
	// Result is SUCCESS, FAILURE, UNSTABLE, ABORTED or NOT_BUILT once the
	// build has ended; empty while it runs.
	Result string
	URL    string
	// Started is when the build started.
	Started time.Time
	// Estimated is how long the build server expects it to take; negative
	// when it has no estimate (a job's first build).
	Estimated time.Duration
}

// LogChunk is the part of a build's console log from an offset on.
type LogChunk struct {
	Data []byte
	// Next is the offset to read from next time (Jenkins' X-Text-Size).
	Next int64
	// More is whether the log may still grow (Jenkins' X-More-Data).
	More bool
}

// ErrUnavailable is wrapped by errors of an outside system that is down
// for now (unreachable, 5xx after retries): a stage that has already
// started waits and tries again later instead of failing the release.
var ErrUnavailable = errors.New("temporarily unavailable")

// ErrNotBuilt means a queue item ended without a build: cancelled in the
// queue, or gone. The wrapped text says why.
var ErrNotBuilt = errors.New("queue item ended without a build")

// Pipeline is the port to the build server (Jenkins) for the streaming
// build stage: each call is one step that can be resumed from what the
// store remembers (queue item, build number, log offset). Implementations
// retry transient failures themselves, with capped backoff, and return
// errors that say what to do about the rest.
type Pipeline interface {
	// Trigger queues a build and returns its queue item ID.
	Trigger(ctx context.Context, req BuildRequest) (queueID int64, err error)
	// WaitForBuild follows a queue item until it has become a build,
	// returning the build's number and URL, or ErrNotBuilt (wrapped).
	WaitForBuild(ctx context.Context, job string, queueID int64) (number int64, url string, err error)
	Status(ctx context.Context, job string, number int64) (BuildStatus, error)
	// ReadLog reads the console log from offset on, never the whole log again.
	ReadLog(ctx context.Context, job string, number int64, offset int64) (LogChunk, error)
	// CancelQueued cancels a queue item that has not become a build.
	CancelQueued(ctx context.Context, queueID int64) error
	// Stop aborts a running build.
	Stop(ctx context.Context, job string, number int64) error
}

// Cluster is the port to the Kubernetes clusters.
type Cluster interface {
	// Rollout follows the rollout of r's app in r's environment until it
	// has succeeded (nil) or failed (an error saying why).
	Rollout(ctx context.Context, r Release) error
	// Teardown deletes the ephemeral environment r names.
	Teardown(ctx context.Context, r Release) error
}

// BuildView is what the live build message in a release's thread shows.
type BuildView struct {
	Release ID
	Job     string
	Number  int64
	URL     string
	// Tail is the last lines of the console log, oldest first (at most 25).
	Tail []string
	// Started is when the build started; Estimated how long it should take,
	// negative when unknown (then only the elapsed time is shown).
	Started   time.Time
	Estimated time.Duration
	// Now is the moment the view describes.
	Now time.Time
	// Result is empty while the build runs; SUCCESS, FAILURE, UNSTABLE or
	// ABORTED once it has ended.
	Result string
}

// BuildChat shows a build in Slack as it runs.
type BuildChat interface {
	// PostBuild posts the live build message in the card's thread.
	PostBuild(ctx context.Context, card MessageRef, v BuildView) (MessageRef, error)
	// UpdateBuild schedules a refresh of the live build message and returns
	// without waiting for Slack. Refreshes of one message are coalesced,
	// all messages share the workspace's update budget fairly, and a final
	// view (Result set) is never dropped.
	UpdateBuild(ctx context.Context, ref MessageRef, v BuildView) error
	// UploadLog uploads a build's whole log, already redacted, as a file in
	// the card's thread.
	UploadLog(ctx context.Context, card MessageRef, name string, log []byte) error
}
