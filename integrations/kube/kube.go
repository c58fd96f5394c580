// Package kube is Hoist's port to Kubernetes (release.Cluster): it creates,
// updates, lists and deletes the namespaces of ephemeral environments, and
// follows the rollout of a Deployment with the semantics of
// `kubectl rollout status`.
//
// There is one client per configured cluster. A cluster whose configuration
// cannot be loaded does not stop Hoist: its calls return the reason.
// client-go's types never leave this package.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/kubeapi"
	"github.com/hoistbot/hoist/internal/release"
)

var _ release.Cluster = (*Client)(nil)

// Client talks to the configured clusters.
type Client struct {
	clusters map[string]*cluster
	logger   *slog.Logger
	requests atomic.Int64
}

// cluster is one configured cluster: a clientset, or the reason there is
// none.
type cluster struct {
	name string
	api  *kubeapi.APIs
	// source says where the configuration came from, for messages: never
	// the credentials themselves.
	source string
	// broken is why the configuration could not be loaded.
	broken error
}

// Client-side rate limits per cluster. Following a rollout costs six
// requests (a list and a watch each of the Deployment, its ReplicaSets and
// its pods); client-go's defaults (5 a second, bursts of 10) would delay
// the start of the third of several rollouts followed at once. The API
// server protects itself with its own priority and fairness.
const (
	clientQPS   = 50
	clientBurst = 100
)

// Option changes how New builds the clients.
type Option func(*options)

type options struct {
	userAgent string
}

// WithUserAgent sets the User-Agent of Hoist's requests (e.g.
// "hoist/1.4.0"), which the API servers' audit logs show.
func WithUserAgent(ua string) Option {
	return func(o *options) { o.userAgent = ua }
}

// New returns a client for each of clusters, keyed by the name the
// configuration gives it. An empty Kubeconfig means the in-cluster
// configuration; otherwise the kubeconfig file is read, with Context as
// its context (its current context when empty). New never fails: a cluster
// whose configuration cannot be loaded answers every call with the reason
// (see Check).
func New(clusters map[string]config.Cluster, logger *slog.Logger, opts ...Option) *Client {
	o := options{userAgent: "hoist"}
	for _, opt := range opts {
		opt(&o)
	}
	c := &Client{clusters: make(map[string]*cluster, len(clusters)), logger: logger}
	for name, conf := range clusters {
		c.clusters[name] = c.connect(name, conf, o)
	}
	return c
}

func (c *Client) connect(name string, conf config.Cluster, o options) *cluster {
	cl := &cluster{name: name, source: "the in-cluster configuration"}
	if conf.Kubeconfig != "" {
		cl.source = "kubeconfig " + conf.Kubeconfig
		if conf.Context != "" {
			cl.source += " (context " + conf.Context + ")"
		}
	}
	rc, err := restConfig(name, conf)
	if err == nil {
		rc.UserAgent = o.userAgent
		rc.QPS, rc.Burst = clientQPS, clientBurst
		rc.Wrap(c.countRequests)
		cl.api, err = kubeapi.New(rc)
	}
	if err != nil {
		cl.broken = fmt.Errorf("cluster %s: %w: %w", name, release.ErrNoCluster, err)
	}
	return cl
}

// restConfig loads a cluster's connection settings.
func restConfig(name string, conf config.Cluster) (*rest.Config, error) {
	if conf.Kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("no in-cluster configuration (not running in a pod?); set clusters.%s.kubeconfig", name)
		}
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
		return rc, nil
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: conf.Kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: conf.Context},
	)
	rc, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s (clusters.%s.kubeconfig): %w", conf.Kubeconfig, name, err)
	}
	return rc, nil
}

// cluster returns the named cluster, or why it cannot be used.
func (c *Client) cluster(name string) (*cluster, error) {
	cl, ok := c.clusters[name]
	if !ok {
		if len(c.clusters) == 0 {
			return nil, fmt.Errorf("unknown cluster %q: no clusters are configured", name)
		}
		return nil, fmt.Errorf("unknown cluster %q (configured: %s)", name, strings.Join(c.names(), ", "))
	}
	if cl.broken != nil {
		return nil, cl.broken
	}
	return cl, nil
}

func (c *Client) names() []string {
	names := make([]string, 0, len(c.clusters))
	for name := range c.clusters {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Check asks every cluster for its version, logs those that answer, and
// returns why each of the others does not, keyed by cluster name. It is
// meant for start-up, where an unreachable cluster is worth a warning, not
// a refusal to start.
func (c *Client) Check(ctx context.Context) map[string]error {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		problems = make(map[string]error)
	)
	for _, name := range c.names() {
		wg.Go(func() {
			version, err := c.serverVersion(ctx, name)
			if err != nil {
				mu.Lock()
				problems[name] = err
				mu.Unlock()
				return
			}
			c.logger.InfoContext(ctx, "cluster answers", "cluster", name, "version", version)
		})
	}
	wg.Wait()
	return problems
}

func (c *Client) serverVersion(ctx context.Context, name string) (string, error) {
	cl, err := c.cluster(name)
	if err != nil {
		return "", err
	}
	info, err := cl.api.ServerVersion(ctx)
	if err != nil {
		return "", cl.fail("ask the server version", err)
	}
	return info.GitVersion, nil
}

// Requests returns how many HTTP requests Hoist has sent to the API
// servers of all clusters. A watch counts once, however long it lasts.
func (c *Client) Requests() int64 { return c.requests.Load() }

func (c *Client) countRequests(next http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		c.requests.Add(1)
		return next.RoundTrip(r)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
