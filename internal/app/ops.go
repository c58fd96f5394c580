package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/metrics"
	"github.com/hoistbot/hoist/internal/release"
)

// readyCheck is one thing Hoist needs to serve: the store answering,
// Slack connected.
type readyCheck struct {
	name  string
	check func(context.Context) error
}

// readiness is what GET /readyz checks: every check must pass. Each part
// of Hoist that must be up to serve Slack adds its own.
type readiness []readyCheck

func (r readiness) ready(ctx context.Context) error {
	for _, c := range r {
		if err := c.check(ctx); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

// How long an answer of auth.test is trusted before Slack is asked again.
const (
	slackAuthFresh = 5 * time.Minute
	slackAuthRetry = 10 * time.Second
)

// slackAuth says whether Slack accepts Hoist's bot token, from auth.test:
// asked at start, then again when its last answer is older than
// slackAuthFresh (slackAuthRetry after a failure).
type slackAuth struct {
	api *slack.Client
	// placeholder, when set, is the only answer: the bot token is the
	// example's, which Slack is never asked about.
	placeholder error

	mu  sync.Mutex
	at  time.Time
	err error
}

// start asks Slack once and says in the log what it answered.
func (a *slackAuth) start(ctx context.Context, logger *slog.Logger) {
	if a.placeholder != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a.mu.Lock()
	defer a.mu.Unlock()
	resp, err := a.api.AuthTestContext(cctx)
	a.remember(err)
	if err != nil {
		logger.Error("slack refuses Hoist's bot token or does not answer; /readyz fails until it does", "problem", err.Error())
		return
	}
	logger.Info("slack answers", "team", resp.Team, "team_id", resp.TeamID, "bot_user", resp.UserID)
}

func (a *slackAuth) check(ctx context.Context) error {
	if a.placeholder != nil {
		return a.placeholder
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fresh := slackAuthRetry
	if a.err == nil {
		fresh = slackAuthFresh
	}
	if !a.at.IsZero() && time.Since(a.at) < fresh {
		return a.err
	}
	_, err := a.api.AuthTestContext(ctx)
	return a.remember(err)
}

func (a *slackAuth) remember(err error) error {
	if err != nil {
		err = fmt.Errorf("auth.test: %w", err)
	}
	a.at, a.err = time.Now(), err
	return err
}

// newSlackAuth returns the check of cfg's bot token through api.
func newSlackAuth(cfg *config.Config, api *slack.Client) *slackAuth {
	a := &slackAuth{api: api}
	if cfg.Slack.BotToken == config.PlaceholderBotToken {
		a.placeholder = errors.New("slack.bot_token is the example's placeholder; set " + config.EnvVar("slack.bot_token"))
	}
	return a
}

// instrument counts the errors of the ports Hoist has: Jenkins, GitHub
// and Kubernetes.
func instrument(m *metrics.Metrics, p release.Ports) release.Ports {
	if p.Pipeline != nil {
		p.Pipeline = m.Pipeline("jenkins", p.Pipeline)
	}
	if p.SCM != nil {
		p.SCM = m.SCM("github", p.SCM)
	}
	if p.Cluster != nil {
		p.Cluster = m.Cluster("kubernetes", p.Cluster)
	}
	return p
}

// withMetrics serves GET /metrics beside next, and measures Slack's
// requests to next.
func withMetrics(m *metrics.Metrics, next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", m.SlackRequests(next))
	return mux
}
