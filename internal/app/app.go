// Package app assembles Hoist from its configuration and runs it: the HTTP
// front door, the release workers, and their orderly shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/sync/errgroup"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/integrations/jenkins"
	"github.com/hoistbot/hoist/integrations/kube"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/logctx"
	"github.com/hoistbot/hoist/internal/metrics"
	"github.com/hoistbot/hoist/internal/policy"
	"github.com/hoistbot/hoist/internal/redact"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/store"
)

// ShutdownGrace is how long Hoist takes to finish in-flight work after
// it is asked to stop.
const ShutdownGrace = 10 * time.Second

// Options are what Run needs beyond the configuration.
type Options struct {
	Logger *slog.Logger
	// Ports replaces the outside systems a release goes through; nil
	// fields are built from the configuration (Chat from slack.*).
	Ports release.Ports
	// Listener, when set, is used instead of listening on server.listen.
	Listener net.Listener
	// Ready, when set, is called with the HTTP address once Hoist serves.
	Ready func(addr string)
	// WorkerInterval overrides how often workers sweep unfinished releases.
	WorkerInterval time.Duration
	// LogPoll overrides how often a running build's log is read.
	LogPoll time.Duration
	// ReapInterval overrides how often expired environments are looked for.
	ReapInterval time.Duration
	// GroupMinRefresh overrides how often, at most, an admin group whose
	// cached members lack a clicker is read again from Slack.
	GroupMinRefresh time.Duration
	// Pod, when Hoist runs in a Kubernetes pod, makes the replicas elect
	// their leader with a Lease in the pod's namespace; otherwise the
	// store decides (a PostgreSQL advisory lock).
	Pod Pod
}

// Pod is the Kubernetes pod Hoist runs in, from the downward API
// (HOIST_POD_NAMESPACE, HOIST_POD_NAME).
type Pod struct {
	Namespace string
	Name      string
	// LeaderLease names the Lease the replicas elect their leader with;
	// empty means "hoist-leader".
	LeaderLease string
}

// NewSlackClient returns the Slack Web API client the configuration
// describes, with opts.
func NewSlackClient(cfg *config.Config, opts ...slack.Option) *slack.Client {
	return slack.New(cfg.Slack.BotToken.Reveal(), append([]slack.Option{slack.OptionAPIURL(cfg.Slack.APIURL)}, opts...)...)
}

// checkAdminGroups says at start-up, clearly, when the configured admin
// groups cannot be read: admins listed by user ID still work meanwhile.
func checkAdminGroups(ctx context.Context, directory *bot.UserGroups, ids []string, logger *slog.Logger) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := directory.Check(cctx, ids); err != nil {
		logger.Error("admin groups cannot be used; only rbac.admins can approve until this is fixed", "problem", err.Error())
	}
}

// checkJenkins says at start-up whether Jenkins answers with Hoist's
// credentials. Hoist starts either way: builds retry, and fail with the
// reason, while Jenkins is away.
func checkJenkins(ctx context.Context, pipeline *jenkins.Client, logger *slog.Logger) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	version, err := pipeline.Check(cctx)
	if err != nil {
		logger.Error("jenkins does not answer; builds will fail until it does", "problem", err.Error())
		return
	}
	logger.Info("jenkins answers", "url", pipeline.URL(), "version", version)
}

// checkClusters says at start-up which clusters answer. Hoist starts
// either way: rollouts are not watched in a cluster it cannot connect to,
// and wait for one that is away.
func checkClusters(ctx context.Context, clusters *kube.Client, logger *slog.Logger) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for name, err := range clusters.Check(cctx) {
		logger.Warn("cluster cannot be used; rollouts there are not watched and namespaces not managed until this is fixed", "cluster", name, "problem", err.Error())
	}
}

// Run serves Hoist until ctx ends, then drains and stops within
// ShutdownGrace.
func Run(ctx context.Context, cfg *config.Config, opts Options) error {
	logger := logctx.Logger(opts.Logger)
	st, err := store.Open(ctx, cfg.Store.Driver, cfg.Store.DSN.Reveal(), logger)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()

	met := metrics.New(st, slices.Sorted(maps.Keys(cfg.Environments)), logger)
	api := NewSlackClient(cfg, slack.OptionHTTPClient(&http.Client{Transport: met.SlackTransport(nil)}))
	scheduler := bot.NewScheduler(api, cfg.Slack.UpdateBudgetPerMinute, logger)
	ports := opts.Ports
	if ports.Chat == nil {
		notifier := bot.NewNotifier(api, logger, bot.WithScheduler(scheduler))
		ports.Chat, ports.BuildChat, ports.RolloutChat = notifier, notifier, notifier
	}
	redactor, err := redact.New(cfg.Jenkins.RedactPatterns, cfg.Slack.BotToken.Reveal(), cfg.Slack.AppToken.Reveal(),
		cfg.Slack.SigningSecret.Reveal(), cfg.Jenkins.Token.Reveal(), cfg.GitHub.Token.Reveal(), cfg.GitHub.WebhookSecret.Reveal())
	if err != nil {
		return fmt.Errorf("jenkins.redact_patterns: %w", err)
	}
	if ports.Pipeline == nil && cfg.Jenkins.URL != "" {
		pipeline, err := jenkins.New(jenkins.Config{URL: cfg.Jenkins.URL, User: cfg.Jenkins.User, Token: cfg.Jenkins.Token.Reveal()}, logger)
		if err != nil {
			return fmt.Errorf("connect jenkins: %w", err)
		}
		checkJenkins(ctx, pipeline, logger)
		ports.Pipeline = pipeline
	}
	if ports.SCM == nil && cfg.GitHub.Token != "" {
		scm, err := connectGitHub(ctx, cfg, logger)
		if err != nil {
			return fmt.Errorf("connect github: %w", err)
		}
		ports.SCM = scm
	}
	if ports.Cluster == nil && len(cfg.Clusters) > 0 {
		clusters := kube.New(cfg.Clusters, logger)
		checkClusters(ctx, clusters, logger)
		ports.Cluster = clusters
	}
	ports = instrument(met, ports)
	core := met.Store(st)
	var groups policy.GroupMembers
	if len(cfg.RBAC.AdminGroups) > 0 {
		var groupOpts []bot.UserGroupsOption
		if opts.GroupMinRefresh > 0 {
			groupOpts = append(groupOpts, bot.WithMinRefresh(opts.GroupMinRefresh))
		}
		directory := bot.NewUserGroups(api, groupOpts...)
		checkAdminGroups(ctx, directory, cfg.RBAC.AdminGroups, logger)
		groups = directory
	}
	pol := policy.New(cfg, groups)
	var leading atomic.Bool
	worker := release.NewWorker(cfg, pol, core, ports, release.WorkerOptions{Interval: opts.WorkerInterval, LogPoll: opts.LogPoll,
		Redact: redactor.Bytes, Leading: leading.Load, LeaseTTL: cfg.Store.LeaseTTL}, logger)
	service := release.NewService(cfg, pol, core, worker, logger)
	reaper := release.NewReaper(cfg, core, service, ports.Cluster, ports.Chat, release.ReaperOptions{Interval: opts.ReapInterval, Leading: leading.Load}, logger)
	auth := newSlackAuth(cfg, api)
	auth.start(ctx, logger)
	ready := readiness{{"store", st.Ping}, {"slack", auth.check}}
	var socket *bot.Socket
	if cfg.Slack.Mode == "socket" {
		socket = bot.NewSocket(cfg.Slack, logger, bot.SocketOptions{ObserveAck: met.ObserveAck})
		ready = slices.Insert(ready, 1, readyCheck{"slack", socket.Ready})
	}
	front := bot.NewServer(cfg.Slack, service, ports.Chat, ready.ready, logger)
	handler, err := withGitHubWebhook(cfg, front.Handler(), service, logger)
	if err != nil {
		return err
	}
	handler = withMetrics(met, handler)

	ln := opts.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Server.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err)
		}
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		logger.Info("hoist serving", "addr", ln.Addr().String(), "store", cfg.Store.Driver, "slack_mode", cfg.Slack.Mode)
		if opts.Ready != nil {
			opts.Ready(ln.Addr().String())
		}
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if opts.Pod.Namespace != "" {
			return kube.Lead(gctx, kube.Election{Namespace: opts.Pod.Namespace, Name: opts.Pod.LeaderLease, Identity: opts.Pod.Name}, &leading, logger)
		}
		return leadThroughStore(gctx, st, &leading, logger)
	})
	if socket != nil {
		g.Go(func() error { return socket.Run(gctx, front) })
	}
	g.Go(func() error { return worker.Run(gctx) })
	g.Go(func() error { return scheduler.Run(gctx) })
	g.Go(func() error { return reaper.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		logger.Info("hoist stopping")
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		err := srv.Shutdown(sctx)
		front.Drain(sctx)
		if err != nil {
			return fmt.Errorf("shut down http: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	logger.Info("hoist stopped")
	return nil
}
