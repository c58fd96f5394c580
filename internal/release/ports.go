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

// BuildRequest is one pipeline run to queue: the job's path ("a/b" is
// job b in folder a) and its parameters.
type BuildRequest struct {
	Job    string
	Params map[string]string
}

// ParamReleaseID is the build parameter that carries the release's ID:
// every build Hoist queues has it, so that the build of a release can be
// found again (Pipeline.FindBuild).
const ParamReleaseID = "RELEASE_ID"

// FoundBuild is a build the build server already has for a release.
type FoundBuild struct {
	// QueueID is its queue item; zero when the build server does not say.
	QueueID int64
	// Number and URL are set once the build has started.
	Number int64
	URL    string
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
	// FindBuild looks for a build of job queued for release id (its
	// ParamReleaseID parameter), still in the queue or started; ok is false
	// when there is none. Hoist asks before triggering a build it may have
	// triggered already, and never triggers when this fails.
	FindBuild(ctx context.Context, job string, id ID) (b FoundBuild, ok bool, err error)
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

// ErrNotManaged means a namespace exists but Hoist did not create it (it
// lacks the managed-by label): Hoist never changes or deletes it.
var ErrNotManaged = errors.New("namespace not managed by hoist")

// Namespace is an ephemeral environment's namespace as Hoist labels and
// annotates it.
type Namespace struct {
	Cluster string
	Name    string
	App     string
	// Branch is the branch as a DNS label (config.Slug).
	Branch    string
	Owner     string // Slack user ID
	ExpiresAt time.Time
	Release   ID
}

// RolloutTarget is the Deployment whose rollout a release follows.
type RolloutTarget struct {
	Cluster    string
	Namespace  string
	Deployment string
}

// RolloutProgress is one observation of a Deployment's rollout.
type RolloutProgress struct {
	Desired   int32
	Updated   int32
	Available int32
	// Old counts replicas of earlier revisions still running.
	Old int32
	// Stuck names new pods that cannot start, and why
	// ("api-7c9f-x2: CrashLoopBackOff: back-off restarting failed container").
	Stuck []string
}

// ErrNoCluster is wrapped by the errors of a cluster Hoist cannot connect
// to at all (its configuration could not be loaded): Hoist goes on without
// it, saying so, as when no cluster is configured.
var ErrNoCluster = errors.New("not connected")

// ErrRolloutFailed is wrapped by Rollout's error when the rollout itself
// failed (progress deadline exceeded, pods that cannot start), as opposed
// to Hoist failing to follow it.
var ErrRolloutFailed = errors.New("rollout failed")

// Cluster is the port to the Kubernetes clusters, each known by its name in
// the configuration.
type Cluster interface {
	// EnsureNamespace creates the namespace, or updates the labels and
	// annotations of one Hoist manages. It returns ErrNotManaged (wrapped)
	// when a namespace of that name exists that Hoist does not manage.
	EnsureNamespace(ctx context.Context, ns Namespace) error
	// DeleteNamespace deletes a namespace Hoist manages; nil when it is
	// already gone, ErrNotManaged (wrapped) when Hoist does not manage it.
	DeleteNamespace(ctx context.Context, cluster, name string) error
	// ListNamespaces returns the namespaces Hoist manages in a cluster.
	ListNamespaces(ctx context.Context, cluster string) ([]Namespace, error)
	// Rollout follows the rollout of a Deployment, with the semantics of
	// `kubectl rollout status`, until it has completed (nil) or failed
	// (ErrRolloutFailed, wrapped with the reason), calling progress at
	// every change it sees. It watches rather than polls.
	Rollout(ctx context.Context, t RolloutTarget, progress func(RolloutProgress)) error
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

// RolloutView is what the live rollout message in a release's thread shows.
type RolloutView struct {
	Release    ID
	Cluster    string
	Namespace  string
	Deployment string
	Progress   RolloutProgress
	// Seen is false until the Deployment has been observed at all.
	Seen bool
	// Started is when following began; Now the moment the view describes.
	Started time.Time
	Now     time.Time
	// Result is empty while the rollout runs; "succeeded" or "failed" once
	// it has ended, with Reason saying why it failed.
	Result string
	Reason string
}

// RolloutChat shows a rollout in Slack as it progresses.
type RolloutChat interface {
	// PostRollout posts the live rollout message in the card's thread.
	PostRollout(ctx context.Context, card MessageRef, v RolloutView) (MessageRef, error)
	// UpdateRollout schedules a refresh of the live rollout message within
	// the workspace's update budget; a final view (Result set) is never
	// dropped.
	UpdateRollout(ctx context.Context, ref MessageRef, v RolloutView) error
}
