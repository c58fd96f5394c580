// Package demo is Hoist's playground: `hoist demo` runs Hoist itself, on
// SQLite in a temporary directory, against simulators of Slack's Web API,
// Jenkins and GitHub and a Kubernetes cluster, all on loopback (the local
// control plane when its binaries are built, a simulated cluster
// otherwise), and serves a page that looks like a Slack channel. The page talks to Hoist
// only as Slack does: signed slash commands and block actions to Hoist's
// real endpoints, and what Hoist posts through the Web API shown as it
// arrives. Nothing reaches the internet.
package demo

import (
	"cmp"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hoistbot/hoist/internal/app"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/demo/blockkit"
	"github.com/hoistbot/hoist/internal/kubelocal"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/githubsim"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

//go:embed demo.yaml
var demoConfig []byte

// Defaults of Options.
const (
	// DefaultListen is where the page is served unless Options.Listen says
	// otherwise.
	DefaultListen = "127.0.0.1:8080"
	// DefaultBuildTime is how long a demo build runs: long enough to watch
	// its log stream in.
	DefaultBuildTime = 20 * time.Second
)

// The Kubernetes sides of the demo, for Options.Cluster.
const (
	// ClusterAuto is the local control plane when its binaries are
	// built, the simulated cluster otherwise.
	ClusterAuto = "auto"
	// ClusterLocal is the local control plane: etcd, kube-apiserver,
	// kube-controller-manager, kube-scheduler and kwok, from the binaries
	// `make k8s-bins` builds.
	ClusterLocal = "local"
	// ClusterSim is a cluster in memory, whose Deployments roll out over a
	// few seconds.
	ClusterSim = "sim"
)

// clusterName is the demo's one cluster, as its environments name it.
const clusterName = "demo"

// Options configure a demo.
type Options struct {
	// Listen is the page's address, host:port; DefaultListen when "".
	Listen string
	// Listener, when set, serves the page instead of listening on Listen.
	Listener net.Listener
	// Logger receives Hoist's logs and the demo's; nil discards them.
	Logger *slog.Logger
	// BuildTime is how long each build runs; DefaultBuildTime when 0.
	BuildTime time.Duration
	// Ready, when set, is called with the page's URL once the page and
	// Hoist both serve.
	Ready func(url string)
	// Cluster chooses the Kubernetes side: ClusterAuto (when ""),
	// ClusterLocal or ClusterSim.
	Cluster string
	// KubeBinaries is the directory of the local control plane's binaries;
	// kubelocal.BinDir() when "".
	KubeBinaries string
	// Notice, when set, is called with what the person who runs the demo
	// should know while it starts: which cluster it uses, and how to reach
	// it.
	Notice func(text string)
}

// Run runs the demo until ctx ends, then stops Hoist and the simulators
// and removes the temporary store.
func Run(ctx context.Context, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch opts.Cluster {
	case "", ClusterAuto, ClusterLocal, ClusterSim:
	default:
		return fmt.Errorf("cluster %q: choose %s, %s or %s", opts.Cluster, ClusterAuto, ClusterLocal, ClusterSim)
	}
	pageLn := opts.Listener
	if pageLn == nil {
		addr := opts.Listen
		if addr == "" {
			addr = DefaultListen
		}
		var err error
		if pageLn, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("listen on %s: %w (choose another address with --listen)", addr, err)
		}
	}
	defer pageLn.Close()

	dir, err := os.MkdirTemp("", "hoist-demo-")
	if err != nil {
		return fmt.Errorf("make a directory for the demo's store: %w", err)
	}
	defer os.RemoveAll(dir)

	g, gctx := errgroup.WithContext(ctx)
	s, err := startSystems(gctx, dir, opts, logger)
	if err != nil {
		return err
	}
	defer s.close()

	render := &blockkit.Renderer{Users: userNames(), Channels: channelNames()}
	f := newFeed()
	m := newMirror(s.slack, f, render, logger)
	p := &page{feed: f, mirror: m, proxy: newProxy("http://"+s.hoistLn.Addr().String(), s.signingSecret), slack: s.slack, logger: logger}

	srv := &http.Server{
		Handler:           p.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		WriteTimeout:      30 * time.Second, // the event stream lifts it for itself
		BaseContext:       func(net.Listener) context.Context { return gctx },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	hoistReady := make(chan struct{})
	g.Go(func() error {
		return app.Run(gctx, s.cfg, app.Options{Logger: logger, Listener: s.hoistLn, Ports: s.ports,
			Ready: func(string) { close(hoistReady) }})
	})
	g.Go(func() error { return m.run(gctx, s.calls) })
	if s.sim != nil {
		g.Go(func() error { return s.sim.run(gctx) })
	}
	g.Go(func() error {
		if err := srv.Serve(pageLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve the demo page: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		select {
		case <-hoistReady:
			url := pageURL(pageLn.Addr())
			logger.Info("demo ready", "url", url)
			if opts.Ready != nil {
				opts.Ready(url)
			}
		case <-gctx.Done():
		}
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("stop the demo page: %w", err)
		}
		return nil
	})
	return g.Wait()
}

// systems are what the demo runs Hoist against, and Hoist's configuration
// pointing at them.
type systems struct {
	slack       *slackapi.Server
	calls       <-chan slackapi.Call
	unsubscribe func()
	jenkins     *jenkinssim.Server
	github      *githubsim.Server
	// Exactly one of local and sim is the cluster; target is the same,
	// as the pipelines see it.
	local         *localCluster
	sim           *simCluster
	target        deployTarget
	hoistLn       net.Listener
	signingSecret string
	cfg           *config.Config
	ports         release.Ports
}

// startSystems starts the cluster and the simulators on loopback, and
// builds Hoist's configuration for them, with secrets made up for this run
// and the store in dir. ctx bounds the pipelines' deploy stages.
func startSystems(ctx context.Context, dir string, opts Options, logger *slog.Logger) (_ *systems, err error) {
	buildTime := opts.BuildTime
	if buildTime <= 0 {
		buildTime = DefaultBuildTime
	}
	s := &systems{signingSecret: randomHex(32)}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	botToken := "xoxb-demo-" + randomHex(12)
	jenkinsToken := randomHex(16)
	githubToken := "ghp_" + randomHex(18)

	if err := s.startCluster(ctx, opts, rolloutStep(buildTime), logger); err != nil {
		return nil, err
	}
	s.slack = slackapi.New(
		slackapi.WithToken(botToken),
		slackapi.WithChannel(DeploysID, "deploys", false, true),
		slackapi.WithChannel(ReleasesID, "releases", false, false), // Hoist joins it to announce
	)
	s.calls, s.unsubscribe = s.slack.Subscribe()
	s.github = startGitHub(githubToken)
	s.jenkins = jenkinssim.New(jenkinssim.WithCredentials("hoist", jenkinsToken))
	commits := newCheckouts()
	for path, job := range jobs(buildTime, commits, s.deployStage(ctx, s.jenkins, s.github, commits, logger)) {
		s.jenkins.SetJob(path, job)
	}

	if s.hoistLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("listen for hoist: %w", err)
	}
	environ := []string{
		"HOIST_SERVER_LISTEN=" + s.hoistLn.Addr().String(),
		"HOIST_SLACK_API_URL=" + s.slack.URL(),
		"HOIST_SLACK_BOT_TOKEN=" + botToken,
		"HOIST_SLACK_SIGNING_SECRET=" + s.signingSecret,
		"HOIST_STORE_DSN=" + filepath.Join(dir, "hoist.db"),
		"HOIST_JENKINS_URL=" + s.jenkins.URL(),
		"HOIST_JENKINS_TOKEN=" + jenkinsToken,
		"HOIST_GITHUB_BASE_URL=" + s.github.URL(),
		"HOIST_GITHUB_TOKEN=" + githubToken,
	}
	cluster := config.Cluster{}
	if s.local != nil {
		cluster.Kubeconfig = s.local.plane.Kubeconfig()
	}
	if s.cfg, err = loadConfig(environ, cluster); err != nil {
		return nil, err
	}
	if s.sim != nil {
		s.ports.Cluster = s.sim
	}
	return s, nil
}

// startCluster starts the Kubernetes side that opts.Cluster chooses, with
// staging and production running the app already, and says which it is.
func (s *systems) startCluster(ctx context.Context, opts Options, step time.Duration, logger *slog.Logger) error {
	notice := opts.Notice
	if notice == nil {
		notice = func(string) {}
	}
	simulate := func(why string) {
		s.sim = newSimCluster(clusterName, step, "default", "kube-system")
		for _, d := range earlierReleases() {
			s.sim.seed(d)
		}
		s.target = s.sim
		notice("Kubernetes: a simulated cluster, whose Deployments roll out over a few seconds" + why + ".")
	}

	mode := cmp.Or(opts.Cluster, ClusterAuto)
	if mode == ClusterSim {
		simulate("")
		return nil
	}
	bin, missing := opts.KubeBinaries, ""
	if bin == "" {
		var err error
		if bin, err = kubelocal.BinDir(); err != nil {
			missing = err.Error()
		}
	}
	if missing == "" {
		missing = kubelocal.Missing(bin)
	}
	if missing != "" {
		if mode == ClusterLocal {
			return fmt.Errorf("no local control plane (%s): run `make k8s-bins` (about 6 minutes the first time), or use --cluster sim", missing)
		}
		simulate(" (no local control plane: " + missing + "; `make k8s-bins` builds one)")
		return nil
	}

	notice("Kubernetes: starting a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)…")
	started := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	local, err := startLocalCluster(sctx, bin)
	switch {
	case err == nil:
	case mode == ClusterLocal || ctx.Err() != nil:
		return fmt.Errorf("start the local control plane: %w", err)
	default:
		logger.Warn("the local control plane did not start; the demo simulates a cluster instead", "err", err)
		simulate(" (the local control plane did not start: " + err.Error() + ")")
		return nil
	}
	s.local, s.target = local, local
	notice(fmt.Sprintf("Kubernetes: a local control plane (Kubernetes %s, pods on a kwok node), up in %s. To look inside: export KUBECONFIG=%s",
		kubelocal.KubernetesVersion, time.Since(started).Round(100*time.Millisecond), local.plane.Kubeconfig()))
	return nil
}

// rolloutStep is how long a step of a simulated rollout takes: a tenth of
// a build (2 s at most), so that rollouts keep the builds' pace. A rollout
// that replaces pods takes six steps, one into a new namespace three.
func rolloutStep(buildTime time.Duration) time.Duration {
	return min(max(buildTime/10, 100*time.Millisecond), 2*time.Second)
}

// deployStage is the deploy stage of the demo app's pipelines. When a
// build starts, it records the commit the build checks out, for its log;
// at the moment at after the build's start, it applies the app's
// Deployment in the build's namespace, with the image the build pushed. A
// build stopped before it got there deploys nothing.
func (s *systems) deployStage(ctx context.Context, jenkins *jenkinssim.Server, github *githubsim.Server, commits *checkouts,
	logger *slog.Logger,
) func(job string, params map[string]string, at time.Duration) {
	running := func(job, release string) (jenkinssim.Build, bool) {
		for _, b := range jenkins.Builds(job) {
			if b.Params["RELEASE_ID"] == release {
				return b, b.Building
			}
		}
		return jenkinssim.Build{}, false
	}
	return func(job string, params map[string]string, at time.Duration) {
		release := params["RELEASE_ID"]
		build, ok := running(job, release)
		if ok {
			if sha := params["COMMIT"]; sha != "" {
				commits.set(job, build.Number, checkout{sha: sha[:min(len(sha), 7)], title: commitTitle(github, sha)})
			}
			select {
			case <-time.After(time.Until(build.Started.Add(at))):
			case <-ctx.Done():
				return
			}
			build, ok = running(job, release)
		}
		if !ok {
			logger.Info("the build ended before its deploy stage; nothing deployed", "job", job, "release", release)
			return
		}
		d := appDeployment{namespace: params["NAMESPACE"], name: appName, image: appImage(commits.get(job, build.Number).sha), release: release}
		if err := s.target.apply(ctx, d); err != nil && ctx.Err() == nil {
			logger.Warn("the pipeline's deploy stage failed", "job", job, "release", release, "err", err)
		}
	}
}

func (s *systems) close() {
	if s.local != nil {
		s.local.close()
	}
	if s.hoistLn != nil {
		s.hoistLn.Close()
	}
	if s.jenkins != nil {
		s.jenkins.Close()
	}
	if s.github != nil {
		s.github.Close()
	}
	if s.unsubscribe != nil {
		s.unsubscribe()
	}
	if s.slack != nil {
		s.slack.Close()
	}
}

// loadConfig reads demo.yaml with environ's HOIST_* variables on top and
// the demo cluster's connection, and validates it whole.
func loadConfig(environ []string, cluster config.Cluster) (*config.Config, error) {
	cfg, err := config.Parse("demo configuration", demoConfig, environ)
	if err != nil {
		return nil, fmt.Errorf("load the demo configuration: %w", err)
	}
	cfg.Clusters = map[string]config.Cluster{clusterName: cluster}
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("the demo configuration is invalid: %w", config.Problems(problems))
	}
	return cfg, nil
}

// pageURL is the URL a browser on this machine opens the page at.
func pageURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

func userNames() map[string]string {
	names := map[string]string{slackapi.BotUserID: "Hoist"}
	for _, p := range people() {
		names[p.ID] = p.Name
	}
	return names
}

func channelNames() map[string]string {
	names := map[string]string{}
	for _, c := range channels() {
		names[c.ID] = c.Name
	}
	return names
}

// randomHex is n random bytes in hex: the demo's made-up secrets.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
