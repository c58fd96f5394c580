package jenkins

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hoistbot/hoist/internal/outbound"
	"github.com/hoistbot/hoist/internal/release"
)

// Errors the client's errors wrap, for errors.Is. Their texts are completed
// with advice on what to do.
var (
	// ErrUnauthorized means Jenkins rejected the user or token (401).
	ErrUnauthorized = errors.New("jenkins rejected Hoist's credentials (401)")
	// ErrForbidden means the user lacks a permission (403).
	ErrForbidden = errors.New("jenkins refused the request (403)")
	// ErrJobNotFound means there is no job at the path given (or the user
	// may not see it).
	ErrJobNotFound = errors.New("no such jenkins job")
	// ErrBuildNotFound means the job exists but the build does not (any
	// more: Jenkins discards old builds).
	ErrBuildNotFound = errors.New("no such jenkins build")
	// ErrUnreachable means Jenkins still failed in a transient way
	// (connection refused or reset, timeout, 5xx, 429) after every retry.
	// It is also release.ErrUnavailable: worth trying again later.
	ErrUnreachable error = unreachable{}
)

type unreachable struct{}

func (unreachable) Error() string { return "jenkins unreachable" }

// Is makes ErrUnreachable match release.ErrUnavailable too.
func (unreachable) Is(target error) bool { return target == release.ErrUnavailable }

// adviceError is an error whose text is written for people and that
// matches one of the sentinels above.
type adviceError struct {
	kind error
	msg  string
}

func (e *adviceError) Error() string { return e.msg }
func (e *adviceError) Unwrap() error { return e.kind }

// retryable decides whether a failed try is worth repeating: connection
// refused or reset, timeouts, 5xx and 429 are; other statuses and other
// errors (a bad certificate, an unknown host) are not. It is the one place
// that decides.
func retryable(r *response, err error) bool {
	if err != nil {
		return outbound.Transient(err)
	}
	if r == nil || r.status != http.StatusTooManyRequests && (r.status < 500 || r.status > 599) {
		return false
	}
	for _, text := range definitive5xx {
		if bytes.Contains(r.body, []byte(text)) {
			return false
		}
	}
	return true
}

// definitive5xx are texts of the 500s Jenkins answers with for a definite
// refusal rather than a passing failure.
var definitive5xx = []string{
	// Queue.doCancelItem, for an item that has already left the queue.
	cancelTooLate,
	// buildWithParameters on a job without parameters (before 2.523).
	"is not parameterized",
}

const cancelTooLate = "Could not cancel run for id"

// access is what a request needed, to say what to grant when Jenkins
// refuses it.
type access struct {
	job   string // the job concerned, when known
	may   string // what the user may not do, e.g. "trigger builds of a/b"
	perms string // what to give the user, e.g. "Job/Build and Job/Read"
	on    string // where; empty means the job
}

// statusError turns an answer that is neither what was expected nor worth
// retrying into an error that says what to do.
func (c *Client) statusError(r *response, a access) error {
	switch {
	case r.status == http.StatusUnauthorized:
		return fmt.Errorf("%w: check jenkins.user and jenkins.token", ErrUnauthorized)
	case r.status == http.StatusForbidden && c.user == "":
		return &adviceError{kind: ErrUnauthorized, msg: "jenkins requires authentication (403 for anonymous requests): set jenkins.user and jenkins.token"}
	case r.status == http.StatusForbidden:
		if strings.Contains(strings.ToLower(string(r.body)), "crumb") {
			return &adviceError{kind: ErrForbidden, msg: "jenkins refused the request for want of a valid crumb (403): " +
				"use an API token as jenkins.token, which needs none"}
		}
		on := a.on
		if on == "" {
			on = a.job
		}
		msg := fmt.Sprintf("jenkins user %q may not %s: give it %s", c.user, a.may, a.perms)
		if on != "" {
			msg += " on " + on
		}
		return &adviceError{kind: ErrForbidden, msg: msg}
	case r.status == http.StatusNotFound && a.job != "":
		return c.jobNotFound(a.job)
	case r.status >= 300 && r.status <= 399:
		return fmt.Errorf("jenkins redirected %s %s to %q (%s): check jenkins.url",
			r.method, r.path, r.header.Get("Location"), statusText(r.status))
	}
	return fmt.Errorf("jenkins answered %s to %s %s", statusText(r.status), r.method, r.path)
}

func (c *Client) jobNotFound(job string) error {
	msg := fmt.Sprintf("no jenkins job %q at %s: check jenkins_job in the environment's configuration", job, c.base)
	if c.user != "" {
		msg += fmt.Sprintf(", and that jenkins user %q has Job/Read on it", c.user)
	}
	return &adviceError{kind: ErrJobNotFound, msg: msg}
}
