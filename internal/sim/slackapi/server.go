// Package slackapi is a Slack Web API simulator on loopback, for tests and
// for running Hoist locally without a Slack workspace.
//
// It answers the handful of Web API methods Hoist uses, shaped like Slack's
// own answers ({"ok":true,...} or {"ok":false,"error":"..."}), keeps the
// messages it was sent (with their later updates), records every call, and
// lets a test inject failures and rate limits. It also speaks Socket Mode
// (socket.go). Point slack-go at it with
//
//	api := slack.New(slackapi.DefaultToken, slack.OptionAPIURL(srv.URL()))
//
// Every Server is independent: there is no shared state between servers.
package slackapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Defaults of a Server, which tests can compare against.
const (
	// DefaultToken is the bot token a Server accepts unless WithToken says otherwise.
	DefaultToken = "xoxb-hoist-sim-token" //nolint:gosec // the simulator's own token, not a credential
	// DefaultAppToken is the app-level token apps.connections.open accepts
	// unless WithAppToken says otherwise.
	DefaultAppToken = "xapp-hoist-sim-token" //nolint:gosec // the simulator's own token, not a credential
	// TeamID is the workspace's ID as auth.test reports it.
	TeamID = "T0HOIST00"
	// TeamURL is the workspace's URL; permalinks are under it.
	TeamURL = "https://example.slack.com/"
	// BotUserID is the bot's user ID; messages the bot posts carry it.
	BotUserID = "U0HOISTBOT"
	// BotID is the bot's bot ID.
	BotID = "B0HOISTBOT"
)

// Method names of the calls a Server records that are not Web API methods.
const (
	// MethodResponseURL names calls to a URL made by ResponseURL.
	MethodResponseURL = "response_url"
	// MethodUpload names file uploads to a URL from files.getUploadURLExternal.
	MethodUpload = "file_upload"
)

// Call is one request the Server received.
type Call struct {
	// Method is the Web API method ("chat.postMessage"), or MethodResponseURL
	// or MethodUpload.
	Method string
	// Params holds the form or query values (first value of each), or the
	// top-level fields of a JSON body: strings as they are, other values as
	// JSON text. The token is left out.
	Params map[string]string
	// Body is the request body as received, with the token replaced by
	// "REDACTED"; for MethodUpload, the file's content.
	Body []byte
	// Blocks is the "blocks" parameter when it was sent, else nil.
	Blocks json.RawMessage
	// Ref is the id given to ResponseURL for MethodResponseURL calls, the
	// file ID for MethodUpload calls, and the new message's ts for
	// chat.postMessage.
	Ref string
	// Status is the HTTP status the Server answered with.
	Status int
	// Error is the Slack error the Server answered with ("not_in_channel",
	// "ratelimited"), empty when the call succeeded.
	Error string
	// At is when the call arrived.
	At time.Time
}

// Message is the current state of a message posted through the Server.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string // empty for a top-level message
	User     string
	Text     string
	Blocks   json.RawMessage
	Metadata json.RawMessage
	// Edits counts the chat.update calls applied to the message.
	Edits int
}

// File is a file uploaded through files.getUploadURLExternal, the upload URL
// and files.completeUploadExternal.
type File struct {
	ID       string
	Name     string
	Title    string
	Length   int // as declared to files.getUploadURLExternal
	Content  []byte
	Uploaded bool // the content has been sent to the upload URL
	Complete bool // files.completeUploadExternal has been called for it
	Channel  string
	ThreadTS string
}

// Option configures a Server.
type Option func(*Server)

// WithToken sets the bot token the Server accepts. The default is DefaultToken.
func WithToken(token string) Option {
	return func(s *Server) { s.token = token }
}

// WithChannel adds a channel. A public channel the bot is not a member of
// answers not_in_channel until the bot joins it; a private one answers
// channel_not_found, as Slack does.
func WithChannel(id, name string, private, botIsMember bool) Option {
	return func(s *Server) {
		s.channels[id] = &channel{id: id, name: name, private: private, member: botIsMember}
	}
}

// WithUserGroup adds a user group (its ID, "S…") and its members.
func WithUserGroup(id string, members ...string) Option {
	return func(s *Server) { s.groups[id] = append([]string(nil), members...) }
}

// WithoutUserGroups makes the workspace a plan without user groups:
// usergroups.users.list answers paid_teams_only.
func WithoutUserGroups() Option {
	return func(s *Server) { s.noGroups = true }
}

// WithClock sets the clock that stamps recorded calls. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// WithRateLimit makes method answer HTTP 429, with a Retry-After, once it
// has been called perMinute times within the last 60 seconds (Slack's
// Tier 3, which chat.update belongs to, is about 50 a minute).
func WithRateLimit(method string, perMinute int) Option {
	return func(s *Server) { s.limits[method] = &rateLimit{perMinute: perMinute} }
}

// WithListener serves on l instead of a new listener on 127.0.0.1:0, e.g.
// for a demo on a fixed port. The Server closes l when it is closed.
func WithListener(l net.Listener) Option {
	return func(s *Server) { s.listener = l }
}

// Server is a Slack Web API simulator listening on loopback.
type Server struct {
	srv      *httptest.Server
	listener net.Listener
	token    string
	appToken string
	now      func() time.Time
	sockets  *sockets

	mu       sync.Mutex
	calls    []Call
	changed  chan struct{} // closed and replaced whenever a call is recorded
	subs     map[int]chan Call
	nextSub  int
	channels map[string]*channel
	messages map[msgKey]*Message
	order    []msgKey
	tsSeq    int64
	files    map[string]*File
	fileSeq  int
	groups   map[string][]string
	noGroups bool
	injected map[string][]injection
	limits   map[string]*rateLimit
}

// rateLimit answers 429 once a method has been called perMinute times in
// the last minute, as Slack's rate limit tiers do.
type rateLimit struct {
	perMinute int
	accepted  []time.Time
}

type channel struct {
	id, name                  string
	private, member, archived bool
}

type msgKey struct{ channel, ts string }

type injection struct {
	slackError  string
	rateLimited bool // answer HTTP 429 with a Retry-After of retryAfter seconds
	retryAfter  int
}

// New starts a Server on 127.0.0.1. Close it when done.
func New(opts ...Option) *Server {
	s := &Server{
		token:    DefaultToken,
		appToken: DefaultAppToken,
		now:      time.Now,
		sockets:  newSockets(),
		changed:  make(chan struct{}),
		subs:     make(map[int]chan Call),
		channels: make(map[string]*channel),
		messages: make(map[msgKey]*Message),
		files:    make(map[string]*File),
		groups:   make(map[string][]string),
		injected: make(map[string][]injection),
		limits:   make(map[string]*rateLimit),
	}
	for _, opt := range opts {
		opt(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("POST /upload/{file}", s.serveUpload)
	mux.HandleFunc("POST /response/{id}", s.serveResponseURL)
	mux.HandleFunc("GET /link/", s.serveSocket)
	s.srv = httptest.NewUnstartedServer(mux)
	if s.listener != nil {
		_ = s.srv.Listener.Close()
		s.srv.Listener = s.listener
	}
	s.srv.Start()
	return s
}

// URL returns the Web API base URL, ending in "/", for slack.OptionAPIURL.
func (s *Server) URL() string { return s.srv.URL + "/api/" }

// ResponseURL returns a URL on the Server that accepts what Slack's
// response_url accepts and records each POST as a MethodResponseURL call
// whose Ref is id.
func (s *Server) ResponseURL(id string) string { return s.srv.URL + "/response/" + id }

// Close shuts the Server down and ends every subscription.
func (s *Server) Close() {
	s.sockets.closeAll()
	s.srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.subs {
		close(ch)
		delete(s.subs, id)
	}
}

// FailNext makes the next call of method answer {"ok":false,"error":slackError}.
// Injected outcomes queue up in the order they were injected, and apply to
// calls that carry a valid token.
func (s *Server) FailNext(method, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injected[method] = append(s.injected[method], injection{slackError: slackError})
}

// RateLimitNext makes the next call of method answer HTTP 429 with a
// Retry-After header of retryAfter seconds, as Slack does. (Slack never
// says 0; the simulator allows it so that tests need not wait.)
func (s *Server) RateLimitNext(method string, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.injected[method] = append(s.injected[method], injection{slackError: "ratelimited", rateLimited: true, retryAfter: max(retryAfter, 0)})
}

// ArchiveChannel archives a channel: posting and joining answer is_archived.
func (s *Server) ArchiveChannel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.channels[id]; ok {
		ch.archived = true
	}
}

// SetUserGroup replaces the members of user group id, adding the group if
// it is new, as an admin editing the group in Slack would.
func (s *Server) SetUserGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = append([]string(nil), members...)
}

// IsMember reports whether the bot is a member of channel id.
func (s *Server) IsMember(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.channels[id]
	return ok && ch.member
}

// Calls returns the calls of method received so far, in order; all calls
// when method is "".
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsLocked(method)
}

func (s *Server) callsLocked(method string) []Call {
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitFor waits until at least n calls of method (any method when "") have
// arrived, successful or not, and returns them all. It returns an error when
// ctx ends first.
func (s *Server) WaitFor(ctx context.Context, method string, n int) ([]Call, error) {
	for {
		s.mu.Lock()
		calls := s.callsLocked(method)
		changed := s.changed
		s.mu.Unlock()
		if len(calls) >= n {
			return calls, nil
		}
		select {
		case <-ctx.Done():
			return calls, fmt.Errorf("wait for %d %q calls, got %d: %w", n, method, len(calls), ctx.Err())
		case <-changed:
		}
	}
}

// Subscribe returns a channel that receives every call recorded from now on,
// and a function that ends the subscription. A subscriber that falls more
// than 256 calls behind misses calls rather than slowing the Server down.
func (s *Server) Subscribe() (<-chan Call, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.nextSub
	s.nextSub++
	ch := make(chan Call, 256)
	s.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if c, ok := s.subs[id]; ok {
				close(c)
				delete(s.subs, id)
			}
		})
	}
}

// Messages returns the current state of every message posted, in the order
// they were posted, after any updates.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, *s.messages[k])
	}
	return out
}

// Message returns the current state of the message at channel and ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[msgKey{channel, ts}]
	if !ok {
		return Message{}, false
	}
	return *m, true
}

// Files returns every file announced with files.getUploadURLExternal, in order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]File, 0, len(s.files))
	for i := 1; i <= s.fileSeq; i++ {
		if f, ok := s.files[fileID(i)]; ok {
			out = append(out, *f)
		}
	}
	return out
}

// recordLocked appends c to the log and wakes waiters and subscribers. s.mu must be held.
func (s *Server) recordLocked(c Call) {
	c.At = s.now()
	s.calls = append(s.calls, c)
	close(s.changed)
	s.changed = make(chan struct{})
	for _, ch := range s.subs {
		select {
		case ch <- c:
		default:
		}
	}
}

// takeInjectionLocked pops the next injected outcome for method, if any.
func (s *Server) takeInjectionLocked(method string) (injection, bool) {
	q := s.injected[method]
	if len(q) == 0 {
		return injection{}, false
	}
	s.injected[method] = q[1:]
	return q[0], true
}

func fileID(n int) string { return fmt.Sprintf("F0SIM%05d", n) }

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
