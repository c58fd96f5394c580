// Package github is Hoist's port to GitHub (release.SCM): it resolves refs
// to commits, records deployments and their statuses, and promotes
// commits through pull requests or fast-forwards. It also verifies and
// handles GitHub's webhook deliveries (Webhook).
//
// It uses go-github, whose rate-limit errors it honours: a call waits for
// GitHub's rate limit to reset (X-RateLimit-Reset, Retry-After) when that
// is near, and otherwise gives up at once with an error that says until
// when. Connection failures, timeouts and 5xx answers are retried with
// capped, jittered backoff. Every other failure is explained: a token
// GitHub rejects (401), a permission it lacks (403), a repository it
// cannot see (404).
//
// go-github's types never leave this package.
package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/hoistbot/hoist/internal/outbound"
	"github.com/hoistbot/hoist/internal/release"
)

var _ release.SCM = (*Client)(nil)

// Defaults for Config and RetryPolicy fields left at zero.
const (
	// DefaultAttempts is RetryPolicy.Attempts' default: tries in all.
	DefaultAttempts = 4
	// DefaultBackoffBase is RetryPolicy.Base's default.
	DefaultBackoffBase = 300 * time.Millisecond
	// DefaultBackoffMax is RetryPolicy.Max's default.
	DefaultBackoffMax = 5 * time.Second
	// DefaultMaxRateLimitWait is Config.MaxRateLimitWait's default.
	DefaultMaxRateLimitWait = time.Minute
	// DefaultTimeout bounds one HTTP request of the default client.
	DefaultTimeout = 15 * time.Second
	// DefaultDialTimeout bounds connecting to GitHub with the default client.
	DefaultDialTimeout = 5 * time.Second
)

// Config says how to reach GitHub.
type Config struct {
	// BaseURL is the REST API root, with a trailing slash:
	// "https://api.github.com/", or "https://HOST/api/v3/" for GitHub
	// Enterprise Server.
	BaseURL string
	// Token authenticates Hoist. It is sent to BaseURL's host only, and
	// never logged nor put in an error.
	Token string
	// HTTPClient makes the requests; nil means a client with a 15s timeout
	// per request and a 5s dial timeout.
	HTTPClient *http.Client
	// Retry says how transient failures are retried.
	Retry RetryPolicy
	// MaxRateLimitWait is how long a call may wait for GitHub's rate limit
	// to reset before it gives up; zero means DefaultMaxRateLimitWait.
	MaxRateLimitWait time.Duration
}

// String describes the configuration without its token.
func (c Config) String() string {
	return fmt.Sprintf("github.Config{BaseURL:%q Token:<secret>}", c.BaseURL)
}

// GoString is String, so that %#v does not print the token either.
func (c Config) GoString() string { return c.String() }

// LogValue logs the configuration without its token.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("base_url", c.BaseURL), slog.String("token", "<secret>"))
}

// RetryPolicy is how transient failures are retried; fields left at zero
// take DefaultAttempts, DefaultBackoffBase and DefaultBackoffMax.
type RetryPolicy = outbound.RetryPolicy

// defaultRetry fills the fields of Config.Retry left at zero.
var defaultRetry = RetryPolicy{Attempts: DefaultAttempts, Base: DefaultBackoffBase, Max: DefaultBackoffMax}

// baseURLSetting is Config.BaseURL as configured, for outbound.BaseURL's
// errors.
var baseURLSetting = outbound.URLSetting{
	Key:             "github.base_url",
	Empty:           "give GitHub's REST API root, e.g. https://api.github.com/",
	NotURL:          "give GitHub's REST API root, e.g. https://api.github.com/",
	Credentials:     "put the token in github.token instead",
	QueryOrFragment: "give only the API root",
}

// Client talks to one GitHub. It is safe for concurrent use.
type Client struct {
	gh      *gh.Client
	base    string
	secrets outbound.Secrets // the token, hidden in errors and logs
	log     *slog.Logger
	retry   RetryPolicy
	maxRate time.Duration
}

// New returns a client for the GitHub cfg names. It makes no request:
// call Check to see that GitHub answers and accepts the token.
func New(cfg Config, logger *slog.Logger) (*Client, error) {
	base, err := outbound.BaseURL(cfg.BaseURL, baseURLSetting)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("github.token is empty: give a token with access to the apps' repositories")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = outbound.NewHTTPClient(DefaultTimeout, DefaultDialTimeout)
	}
	client, err := gh.NewClient(
		gh.WithHTTPClient(hc),
		gh.WithURLs(&base, nil),
		gh.WithAuthToken(cfg.Token),
		gh.WithUserAgent("hoist"),
	)
	if err != nil {
		return nil, fmt.Errorf("set up go-github: %w", err)
	}
	c := &Client{
		gh:      client,
		base:    base,
		secrets: outbound.Secrets{cfg.Token},
		log:     logger.With("github", base),
		retry:   cfg.Retry.WithDefaults(defaultRetry),
		maxRate: cfg.MaxRateLimitWait,
	}
	if c.maxRate <= 0 {
		c.maxRate = DefaultMaxRateLimitWait
	}
	return c, nil
}

// URL returns GitHub's API root as Hoist reaches it, with a trailing slash.
func (c *Client) URL() string { return c.base }

// Check asks GitHub for the token's rate limit, which every valid token
// may read and which costs nothing, and returns how many requests are
// left of how many an hour. It fails when GitHub cannot be reached or
// rejects the token.
func (c *Client) Check(ctx context.Context) (remaining, limit int, err error) {
	defer c.secrets.Scrub(&err)
	var rl *gh.RateLimits
	err = c.call(ctx, op{doing: "check github.token"}, func(ctx context.Context) (*gh.Response, error) {
		var resp *gh.Response
		var err error
		rl, resp, err = c.gh.RateLimit.Get(ctx)
		return resp, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("check github at %s: %w", c.base, err)
	}
	if core := rl.GetCore(); core != nil {
		return core.Remaining, core.Limit, nil
	}
	return 0, 0, nil
}

// CheckRepo says whether the token can see repo ("owner/name").
func (c *Client) CheckRepo(ctx context.Context, repo string) (err error) {
	defer c.secrets.Scrub(&err)
	owner, name, err := splitRepo(repo)
	if err != nil {
		return err
	}
	if err := c.repoExists(ctx, owner, name); err != nil {
		return fmt.Errorf("check repository %s: %w", repo, err)
	}
	return nil
}

// splitRepo splits "owner/name".
func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") || owner == ".." || name == ".." {
		return "", "", fmt.Errorf("repository %q is not \"owner/name\": check the app's repo", repo)
	}
	return owner, name, nil
}

// escapeRef escapes each segment of a ref ("feature/a#1") for a URL path,
// keeping its slashes.
func escapeRef(ref string) string {
	parts := strings.Split(ref, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}
