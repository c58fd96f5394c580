// Package release is Hoist's domain: a release, its states and transitions,
// the service that takes requests and the workers that drive releases through
// their stages, and the ports (Chat, CI, SCM, Cluster) those stages need.
package release

import (
	"fmt"
	"strconv"
	"time"
)

// ID identifies a release. IDs are short numbers that people can type.
type ID int64

// String renders the ID as people type it.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// ParseID reads an ID as typed by a person, with or without a leading '#'.
func ParseID(s string) (ID, error) {
	if len(s) > 0 && s[0] == '#' {
		s = s[1:]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("release id %q is not a positive number", s)
	}
	return ID(n), nil
}

// State is where a release is in its life.
type State string

// The states of a release. The happy path is
// requested → awaiting_approval → approved → building → rolling_out → succeeded;
// denied, expired, cancelled and failed are the other exits.
const (
	Requested        State = "requested"
	AwaitingApproval State = "awaiting_approval"
	Approved         State = "approved"
	Building         State = "building"
	RollingOut       State = "rolling_out"
	Succeeded        State = "succeeded"
	Denied           State = "denied"
	Expired          State = "expired"
	Cancelled        State = "cancelled"
	Failed           State = "failed"
)

// AllStates lists every state, in life order.
func AllStates() []State {
	return []State{Requested, AwaitingApproval, Approved, Building, RollingOut, Succeeded, Denied, Expired, Cancelled, Failed}
}

// ActiveStates lists the states of a release that is not finished.
func ActiveStates() []State {
	return []State{Requested, AwaitingApproval, Approved, Building, RollingOut}
}

// Terminal reports whether a release in this state is finished.
func (s State) Terminal() bool {
	switch s {
	case Succeeded, Denied, Expired, Cancelled, Failed:
		return true
	}
	return false
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	for _, k := range AllStates() {
		if s == k {
			return true
		}
	}
	return false
}

// CanTransition reports whether the state machine allows from → to.
func CanTransition(from, to State) bool {
	if from.Terminal() {
		return false
	}
	switch to {
	case Cancelled, Failed:
		return true
	case AwaitingApproval:
		return from == Requested
	case Approved:
		return from == Requested || from == AwaitingApproval
	case Denied, Expired:
		return from == AwaitingApproval
	case Building:
		return from == Approved
	case RollingOut:
		return from == Building
	case Succeeded:
		return from == Approved || from == Building || from == RollingOut
	}
	return false
}

// Kind says what a release does.
type Kind string

// The kinds of release.
const (
	KindDeploy   Kind = "deploy"
	KindPromote  Kind = "promote"
	KindRollback Kind = "rollback"
	KindEnvUp    Kind = "env_up"
	KindEnvDown  Kind = "env_down"
)

// Release is one request to change what runs in an environment, from the
// moment it is asked for until it is finished.
type Release struct {
	ID      ID
	Kind    Kind
	App     string
	Env     string
	FromEnv string // promote: the environment whose release is promoted
	Ref     string // what the requester typed: branch, tag or SHA
	Commit  string // full commit SHA once resolved; empty until then
	// CommitTitle and CommitURL are the first line of the commit's message
	// and its web page, once known.
	CommitTitle string
	CommitURL   string
	Reason      string // why the requester asked, if they said
	RequestedBy string // Slack user ID
	Channel     string // Slack channel the request came from
	ResponseURL string // Slack response_url of the request, for replies to the requester
	State       State
	StateReason string // why it reached its current state (failure, denial), if known
	// MessageChannel and MessageTS locate the release's card, once posted.
	MessageChannel string
	MessageTS      string
	// ApprovalDeadline is when a release awaiting approval expires; zero when it needs none.
	ApprovalDeadline time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Vote is one admin's decision on a release awaiting approval.
type Vote struct {
	ReleaseID ID
	Voter     string // Slack user ID from the verified payload
	Approve   bool
	Reason    string
	At        time.Time
}

// Lock holds an environment against deploys.
type Lock struct {
	Env    string
	Owner  string // Slack user ID
	Reason string
	At     time.Time
}

// Event is one line of the append-only audit log.
type Event struct {
	ID        int64
	At        time.Time
	Actor     string // Slack user ID, or "hoist" for the bot itself
	Action    string // e.g. "request", "refuse", "transition", "vote", "lock", "unlock"
	ReleaseID ID     // zero when the event concerns no release
	Env       string
	Detail    string
}

// Transition is one compare-and-set state change of a release.
type Transition struct {
	ID     ID
	From   State
	To     State
	Actor  string
	Reason string
}

// ActorHoist is the audit actor for what Hoist does by itself.
const ActorHoist = "hoist"

// Tally counts the distinct voters who approved, and returns the first
// denial, if any.
func Tally(votes []Vote) (approvals int, denial *Vote) {
	seen := map[string]bool{}
	for i, v := range votes {
		if !v.Approve {
			if denial == nil {
				denial = &votes[i]
			}
			continue
		}
		if !seen[v.Voter] {
			seen[v.Voter] = true
			approvals++
		}
	}
	return approvals, denial
}
