package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/hoistbot/hoist/internal/outbound"
	"github.com/hoistbot/hoist/internal/release"
)

// Errors the client's errors wrap, for errors.Is. Their texts are completed
// with advice on what to do.
var (
	// ErrUnauthorized means GitHub rejected the token (401).
	ErrUnauthorized = errors.New("github rejected the token (401)")
	// ErrForbidden means the token lacks a permission (403).
	ErrForbidden = errors.New("github refused the request (403)")
	// ErrRepoNotFound means GitHub has no such repository, or the token
	// cannot see it (GitHub answers 404 for both).
	ErrRepoNotFound = errors.New("no such github repository")
	// ErrRateLimited means GitHub's rate limit is used up for longer than
	// a call may wait. It is also release.ErrUnavailable.
	ErrRateLimited error = unavailable("github rate limit used up")
	// ErrUnreachable means GitHub still failed in a transient way
	// (connection refused or reset, timeout, 5xx, 429) after every retry.
	// It is also release.ErrUnavailable.
	ErrUnreachable error = unavailable("github unreachable")
)

// unavailable is an error of GitHub being away for now.
type unavailable string

func (u unavailable) Error() string { return string(u) }

// Is makes an unavailable error match release.ErrUnavailable too.
func (unavailable) Is(target error) bool { return target == release.ErrUnavailable }

// adviceError is an error whose text is written for people and that
// matches one of the sentinels above.
type adviceError struct {
	kind error
	msg  string
}

func (e *adviceError) Error() string { return e.msg }
func (e *adviceError) Unwrap() error { return e.kind }

// statusError is an answer of GitHub that is neither a success nor worth
// retrying: its status and GitHub's message.
type statusError struct {
	status  int
	message string
}

func (e *statusError) Error() string { return fmt.Sprintf("%s (%d)", e.message, e.status) }

// statusOf returns the HTTP status of a statusError in err's chain, or 0.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	return 0
}

// op describes a call for its errors: what was being done, on which
// repository, and which permission of a fine-grained token it needs.
type op struct {
	doing string
	repo  string
	perm  string
}

// call runs fn until it succeeds, fails in a way not worth retrying, the
// tries are spent or ctx ends. It waits for GitHub's rate limit to reset
// when that is within the client's MaxRateLimitWait.
func (c *Client) call(ctx context.Context, o op, fn func(context.Context) (*gh.Response, error)) error {
	p := c.retry
	for try := 1; ; try++ {
		resp, err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", o.doing, ctx.Err())
		}
		wait, retry, giveUp := c.classify(resp, err, try)
		switch {
		case giveUp != nil:
			return fmt.Errorf("%s: %w", o.doing, giveUp)
		case !retry:
			return c.explain(o, err)
		case try >= p.Attempts:
			return fmt.Errorf("%s: %w at %s after %d tries: %s", o.doing, ErrUnreachable, c.base, try, c.secrets.Redact(causeText(err)))
		}
		c.log.DebugContext(ctx, "github request failed; retrying", "doing", o.doing, "try", try, "tries", p.Attempts,
			"wait", wait, "cause", c.secrets.Redact(causeText(err)))
		if serr := p.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("%s: stop retrying github after %d tries: %w (last failure: %s)", o.doing, try, serr, c.secrets.Redact(causeText(err)))
		}
	}
}

// classify decides what to do after a failed try: wait and retry, give
// up with an error (a rate limit that lasts too long), or neither (the
// failure is explained by explain). It is the one place that decides.
func (c *Client) classify(resp *gh.Response, err error, try int) (wait time.Duration, retry bool, giveUp error) {
	var primary *gh.RateLimitError
	if errors.As(err, &primary) {
		reset := primary.Rate.Reset.Time
		wait = time.Until(reset) + time.Second
		if wait > c.maxRate {
			return 0, false, &adviceError{kind: ErrRateLimited, msg: fmt.Sprintf(
				"GitHub's rate limit for github.token (%d requests an hour) is used up until %s; Hoist tries again then",
				primary.Rate.Limit, reset.UTC().Format("15:04 UTC"))}
		}
		return max(wait, 0), true, nil
	}
	var secondary *gh.AbuseRateLimitError
	if errors.As(err, &secondary) {
		wait = c.retry.Backoff(try, 0)
		if secondary.RetryAfter != nil {
			wait = max(*secondary.RetryAfter, time.Second)
		}
		if wait > c.maxRate {
			return 0, false, &adviceError{kind: ErrRateLimited, msg: fmt.Sprintf(
				"GitHub's secondary rate limit asks Hoist to wait %s; Hoist tries again later", wait.Round(time.Second))}
		}
		return wait, true, nil
	}
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		s := er.Response.StatusCode
		if s == http.StatusTooManyRequests || s >= 500 && s <= 599 {
			return c.retry.Backoff(try, outbound.RetryAfter(er.Response.Header)), true, nil
		}
		return 0, false, nil
	}
	if outbound.Transient(err) {
		return c.retry.Backoff(try, 0), true, nil
	}
	return 0, false, nil
}

// explain turns a failure not worth retrying into an error that says what
// to do: 401 and 403 name the token, and any other answer keeps GitHub's
// status and message (a statusError) for the caller to interpret.
func (c *Client) explain(o op, err error) error {
	var er *gh.ErrorResponse
	var tfa *gh.TwoFactorAuthError
	switch {
	case errors.As(err, &tfa):
		return &adviceError{kind: ErrUnauthorized, msg: "GitHub asks for a one-time password (401): github.token must be a token, not a password"}
	case !errors.As(err, &er) || er.Response == nil:
		return fmt.Errorf("%s: %s", o.doing, c.secrets.Redact(err.Error()))
	}
	msg := githubMessage(er)
	switch er.Response.StatusCode {
	case http.StatusUnauthorized:
		return &adviceError{kind: ErrUnauthorized, msg: fmt.Sprintf("GitHub rejected github.token (401 %s): check that it is valid and has not expired", msg)}
	case http.StatusForbidden:
		text := fmt.Sprintf("GitHub refused to %s (403 %s)", o.doing, msg)
		if o.perm != "" {
			text += fmt.Sprintf(": give github.token %s", o.perm)
			if o.repo != "" {
				text += " on " + o.repo
			}
		}
		return &adviceError{kind: ErrForbidden, msg: text}
	}
	return fmt.Errorf("%s: %w", o.doing, &statusError{status: er.Response.StatusCode, message: msg})
}

// githubMessage is GitHub's message with the messages of its errors, as
// GitHub's error bodies give them: {"message": …, "errors": [{"message": …}]}.
func githubMessage(er *gh.ErrorResponse) string {
	parts := []string{strings.TrimSpace(er.Message)}
	for _, e := range er.Errors {
		if m := strings.TrimSpace(e.Message); m != "" {
			parts = append(parts, m)
		} else if e.Code != "" {
			parts = append(parts, strings.TrimSpace(e.Field+" "+e.Code))
		}
	}
	msg := strings.Join(parts, ": ")
	if msg == "" {
		msg = http.StatusText(er.Response.StatusCode)
	}
	return msg
}

// causeText describes a failed try without go-github's request line.
func causeText(err error) string {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return fmt.Sprintf("GitHub answered %d %s", er.Response.StatusCode, githubMessage(er))
	}
	var primary *gh.RateLimitError
	if errors.As(err, &primary) {
		return "GitHub's rate limit is used up: " + primary.Message
	}
	var secondary *gh.AbuseRateLimitError
	if errors.As(err, &secondary) {
		return "GitHub's secondary rate limit: " + secondary.Message
	}
	return err.Error()
}
