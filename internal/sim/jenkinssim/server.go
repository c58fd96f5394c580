// Package jenkinssim is a Jenkins simulator on loopback that speaks Jenkins'
// REST API, for tests, benchmarks and running Hoist locally without a Jenkins.
//
// It serves the paths, JSON shapes (with their _class values) and headers of
// a Jenkins 2.479 controller running Pipeline jobs: the root and job
// api/json, buildWithParameters and build (201 Created with a Location
// header naming the queue item), the queue item lifecycle
// (Queue$WaitingItem, Queue$BuildableItem, Queue$LeftItem, cancelled items,
// left items forgotten after five minutes), the queue's api/json with each
// item's parameters, WorkflowRun api/json, the progressive and whole console
// text, stop, and queue cancelItem. A `tree` query parameter prunes any JSON
// answer as Jenkins' does, and names fields of a job's builds beyond number
// and url (builds[queueId,actions[parameters[name,value]]]). Shapes were
// checked against payloads captured from real Jenkins instances; see
// testdata/README.md.
//
// Like a Jenkins behind a Kubernetes service, the simulator's configured
// root URL (RootURL, by default http://jenkins.internal.example:8080/)
// differs from the address it is reached at (URL): every "url" field in the
// JSON is built from the root URL, so a client must not follow them. Headers
// that Jenkins builds from the request instead (the Location after a
// trigger, redirects) use the request's Host, as Jenkins does.
//
// Builds run on their own, computed from the clock: a triggered item waits
// in the queue for Job.QueueWait (the first half in the quiet period, the
// second half buildable), then becomes build N of its job, prints Job.Lines
// lines spread evenly over Job.Duration, and ends with Job.Result and a
// "Finished: RESULT" line. No goroutine runs per build, so Close has nothing
// to wait for but the HTTP server.
//
// Every Server is independent: there is no shared state between servers, and
// all methods are safe for concurrent use.
//
// Differences from Jenkins that a client could notice: identical triggers are
// never merged into one queue item; no request needs a crumb (as with API
// token auth); there are no agents, so items never block.
//
// gojenkins v1.2.0 against this Server (and Jenkins): Job.GetBuild fails
// unless RootURL equals URL, because it splices the job's "url" field into
// the request; Job.InvokeSimple returns 0 while the job has a queued item;
// Task.Cancel reports false on Jenkins' 204; Build.Stop returns a JSON
// decode error after following the 302 to the build's HTML page, and claims
// success when Jenkins is unreachable; Task.Cancel panics when Jenkins is
// unreachable. gojenkins_test.go pins these down.
//
//	s := jenkinssim.New(jenkinssim.WithJob("deploy/app", jenkinssim.Job{Lines: 50}))
//	defer s.Close()
//	j := gojenkins.CreateJenkins(nil, s.URL(), jenkinssim.DefaultUser, jenkinssim.DefaultToken)
package jenkinssim

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a Server, which tests can compare against.
const (
	// Version is the Jenkins version the Server announces in the X-Jenkins
	// header of every response.
	Version = "2.479.3"
	// DefaultUser is the user a Server accepts unless WithCredentials says
	// otherwise. Builds it starts say "Started by user hoist".
	DefaultUser = "hoist"
	// DefaultToken is the API token a Server accepts unless WithCredentials
	// says otherwise.
	DefaultToken = "jenkins-api-token" //nolint:gosec // the simulator's own token, not a credential
	// DefaultRootURL is the root URL Jenkins is configured with (Manage
	// Jenkins > System > Jenkins URL) unless WithRootURL says otherwise. It
	// does not resolve: it stands for an in-cluster service name.
	DefaultRootURL = "http://jenkins.internal.example:8080/"
	// DefaultQueueRetention is how long Jenkins remembers an item that left
	// the queue (Queue.leftItems expires five minutes after the item left).
	DefaultQueueRetention = 5 * time.Minute
	// DefaultFirstQueueID is the ID of the first queue item. It is far from 1
	// so that a queue ID mistaken for a build number (or the reverse) shows.
	DefaultFirstQueueID int64 = 601
	// DefaultLines is the number of console lines a build prints when
	// Job.Lines is 0.
	DefaultLines = 20
	// DefaultDuration is how long a build runs when Job.Duration is 0.
	DefaultDuration = 2 * time.Second
	// DefaultQueueWait is how long an item waits in the queue when
	// Job.QueueWait is 0.
	DefaultQueueWait = 100 * time.Millisecond
)

// Build results, as Jenkins spells them.
const (
	ResultSuccess  = "SUCCESS"
	ResultUnstable = "UNSTABLE"
	ResultFailure  = "FAILURE"
	ResultAborted  = "ABORTED"
)

// Values of the "_class" field of the payloads the Server answers with.
const (
	ClassHudson        = "hudson.model.Hudson"
	ClassWorkflowJob   = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
	ClassWorkflowRun   = "org.jenkinsci.plugins.workflow.job.WorkflowRun"
	ClassFolder        = "com.cloudbees.hudson.plugins.folder.Folder"
	ClassQueue         = "hudson.model.Queue"
	ClassWaitingItem   = "hudson.model.Queue$WaitingItem"
	ClassBuildableItem = "hudson.model.Queue$BuildableItem"
	ClassLeftItem      = "hudson.model.Queue$LeftItem"
	ClassCrumbIssuer   = "hudson.security.csrf.DefaultCrumbIssuer"
)

// Job configures a Pipeline job. The zero value is a job that prints
// DefaultLines lines over DefaultDuration and succeeds.
type Job struct {
	// Lines is the number of console lines a build prints (default 20),
	// before the closing "Finished: RESULT" line.
	Lines int
	// Duration is how long a build runs (default 2s); lines are spread
	// evenly over it, the first at the start.
	Duration time.Duration
	// Result is how builds end: ResultSuccess (default), ResultFailure,
	// ResultUnstable or ResultAborted.
	Result string
	// QueueWait is how long an item spends in the queue before it becomes a
	// build (default 100ms; negative means no wait): the first half in the
	// quiet period (Queue$WaitingItem), the rest buildable
	// (Queue$BuildableItem).
	QueueWait time.Duration
	// Estimated is the estimatedDuration the JSON reports. 0 means compute
	// it like Jenkins' Job.getEstimatedDuration: the average duration of up
	// to three recent finished builds, successful ones first (so the last
	// build's duration when all builds take Duration), and -1 while the job
	// has no finished build. Negative means always -1.
	Estimated time.Duration
	// LineText, when set, gives the text of console line `line` (from 0) of
	// build number `build`, without the newline. It is called with the
	// Server's lock held and must not call the Server. By default builds
	// print pipeline-like lines ("[Pipeline] stage", "+ make build", …)
	// that mention the build's parameters.
	LineText func(build, line int) string
	// Params are the job's parameter definitions. nil means
	// DefaultParams(); a non-nil empty slice makes the job unparameterized.
	// As in Jenkins, a trigger's values for parameters the job does not
	// define are dropped, and missing ones take the default.
	Params []Param
	// OnStart, when set, is called in its own goroutine with the build's
	// parameters when a build starts: the pipeline's deploy step, for tests
	// and the demo that apply what the build would (a Deployment's new
	// image, say).
	OnStart func(params map[string]string)
}

// Param is a parameter definition of a job.
type Param struct {
	// Name is the parameter's name.
	Name string
	// Default is the default value; for a boolean parameter "true" or
	// anything else (false).
	Default string
	// Description is shown in the job's JSON.
	Description string
	// Boolean makes it a BooleanParameterDefinition, whose values are JSON
	// booleans in the payloads, instead of a StringParameterDefinition.
	Boolean bool
}

// DefaultParams returns the parameters Hoist's release pipelines take, all
// strings: APP, REF, COMMIT, ENVIRONMENT, NAMESPACE, RELEASE_ID and
// REQUESTED_BY.
func DefaultParams() []Param {
	return []Param{
		{Name: "APP", Description: "Application to release"},
		{Name: "REF", Default: "main", Description: "Git ref to build"},
		{Name: "COMMIT", Description: "Commit SHA the ref resolved to"},
		{Name: "ENVIRONMENT", Default: "staging", Description: "Target environment"},
		{Name: "NAMESPACE", Default: "default", Description: "Kubernetes namespace"},
		{Name: "RELEASE_ID", Description: "Hoist release ID"},
		{Name: "REQUESTED_BY", Description: "Who asked for the release"},
	}
}

// Build is the state of a build, as the Server sees it now.
type Build struct {
	// Number is the build number, from 1 in each job.
	Number int
	// QueueID is the ID of the queue item the build came from.
	QueueID int64
	// Params are the build's parameter values (booleans as "true"/"false").
	Params map[string]string
	// Result is empty while the build runs.
	Result string
	// Building is true until the build ends.
	Building bool
	// LogBytes is the size of the console log so far.
	LogBytes int
	// Started is when the build started; its console lines are written
	// evenly over the job's Duration from then on.
	Started time.Time
}

// QueueItem is the state of a queue item, as the Server sees it now.
type QueueItem struct {
	// ID is the queue item's ID.
	ID int64
	// Job is the job's path ("folder/name").
	Job string
	// Params are the item's parameter values (booleans as "true"/"false").
	Params map[string]string
	// Cancelled is true once the item was cancelled before it started.
	Cancelled bool
	// BuildNumber is the number of the build it became, 0 until then.
	BuildNumber int
	// Why is the queue's reason for the wait ("In the quiet period. Expires
	// in 42 ms", "Waiting for next available executor"); empty once the item
	// left the queue.
	Why string
}

// Option configures a Server.
type Option func(*Server)

// WithCredentials sets the user and API token every request must present
// with HTTP basic auth. The default is DefaultUser and DefaultToken. As in
// Jenkins, a request without credentials gets 403 "Authentication required"
// (with X-You-Are-Authenticated-As: anonymous) and one with wrong
// credentials 401 with WWW-Authenticate: Basic realm="Jenkins". An empty
// user lets anonymous requests in.
func WithCredentials(user, token string) Option {
	return func(s *Server) { s.user, s.token = user, token }
}

// WithRootURL sets Jenkins' configured root URL, which every "url" field is
// built from. A missing trailing slash is added.
func WithRootURL(u string) Option {
	return func(s *Server) {
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		s.rootURL = u
	}
}

// WithListener makes the Server serve on l instead of a new listener on
// 127.0.0.1:0. Stop closes it and Start listens again on its address.
func WithListener(l net.Listener) Option {
	return func(s *Server) { s.ln = l }
}

// WithJob adds a Pipeline job at path: "a/b" is job b in folder a. Folders
// exist implicitly; a path cannot be both a job and a folder. An empty path
// panics.
func WithJob(path string, o Job) Option {
	return func(s *Server) { s.setJobLocked(path, o) }
}

// WithQueueRetention sets how long an item that left the queue can still be
// read at /queue/item/<id>/api/json before it answers 404. The default is
// DefaultQueueRetention.
func WithQueueRetention(d time.Duration) Option {
	return func(s *Server) { s.retention = d }
}

// WithFirstQueueID sets the ID of the first queue item; the default is
// DefaultFirstQueueID.
func WithFirstQueueID(id int64) Option {
	return func(s *Server) { s.nextQueueID = id }
}

// Server is a simulated Jenkins controller listening on loopback.
type Server struct {
	// Set by New and options, read-only afterwards.
	user, token string
	rootURL     string
	retention   time.Duration
	session     string
	network     string
	addr        string

	life    sync.Mutex // guards the fields below, for Stop, Start and Close
	ln      net.Listener
	srv     *http.Server
	serving sync.WaitGroup
	closed  bool

	mu          sync.Mutex // guards the simulated Jenkins below
	jobs        map[string]*job
	folders     map[string]bool
	queue       map[int64]*queueItem
	pending     []*queueItem // items still in the queue, in order of entry
	running     []*build     // builds not finished
	nextQueueID int64
	failures    []*failure
	down        bool
	requests    map[string]int

	logBytes atomic.Int64
}

type failure struct {
	contains string
	status   int
	left     int
}

// New starts a Server. It panics if it cannot listen, like
// httptest.NewServer.
func New(opts ...Option) *Server {
	s := &Server{
		user:        DefaultUser,
		token:       DefaultToken,
		rootURL:     DefaultRootURL,
		retention:   DefaultQueueRetention,
		session:     randomHex(4),
		jobs:        map[string]*job{},
		folders:     map[string]bool{},
		queue:       map[int64]*queueItem{},
		nextQueueID: DefaultFirstQueueID,
		requests:    map[string]int{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.ln == nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(fmt.Sprintf("jenkinssim: listen: %v", err))
		}
		s.ln = ln
	}
	s.network, s.addr = s.ln.Addr().Network(), s.ln.Addr().String()
	s.life.Lock()
	s.serveLocked(s.ln)
	s.life.Unlock()
	return s
}

func (s *Server) serveLocked(ln net.Listener) {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	s.ln, s.srv = ln, srv
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = srv.Serve(ln) // returns http.ErrServerClosed on Stop and Close
	}()
}

// URL is the base URL to reach the Server at, ending in "/".
func (s *Server) URL() string { return "http://" + s.addr + "/" }

// RootURL is Jenkins' configured root URL, ending in "/". It differs from
// URL unless WithRootURL set it so: the "url" fields of the JSON use it.
func (s *Server) RootURL() string { return s.rootURL }

// Close stops the Server for good. Builds stop advancing with it.
func (s *Server) Close() {
	s.life.Lock()
	defer s.life.Unlock()
	s.closed = true
	s.stopLocked()
}

// Stop closes the listener and every open connection, so that requests fail
// to connect, as if Jenkins' pod went away. State is kept; Start resumes.
func (s *Server) Stop() {
	s.life.Lock()
	defer s.life.Unlock()
	s.stopLocked()
}

func (s *Server) stopLocked() {
	if s.srv == nil {
		return
	}
	_ = s.srv.Close() // also closes the listener; the error is the listener's close error
	s.serving.Wait()
	s.srv, s.ln = nil, nil
}

// Start listens again on the address the Server had, after Stop. It does
// nothing if the Server is serving, and fails after Close or if the address
// is taken meanwhile.
func (s *Server) Start() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return errors.New("jenkinssim: start: server closed")
	}
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen(s.network, s.addr)
	if err != nil {
		return fmt.Errorf("jenkinssim: start: %w", err)
	}
	s.serveLocked(ln)
	return nil
}

// SetJob adds the job at path (as WithJob does), or changes its
// configuration. Builds and queue items that exist keep the configuration
// they started with.
func (s *Server) SetJob(path string, o Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setJobLocked(path, o)
}

func (s *Server) setJobLocked(path string, o Job) {
	path = strings.Trim(path, "/")
	if path == "" || strings.Contains(path, "//") {
		panic(fmt.Sprintf("jenkinssim: bad job path %q", path))
	}
	if j, ok := s.jobs[path]; ok {
		j.cfg = normalize(o)
		return
	}
	s.jobs[path] = &job{path: path, cfg: normalize(o), next: 1}
	for i := strings.Index(path, "/"); i >= 0; {
		s.folders[path[:i]] = true
		next := strings.Index(path[i+1:], "/")
		if next < 0 {
			break
		}
		i += 1 + next
	}
}

func normalize(o Job) Job {
	if o.Lines <= 0 {
		o.Lines = DefaultLines
	}
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Result == "" {
		o.Result = ResultSuccess
	}
	switch {
	case o.QueueWait == 0:
		o.QueueWait = DefaultQueueWait
	case o.QueueWait < 0:
		o.QueueWait = 0
	}
	if o.Params == nil {
		o.Params = DefaultParams()
	} else {
		o.Params = slices.Clone(o.Params)
	}
	return o
}

// Builds returns the builds of the job at path, oldest first, or nil if
// there is no such job.
func (s *Server) Builds(path string) []Build {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceLocked(time.Now())
	j := s.jobs[strings.Trim(path, "/")]
	if j == nil {
		return nil
	}
	out := make([]Build, 0, len(j.builds))
	for _, b := range j.builds {
		out = append(out, Build{
			Number:   b.number,
			QueueID:  b.item.id,
			Params:   paramMap(b.item.params),
			Result:   b.result,
			Building: !b.done,
			LogBytes: len(b.log),
			Started:  b.start,
		})
	}
	return out
}

// QueueItem returns the queue item with the given ID. Items that left the
// queue longer ago than the retention, which Jenkins has forgotten, are
// still reported here.
func (s *Server) QueueItem(id int64) (QueueItem, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceLocked(now)
	it := s.queue[id]
	if it == nil {
		return QueueItem{}, false
	}
	q := QueueItem{
		ID:        it.id,
		Job:       it.job.path,
		Params:    paramMap(it.params),
		Cancelled: it.cancelled,
		Why:       it.why(now),
	}
	if it.build != nil {
		q.BuildNumber = it.build.number
	}
	return q, true
}

// CancelQueued cancels the queue item with the given ID, as if someone
// clicked its cross in the UI. It does nothing if the item already left the
// queue.
func (s *Server) CancelQueued(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advanceLocked(now)
	s.cancelLocked(id, now)
}

// FailNext makes the next n requests whose URL path (without the query)
// contains pathContains answer status (500, 502, 503, 401, 403, 404, …) instead of being served,
// without any effect on the simulated Jenkins. Rules add up; the oldest
// matching one is used first.
func (s *Server) FailNext(pathContains string, status int, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{contains: pathContains, status: status, left: n})
}

// SetDown makes every request answer 503 "Jenkins is going to shut down"
// while down is true. Builds go on meanwhile. To make connections fail
// instead, use Stop.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// LogBytesServed is the total number of console text bytes sent by the
// logText/progressiveText and consoleText endpoints (before compression).
func (s *Server) LogBytesServed() int64 { return s.logBytes.Load() }

// Requests counts the requests received whose URL path (without the query)
// contains pathContains ("" counts all), including those answered with an injected failure, 401,
// 403 or 503.
func (s *Server) Requests(pathContains string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, c := range s.requests {
		if strings.Contains(p, pathContains) {
			n += c
		}
	}
	return n
}

func paramMap(ps []paramValue) map[string]string {
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.name] = p.value
	}
	return m
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return strings.Repeat("0", 2*n)
	}
	return hex.EncodeToString(b)
}
