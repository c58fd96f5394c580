package metrics

import (
	"net/http"
	"path"
	"strconv"
	"time"
)

// slackKinds maps the paths of Slack's requests to their kind.
var slackKinds = map[string]string{
	"/slack/commands":     KindCommand,
	"/slack/interactions": KindInteraction,
	"/slack/events":       KindEvent,
}

// SlackRequests is middleware that counts Slack's requests to next, by
// kind and outcome, and times each from its arrival until next has
// written the acknowledgement. Requests to other paths pass untouched.
func (m *Metrics) SlackRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, ok := slackKinds[r.URL.Path]
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		m.ObserveAck(kind, outcomeOf(rec.status), time.Since(start))
	})
}

// ObserveAck records one acknowledged Slack request of a kind (KindCommand
// and so on), its outcome (OutcomeOK and so on) and how long it took from
// arrival to acknowledgement. Each transport calls it once per request.
func (m *Metrics) ObserveAck(kind, outcome string, d time.Duration) {
	m.slackRequests.WithLabelValues(kind, outcome).Inc()
	m.ackSeconds.WithLabelValues(kind).Observe(d.Seconds())
}

// outcomeOf names the outcome of a request answered with an HTTP status.
func outcomeOf(status int) string {
	switch {
	case status == 0 || status < 300:
		return OutcomeOK
	case status == http.StatusUnauthorized:
		return OutcomeUnauthorized
	case status == http.StatusForbidden:
		return OutcomeRefused
	case status == http.StatusRequestEntityTooLarge:
		return OutcomeTooLarge
	case status >= 500:
		return OutcomeError
	}
	return OutcomeBadRequest
}

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// SlackTransport returns a RoundTripper that sends through next (nil: the
// default transport) and counts every call to Slack's Web API by method
// and status code, and the 429s by method. Only a method's name is ever a
// label: any other URL (an upload URL, say) counts as "other".
func (m *Metrics) SlackTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		method := slackMethod(req.URL.Path)
		resp, err := next.RoundTrip(req)
		if err != nil {
			m.slackAPICalls.WithLabelValues(method, "error").Inc()
			return resp, err
		}
		m.slackAPICalls.WithLabelValues(method, strconv.Itoa(resp.StatusCode)).Inc()
		if resp.StatusCode == http.StatusTooManyRequests {
			m.slackRateLimited.WithLabelValues(method).Inc()
		}
		return resp, nil
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// slackMethod returns the Web API method a path calls ("chat.update" for
// /api/chat.update), or "other" when its last element is not shaped like
// one: letters in two or more dot-separated parts.
func slackMethod(p string) string {
	name := path.Base(p)
	dots, last := 0, byte('.')
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '.' && last != '.':
			dots++
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		default:
			return "other"
		}
		last = c
	}
	if dots == 0 || last == '.' {
		return "other"
	}
	return name
}
