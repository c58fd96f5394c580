package release

import (
	"context"
	"errors"
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

// BuildResult is how a pipeline run ended.
type BuildResult struct {
	OK      bool
	Summary string // e.g. "FAILURE" or "build #12 succeeded"
	URL     string // link to the build, when there is one
}

// CI is the port to the build server (Jenkins).
type CI interface {
	// Build runs the environment's pipeline for r and returns when it ends.
	// It must be resumable: called again for the same release after a
	// restart, it follows the build it started before instead of starting
	// another.
	Build(ctx context.Context, r Release) (BuildResult, error)
}

// Cluster is the port to the Kubernetes clusters.
type Cluster interface {
	// Rollout follows the rollout of r's app in r's environment until it
	// has succeeded (nil) or failed (an error saying why).
	Rollout(ctx context.Context, r Release) error
	// Teardown deletes the ephemeral environment r names.
	Teardown(ctx context.Context, r Release) error
}
