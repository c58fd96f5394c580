// Package store persists releases, approval votes, locks, ephemeral
// environments and the audit log, behind one interface with two drivers:
// SQLite (the embedded default) and PostgreSQL (for several replicas).
package store

import (
	"context"
	"time"

	"github.com/hoistbot/hoist/internal/release"
)

// Errors callers check with errors.Is; they are the domain's own, so that
// the release core can check them without importing this package.
var (
	// ErrNotFound: the release, lock or environment does not exist.
	ErrNotFound = release.ErrNotFound
	// ErrConflict: a compare-and-set lost (the release was not in the expected state).
	ErrConflict = release.ErrConflict
	// ErrLocked: the environment is already locked by someone else.
	ErrLocked = release.ErrLocked
)

// ReleaseFilter selects releases; see release.Filter.
type ReleaseFilter = release.Filter

// EventFilter selects audit events; see release.EventFilter.
type EventFilter = release.EventFilter

// Environment is an ephemeral environment; see release.Environment.
type Environment = release.Environment

// Store is everything Hoist keeps. Every mutating method records its audit
// event in the same transaction as the change it makes.
type Store interface {
	// CreateRelease inserts r in state requested, assigns its ID and audits
	// the request as actor r.RequestedBy.
	CreateRelease(ctx context.Context, r release.Release) (release.Release, error)
	GetRelease(ctx context.Context, id release.ID) (release.Release, error)
	ListReleases(ctx context.Context, f ReleaseFilter) ([]release.Release, error)
	// CountReleases counts the releases f selects, ignoring its Limit.
	CountReleases(ctx context.Context, f ReleaseFilter) (int, error)
	// TallyReleases counts the releases in each (state, environment) that
	// has any.
	TallyReleases(ctx context.Context) ([]ReleaseCount, error)
	// Transition moves a release from t.From to t.To if and only if it is in
	// t.From; otherwise it returns ErrConflict and changes nothing. t.Reason
	// becomes the release's StateReason.
	Transition(ctx context.Context, t release.Transition) (release.Release, error)
	// SetMessage records where the release's card is.
	SetMessage(ctx context.Context, id release.ID, channel, ts string) error
	// PutMessage records another message that shows the release, by role
	// ("approvals": the card's copy in an approvals channel); a second put
	// of the same role replaces the first.
	PutMessage(ctx context.Context, id release.ID, role string, ref release.MessageRef) error
	// Messages returns the release's other messages by role.
	Messages(ctx context.Context, id release.ID) (map[string]release.MessageRef, error)
	// SetCommit records the commit the release's ref resolved to: its full
	// SHA, title and link.
	SetCommit(ctx context.Context, id release.ID, c release.Commit, actor string) error
	// GetDeployment returns the release's deployment on the source host;
	// ErrNotFound when it has none.
	GetDeployment(ctx context.Context, id release.ID) (release.DeploymentRecord, error)
	// PutDeployment records the release's deployment and the last state
	// posted to it.
	PutDeployment(ctx context.Context, d release.DeploymentRecord) error

	// GetBuild returns what is known of the release's pipeline run; ErrNotFound before it was triggered.
	GetBuild(ctx context.Context, id release.ID) (release.Build, error)
	// PutBuild records the job, queue item, build number and URL as they
	// become known (the log offset moves only with AppendLog), auditing a
	// new queue item or build.
	PutBuild(ctx context.Context, b release.Build) error
	// AppendLog keeps the console bytes read from offset and moves the
	// build's log offset to next, if and only if it was at offset
	// (ErrConflict otherwise), so that no byte is kept twice.
	AppendLog(ctx context.Context, id release.ID, offset int64, data []byte, next int64) error
	// Log returns the console log kept so far.
	Log(ctx context.Context, id release.ID) ([]byte, error)

	// AcquireLease makes owner the one who drives release id until
	// now+ttl, if the release has no lease, an expired one, or one owner
	// already holds (a renewal). It reports whether owner holds it now.
	AcquireLease(ctx context.Context, id release.ID, owner string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives up owner's lease of release id, if owner holds it.
	ReleaseLease(ctx context.Context, id release.ID, owner string) error
	// TryLead makes this process the leader of those sharing the database,
	// if none is: nil when another process leads. On PostgreSQL a session
	// advisory lock holds it; an SQLite database has one process, which
	// always leads.
	TryLead(ctx context.Context) (*Leadership, error)

	// AddVote records a vote on a release awaiting approval; a second vote
	// by the same voter on the same release changes nothing and returns
	// added=false. A release in any other state takes no votes: ErrConflict.
	// Votes and transitions of one release are serialised, so no vote lands
	// after the release was decided.
	AddVote(ctx context.Context, v release.Vote) (added bool, err error)
	Votes(ctx context.Context, id release.ID) ([]release.Vote, error)

	// Lock takes the environment's lock; ErrLocked (with the holder
	// returned) when someone holds it already.
	Lock(ctx context.Context, l release.Lock) (release.Lock, error)
	// Unlock releases the environment's lock, returning what it was; ErrNotFound when unlocked.
	Unlock(ctx context.Context, env, actor string) (release.Lock, error)
	GetLock(ctx context.Context, env string) (release.Lock, error)
	ListLocks(ctx context.Context) ([]release.Lock, error)

	PutEnvironment(ctx context.Context, e Environment, actor string) error
	GetEnvironment(ctx context.Context, app, branch string) (Environment, error)
	ListEnvironments(ctx context.Context, app string) ([]Environment, error)
	DeleteEnvironment(ctx context.Context, app, branch, actor string) error

	// Audit appends an event that goes with no other change (a refusal, say).
	Audit(ctx context.Context, e release.Event) error
	Events(ctx context.Context, f EventFilter) ([]release.Event, error)

	Ping(ctx context.Context) error
	Close() error
}
