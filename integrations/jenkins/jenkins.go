// Package jenkins is Hoist's port to Jenkins: it queues builds, finds the
// build of a release again by its RELEASE_ID parameter, follows builds from
// the queue to their end, streams their console logs and stops them
// (release.Pipeline).
//
// It uses gojenkins v1.2.0 where that library is right (the connection
// check Init makes, CSRF crumbs) and works around its known bugs:
//
//   - it polls a cancelled queue item forever: WaitForBuild follows queue
//     items itself and ends on cancelled or expired items;
//   - it builds paths from the `url` fields of Jenkins' JSON (Jenkins' root
//     URL, which Hoist may not reach from inside Kubernetes) and with double
//     slashes: every path here is built from Config.URL and the job's path;
//   - Init re-creates package-level loggers, racing when two clients start:
//     they are set once per process and Init's check is made without them;
//   - its crumb fetch asks for crumbIssuer/api/json/api/json, ignores every
//     failure and dereferences a nil response (a transport error, or an
//     X-Error header): crumbs are fetched here, and every gojenkins call
//     runs under recover;
//   - InvokeSimple returns queue item 0 when the job already has an item in
//     the queue: Trigger posts buildWithParameters itself and reads the
//     queue item from the Location header.
//
// gojenkins' types never leave this package.
package jenkins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bndr/gojenkins"

	"github.com/hoistbot/hoist/internal/outbound"
	"github.com/hoistbot/hoist/internal/release"
)

var _ release.Pipeline = (*Client)(nil)

// Defaults for Config and RetryPolicy fields left at zero.
const (
	// DefaultAttempts is RetryPolicy.Attempts' default: tries in all.
	DefaultAttempts = 5
	// DefaultBackoffBase is RetryPolicy.Base's default.
	DefaultBackoffBase = 200 * time.Millisecond
	// DefaultBackoffMax is RetryPolicy.Max's default.
	DefaultBackoffMax = 5 * time.Second
	// DefaultPollInterval is Config.PollInterval's default.
	DefaultPollInterval = time.Second
	// DefaultTimeout bounds one HTTP request of the default client.
	DefaultTimeout = 10 * time.Second
	// DefaultDialTimeout bounds connecting to Jenkins with the default client.
	DefaultDialTimeout = 5 * time.Second
)

// Config says how to reach Jenkins.
type Config struct {
	// URL is Jenkins' address as Hoist reaches it, e.g.
	// "http://jenkins.ci.svc:8080/" or "https://ci.example.com/jenkins/". It
	// may differ from the root URL Jenkins is configured with: every request
	// and every build URL is made from this one.
	URL string
	// User and Token are the Jenkins user and its API token, sent with HTTP
	// basic authentication. Token is never logged nor put in an error.
	User  string
	Token string
	// HTTPClient makes the requests; nil means a client with a 10s timeout
	// per request and a 5s dial timeout. Redirects are never followed,
	// whatever its CheckRedirect says.
	HTTPClient *http.Client
	// Retry says how transient failures are retried.
	Retry RetryPolicy
	// PollInterval is how often WaitForBuild asks Jenkins about a queue
	// item; zero means DefaultPollInterval.
	PollInterval time.Duration
}

// String describes the configuration without its token.
func (c Config) String() string {
	return fmt.Sprintf("jenkins.Config{URL:%q User:%q Token:<secret>}", c.URL, c.User)
}

// GoString is String, so that %#v does not print the token either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the configuration without its token.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.String("user", c.User),
		slog.String("token", "<secret>"),
	)
}

// RetryPolicy is how transient failures are retried; fields left at zero
// take DefaultAttempts, DefaultBackoffBase and DefaultBackoffMax. Its Sleep
// also paces WaitForBuild's queue polls.
type RetryPolicy = outbound.RetryPolicy

// defaultRetry fills the fields of Config.Retry left at zero.
var defaultRetry = RetryPolicy{Attempts: DefaultAttempts, Base: DefaultBackoffBase, Max: DefaultBackoffMax}

// urlSetting is Config.URL as configured, for outbound.BaseURL's errors.
var urlSetting = outbound.URLSetting{
	Key:             "jenkins.url",
	Empty:           "give Jenkins' address as Hoist reaches it",
	NotURL:          "give Jenkins' address, e.g. http://jenkins:8080/",
	Credentials:     "put them in jenkins.user and jenkins.token instead",
	QueryOrFragment: "give only Jenkins' address",
}

// Client talks to one Jenkins. It is safe for concurrent use.
type Client struct {
	base    string // Config.URL, with a trailing slash
	user    string
	token   string
	secrets outbound.Secrets // token's forms, hidden in errors and logs
	hc      *http.Client
	gj      *gojenkins.Requester
	log     *slog.Logger
	retry   RetryPolicy
	poll    time.Duration
}

// New returns a client for the Jenkins cfg names. It makes no request: call
// Check to see that Jenkins answers and accepts the credentials.
func New(cfg Config, logger *slog.Logger) (*Client, error) {
	base, err := outbound.BaseURL(cfg.URL, urlSetting)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.User == "" && cfg.Token != "":
		return nil, errors.New("jenkins.user is empty but jenkins.token is set: give the user the token belongs to")
	case cfg.User != "" && cfg.Token == "":
		return nil, fmt.Errorf("jenkins.token is empty: give an API token of jenkins user %q", cfg.User)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	initGojenkins()

	hc := outbound.NewHTTPClient(DefaultTimeout, DefaultDialTimeout)
	if cfg.HTTPClient != nil {
		copied := *cfg.HTTPClient
		hc = &copied
	}
	// Every URL is built here from Config.URL; a redirect would lead to
	// Jenkins' root URL, or drop the credentials on the way.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	c := &Client{
		base:    base,
		user:    cfg.User,
		token:   cfg.Token,
		secrets: secrets(cfg.User, cfg.Token),
		hc:      hc,
		log:     logger.With("jenkins", base),
		retry:   cfg.Retry.WithDefaults(defaultRetry),
		poll:    cfg.PollInterval,
	}
	if c.poll <= 0 {
		c.poll = DefaultPollInterval
	}
	var auth []any
	if cfg.User != "" {
		auth = []any{cfg.User, cfg.Token}
	}
	j := gojenkins.CreateJenkins(hc, base, auth...)
	req, ok := j.Requester.(*gojenkins.Requester)
	if !ok {
		return nil, fmt.Errorf("set up gojenkins: unexpected requester %T", j.Requester)
	}
	c.gj = req
	return c, nil
}

// URL returns Jenkins' address as Hoist reaches it, with a trailing slash.
func (c *Client) URL() string { return c.base }

// JobURL returns the URL of job (a path such as "folder/name") as Hoist
// reaches it.
func (c *Client) JobURL(job string) (string, error) {
	p, err := jobPath(job)
	if err != nil {
		return "", err
	}
	return c.base + p, nil
}

// BuildURL returns the URL of build number of job as Hoist reaches it.
func (c *Client) BuildURL(job string, number int64) (string, error) {
	p, err := buildPath(job, number)
	if err != nil {
		return "", err
	}
	return c.base + p, nil
}

// jobPath turns "a/b" into "job/a/job/b/", escaping each segment.
func jobPath(job string) (string, error) {
	trimmed := strings.Trim(job, "/")
	if trimmed == "" {
		return "", errors.New("no jenkins job given: check jenkins_job in the environment's configuration")
	}
	var b strings.Builder
	for seg := range strings.SplitSeq(trimmed, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("jenkins job path %q has an empty, \".\" or \"..\" segment: check jenkins_job in the environment's configuration", job)
		}
		b.WriteString("job/")
		b.WriteString(url.PathEscape(seg))
		b.WriteByte('/')
	}
	return b.String(), nil
}

func buildPath(job string, number int64) (string, error) {
	p, err := jobPath(job)
	if err != nil {
		return "", err
	}
	if number <= 0 {
		return "", fmt.Errorf("jenkins build number %d of %s is not positive", number, job)
	}
	return fmt.Sprintf("%s%d/", p, number), nil
}

// Check asks Jenkins for its root API document, as gojenkins' Init does,
// and returns Jenkins' version (empty if it does not say). It fails when
// Jenkins cannot be reached, rejects the credentials, or is not Jenkins.
func (c *Client) Check(ctx context.Context) (version string, err error) {
	defer c.secrets.Scrub(&err)
	var decodeErr error
	r, err := c.retrying(ctx, http.MethodGet, "api/json", func(ctx context.Context) (*response, error) {
		// What Init does, without Init's re-creation of the package
		// loggers (see initGojenkins).
		var root gojenkins.ExecutorResponse
		var hr *http.Response
		err := c.guard(ctx, "reading jenkins' root document", func(ctx context.Context) error {
			var err error
			// gojenkins closes the body (ReadJSONResponse).
			hr, err = c.gj.GetJSON(ctx, "/", &root, nil) //nolint:bodyclose // see above
			return err
		})
		if hr == nil {
			if err == nil {
				err = errors.New("gojenkins returned no response")
			}
			return nil, fmt.Errorf("read jenkins' root document: %w", err)
		}
		decodeErr = err
		return &response{method: http.MethodGet, path: "api/json", status: hr.StatusCode, header: hr.Header}, nil
	})
	if err != nil {
		return "", fmt.Errorf("check jenkins at %s: %w", c.base, err)
	}
	if r.status != http.StatusOK {
		return "", fmt.Errorf("check jenkins at %s: %w", c.base, c.statusError(r, access{
			may: "read jenkins", perms: "Overall/Read",
		}))
	}
	version = r.header.Get("X-Jenkins")
	if decodeErr != nil && version == "" {
		return "", fmt.Errorf("check jenkins at %s: it answered api/json with something other than Jenkins' JSON (%w): check jenkins.url", c.base, decodeErr)
	}
	return version, nil
}

var gojenkinsOnce sync.Once

// initGojenkins sets gojenkins' package-level loggers, once per process.
// gojenkins' Init re-creates them on every call, which races with any other
// goroutine using gojenkins; so Init is never called here and its
// connection check is made in Check without it. gojenkins logs through
// these from a few calls; they go to slog's default logger.
func initGojenkins() {
	gojenkinsOnce.Do(func() {
		gojenkins.Info = log.New(io.Discard, "", 0)
		gojenkins.Warning = log.New(slogWriter{level: slog.LevelWarn}, "", 0)
		gojenkins.Error = log.New(slogWriter{level: slog.LevelError}, "", 0)
	})
}

// slogWriter writes each line to the default slog logger when it is
// written, so that a later slog.SetDefault is followed.
type slogWriter struct{ level slog.Level }

func (w slogWriter) Write(p []byte) (int, error) {
	slog.Default().Log(context.Background(), w.level, strings.TrimSpace(string(p)), "component", "gojenkins")
	return len(p), nil
}
