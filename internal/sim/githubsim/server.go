// Package githubsim is a GitHub REST API on loopback, for tests, benchmarks
// and running Hoist locally without GitHub. It is stateful: repositories
// hold commits (with whole file trees), branches and tags, commit
// statuses, deployments and their statuses, and pull requests that merge
// for real with the merge, squash and rebase methods.
//
// It answers the paths Hoist uses, with the JSON shapes of GitHub's own
// documentation examples (see testdata/README.md) and GitHub's headers
// (X-RateLimit-*, X-GitHub-Request-Id). It behaves as GitHub does where
// Hoist depends on it:
//
//   - unknown refs: 422 "No commit found for SHA: …"; unknown
//     repositories, 404;
//   - deployments: auto_merge (on unless false) merges the default branch
//     into a ref branch behind it (202); required_contexts (every context
//     when left out) must have succeeded, or 409;
//   - statuses: auto_inactive marks earlier successful deployments of the
//     environment inactive (not transient or production ones);
//   - merges: the head's SHA must match (409), branch protection refuses
//     (405, GitHub's messages), conflicting changes refuse (405), and merge
//     methods the repository does not allow refuse (405);
//   - ref updates: fast-forward only unless forced, never on a protected
//     branch (422);
//   - rate limits: a primary limit per hour (403 with
//     X-RateLimit-Remaining: 0), and secondary limits and transient
//     failures on demand (Retry-After);
//   - errors: bodies {"message", "documentation_url", "status"}.
//
// With WithWebhook, deleting a branch and closing a pull request deliver
// GitHub's "delete" and "pull_request" events, signed with
// X-Hub-Signature-256.
//
// Every Server is independent and safe for concurrent use.
//
//	s := githubsim.New(githubsim.WithRepo("acme/api"))
//	defer s.Close()
//	s.AddBranch("acme/api", "latest", "master")
//	sha := s.Commit("acme/api", "latest", "Fix the checkout", map[string]string{"cart.go": "v2"})
package githubsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of a Server.
const (
	// DefaultToken is the token a Server accepts unless WithToken says
	// otherwise.
	DefaultToken = "ghp_simulatorToken0123456789abcdefABCDEF" //nolint:gosec // the simulator's own token, not a credential
	// DefaultRateLimit is how many requests an hour a token may make.
	DefaultRateLimit = 5000
	// DefaultBranch is the default branch of repositories WithRepo adds.
	DefaultBranch = "master"
	// Login is the user the token belongs to.
	Login = "hoist-bot"
)

// Protection is a branch protection rule: merges into the branch and
// direct updates of it are refused until it is met.
type Protection struct {
	// RequiredReviews refuses merges with GitHub's "At least N approving
	// review(s) is required" (pull requests here are never reviewed).
	RequiredReviews int
	// RequiredChecks are status contexts that must have succeeded on a
	// pull request's head before it merges.
	RequiredChecks []string
}

// Deployment is a deployment as the Server recorded it.
type Deployment struct {
	ID          int64
	SHA         string
	Ref         string
	Task        string
	Environment string
	Description string
	Payload     json.RawMessage
	// AutoMerge is what the request asked for (true when left out).
	AutoMerge bool
	// RequiredContexts is nil when the request left it out.
	RequiredContexts []string
	Transient        bool
	Production       bool
	Statuses         []DeploymentStatus
}

// DeploymentStatus is one status of a deployment, oldest first.
type DeploymentStatus struct {
	ID             int64
	State          string
	Description    string
	LogURL         string
	EnvironmentURL string
}

// PullRequest is a pull request as the Server holds it.
type PullRequest struct {
	Number int
	Title  string
	Body   string
	Head   string
	Base   string
	// State is "open" or "closed".
	State  string
	Merged bool
	// MergeMethod and MergeCommitSHA say how it was merged.
	MergeMethod    string
	MergeCommitSHA string
}

// Request is one API request the Server answered.
type Request struct {
	Method string
	Path   string
	Status int
}

type deployment struct {
	Deployment
	creator string
	created time.Time
}

type pull struct {
	PullRequest
	headSHA, baseSHA string
	created, closed  time.Time
}

type commitStatus struct {
	id          int64
	state       string
	context     string
	description string
	targetURL   string
	at          time.Time
}

// failure is an answer the Server gives instead of the next requests'.
type failure struct {
	status     int
	retryAfter time.Duration
	secondary  bool
}

// Server is a GitHub on loopback.
type Server struct {
	mu       sync.Mutex
	srv      *httptest.Server
	token    string
	now      func() time.Time
	repos    map[string]*repo // by lower-case full name
	nextID   int64
	limit    int
	used     int
	reset    time.Time
	failures []failure
	requests []Request
	hook     *webhook
	wg       sync.WaitGroup
}

// Option configures a Server.
type Option func(*Server)

// WithToken makes the Server accept token instead of DefaultToken.
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// WithRepo adds a repository "owner/name" whose default branch,
// DefaultBranch, holds one commit.
func WithRepo(fullName string) Option {
	return func(s *Server) { s.addRepo(fullName, DefaultBranch) }
}

// WithRateLimit sets how many requests an hour the token may make.
func WithRateLimit(perHour int) Option { return func(s *Server) { s.limit = perHour } }

// WithClock replaces the clock (rate-limit windows, timestamps).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New starts a Server on loopback.
func New(opts ...Option) *Server {
	s := &Server{token: DefaultToken, now: time.Now, repos: map[string]*repo{}, nextID: 1, limit: DefaultRateLimit}
	for _, o := range opts {
		o(s)
	}
	s.reset = s.now().Add(time.Hour).Truncate(time.Second)
	s.srv = httptest.NewServer(s.routes())
	return s
}

// URL is the API root, with a trailing slash, as github.base_url takes it.
func (s *Server) URL() string { return s.srv.URL + "/" }

// WebURL is the root of the pages the API links to (html_url).
func (s *Server) WebURL() string { return s.srv.URL + "/web/" }

// Close stops the Server, after the webhook deliveries in flight.
func (s *Server) Close() {
	s.srv.Close()
	s.wg.Wait()
}

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

// AddRepo adds a repository "owner/name" whose branch defaultBranch holds
// one commit, and returns that commit's SHA.
func (s *Server) AddRepo(fullName, defaultBranch string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addRepo(fullName, defaultBranch)
}

func (s *Server) addRepo(fullName, defaultBranch string) string {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" {
		panic(fmt.Sprintf("githubsim: repository %q is not owner/name", fullName))
	}
	r := newRepo(s.id(), owner, name)
	r.defaultBranch = defaultBranch
	c := r.commitOnto("", "Initial commit", Login, s.now(), map[string]string{"README.md": "# " + name + "\n"})
	r.branches[defaultBranch] = c.SHA
	s.repos[strings.ToLower(fullName)] = r
	return c.SHA
}

// repo returns a repository, panicking when it does not exist: test code
// asked for it.
func (s *Server) repo(fullName string) *repo {
	r, ok := s.repos[strings.ToLower(fullName)]
	if !ok {
		panic(fmt.Sprintf("githubsim: no repository %q", fullName))
	}
	return r
}

// Commit adds a commit on branch that changes files (an empty content
// deletes a path) and returns its SHA.
func (s *Server) Commit(fullName, branch, message string, files map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	head, ok := r.branches[branch]
	if !ok {
		panic(fmt.Sprintf("githubsim: %s has no branch %q", fullName, branch))
	}
	c := r.commitOnto(head, message, Login, s.now(), files)
	r.branches[branch] = c.SHA
	return c.SHA
}

// AddBranch creates branch at what from (a branch, tag or SHA) names.
func (s *Server) AddBranch(fullName, branch, from string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	c, ok := r.resolve(from)
	if !ok {
		panic(fmt.Sprintf("githubsim: %s has no %q", fullName, from))
	}
	r.branches[branch] = c.SHA
	return c.SHA
}

// SetBranch points branch at sha, creating it if needed (a push, forced
// or not).
func (s *Server) SetBranch(fullName, branch, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	if _, ok := r.commits[sha]; !ok {
		panic(fmt.Sprintf("githubsim: %s has no commit %s", fullName, sha))
	}
	r.branches[branch] = sha
}

// DeleteBranch deletes branch, and delivers a "delete" event to the
// webhook, if any.
func (s *Server) DeleteBranch(fullName, branch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	if _, ok := r.branches[branch]; !ok {
		return
	}
	delete(r.branches, branch)
	s.deliver("delete", deleteEvent(s, r, branch))
}

// Tag creates tag at sha.
func (s *Server) Tag(fullName, tag, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(fullName).tags[tag] = sha
}

// Branch returns the SHA branch points at.
func (s *Server) Branch(fullName, branch string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sha, ok := s.repo(fullName).branches[branch]
	return sha, ok
}

// CommitInfo returns a commit.
func (s *Server) CommitInfo(fullName, sha string) (Commit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.repo(fullName).commits[sha]
	if !ok {
		return Commit{}, false
	}
	return *c, true
}

// Contains reports whether branch contains commit sha.
func (s *Server) Contains(fullName, branch, sha string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	head, ok := r.branches[branch]
	return ok && r.contains(head, sha)
}

// Protect protects branch; a zero Protection removes the protection.
func (s *Server) Protect(fullName, branch string, p Protection) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	if p.RequiredReviews == 0 && len(p.RequiredChecks) == 0 {
		delete(r.protection, branch)
		return
	}
	r.protection[branch] = p
}

// AllowMergeMethods sets the merge methods the repository allows (all
// three by default).
func (s *Server) AllowMergeMethods(fullName string, methods ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repo(fullName).mergeMethods = slices.Clone(methods)
}

// SetStatus sets the commit status context of sha to state (error,
// failure, pending or success).
func (s *Server) SetStatus(fullName, sha, context, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	r.statuses[sha] = append(r.statuses[sha], commitStatus{id: s.id(), state: state, context: context, at: s.now()})
}

// Deployments returns the repository's deployments, oldest first.
func (s *Server) Deployments(fullName string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Deployment
	for _, d := range s.repo(fullName).deployments {
		c := d.Deployment
		c.Statuses = slices.Clone(d.Statuses)
		c.RequiredContexts = slices.Clone(d.RequiredContexts)
		out = append(out, c)
	}
	return out
}

// PullRequests returns the repository's pull requests, oldest first.
func (s *Server) PullRequests(fullName string) []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PullRequest
	for _, p := range s.repo(fullName).pulls {
		out = append(out, p.PullRequest)
	}
	return out
}

// ClosePullRequest closes a pull request without merging it, as a person
// would, and delivers a "pull_request" event to the webhook, if any.
func (s *Server) ClosePullRequest(fullName string, number int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repo(fullName)
	if number < 1 || number > len(r.pulls) {
		panic(fmt.Sprintf("githubsim: %s has no pull request #%d", fullName, number))
	}
	s.closePull(r, r.pulls[number-1])
}

// FailNext makes the next n API requests fail with status (a 5xx, or 429
// with a Retry-After of one second) before they do anything.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		f := failure{status: status}
		if status == http.StatusTooManyRequests {
			f.retryAfter = time.Second
		}
		s.failures = append(s.failures, f)
	}
}

// SecondaryLimitNext makes the next request hit GitHub's secondary rate
// limit: 403 with Retry-After.
func (s *Server) SecondaryLimitNext(retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{status: http.StatusForbidden, retryAfter: retryAfter, secondary: true})
}

// ExhaustRateLimit uses up the token's primary rate limit until d from now.
func (s *Server) ExhaustRateLimit(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.used = s.limit
	s.reset = s.now().Add(d)
}

// Requests returns the API requests answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// routes wraps every API route with authentication, the rate limit and
// the failures asked for.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.handle(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			s.mu.Lock()
			s.requests = append(s.requests, Request{Method: req.Method, Path: req.URL.Path, Status: rec.status})
			s.mu.Unlock()
		}()
		if strings.HasPrefix(req.URL.Path, "/web/") {
			http.Error(rec, "a web page of the simulator", http.StatusOK)
			return
		}
		if !s.admit(rec, req) {
			return
		}
		mux.ServeHTTP(rec, req)
	})
}

// admit checks the token, the failures asked for and the rate limit, and
// writes the headers every answer has. It answers and returns false when
// the request goes no further.
func (s *Server) admit(w http.ResponseWriter, req *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("SIM0:%04X:%06X", s.nextID%0xffff, len(s.requests)))
	auth := req.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		token, ok = strings.CutPrefix(auth, "token ")
	}
	switch {
	case auth == "":
		s.writeError(w, http.StatusUnauthorized, "Requires authentication", "https://docs.github.com/rest")
		return false
	case !ok || token != s.token:
		s.writeError(w, http.StatusUnauthorized, "Bad credentials", "https://docs.github.com/rest")
		return false
	}
	if len(s.failures) > 0 {
		f := s.failures[0]
		s.failures = s.failures[1:]
		if f.retryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int(f.retryAfter.Round(time.Second)/time.Second)))
		}
		s.rateHeaders(h)
		if f.secondary {
			s.writeError(w, f.status, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
				"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits")
			return false
		}
		s.writeError(w, f.status, http.StatusText(f.status), "https://docs.github.com/rest")
		return false
	}
	if !s.now().Before(s.reset) {
		s.used, s.reset = 0, s.now().Add(time.Hour).Truncate(time.Second)
	}
	if req.URL.Path != "/rate_limit" {
		if s.used >= s.limit {
			s.rateHeaders(h)
			s.writeError(w, http.StatusForbidden, fmt.Sprintf("API rate limit exceeded for user ID %d.", 1),
				"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits")
			return false
		}
		s.used++
	}
	s.rateHeaders(h)
	return true
}

func (s *Server) rateHeaders(h http.Header) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(s.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(s.limit-s.used, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(s.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// writeError answers with GitHub's error body.
func (s *Server) writeError(w http.ResponseWriter, status int, message, doc string) {
	writeJSON(w, status, map[string]any{"message": message, "documentation_url": doc, "status": strconv.Itoa(status)})
}

// writeErrors answers 422 (or status) with GitHub's validation errors.
func (s *Server) writeErrors(w http.ResponseWriter, status int, message, doc string, errs ...map[string]any) {
	writeJSON(w, status, map[string]any{"message": message, "errors": errs, "documentation_url": doc, "status": strconv.Itoa(status)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}
