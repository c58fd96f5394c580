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
	// Respond sends an ephemeral reply to the requester through the
	// request's response URL.
	Respond(ctx context.Context, responseURL, text string) error
}
