package demo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hoistbot/hoist/internal/release"
)

var _ release.Cluster = (*simCluster)(nil)

// maxSurge is how many pods above the desired count a rollout may run, in
// the simulated cluster as in the demo app's Deployment; no pod may be
// unavailable (maxUnavailable 0).
const maxSurge = 1

// simCluster is a Kubernetes cluster in memory, for a demo without the
// local control plane. It keeps namespaces as Hoist labels them, and the
// Deployments that the pipelines apply, which roll out one step at a time
// as a Deployment with maxSurge 1 and maxUnavailable 0 does: a new pod
// starts, becomes available, an old one terminates, and so on.
type simCluster struct {
	name string
	// step is how long each step of a rollout takes.
	step time.Duration

	mu          sync.Mutex
	namespaces  map[string]simNamespace
	deployments map[string]*simDeployment // by "namespace/name"
	// changed is closed, and replaced, at every change of a Deployment.
	changed chan struct{}
}

// simNamespace is a namespace; managed ones carry what Hoist stamped on
// them.
type simNamespace struct {
	managed bool
	stamp   release.Namespace
}

// simDeployment counts a Deployment's pods as its controller does.
type simDeployment struct {
	// template is what its pods run; a new one starts a rollout.
	template string
	desired  int32
	// updated pods run the template, ready of them are available; old
	// pods run an earlier template, and are all available.
	updated, ready, old int32
}

// newSimCluster returns a cluster named name, whose rollouts take step a
// step, holding the namespaces unmanaged that someone other than Hoist
// created.
func newSimCluster(name string, step time.Duration, unmanaged ...string) *simCluster {
	c := &simCluster{
		name:        name,
		step:        step,
		namespaces:  map[string]simNamespace{},
		deployments: map[string]*simDeployment{},
		changed:     make(chan struct{}),
	}
	for _, ns := range unmanaged {
		c.namespaces[ns] = simNamespace{}
	}
	return c
}

// run moves every unfinished rollout on by one step each c.step, until ctx
// ends.
func (c *simCluster) run(ctx context.Context) error {
	tick := time.NewTicker(c.step)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			c.advance()
		}
	}
}

// advance moves every unfinished rollout on by one step.
func (c *simCluster) advance() {
	c.mu.Lock()
	defer c.mu.Unlock()
	moved := false
	for _, d := range c.deployments {
		moved = d.advance() || moved
	}
	if moved {
		c.broadcastLocked()
	}
}

func (c *simCluster) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *simCluster) known(cluster string) error {
	if cluster != c.name {
		return fmt.Errorf("cluster %s: %w: the demo has only cluster %s", cluster, release.ErrNoCluster, c.name)
	}
	return nil
}

func notManaged(cluster, name string) error {
	return fmt.Errorf("namespace %s in cluster %s exists but lacks the label app.kubernetes.io/managed-by=hoist: %w", name, cluster, release.ErrNotManaged)
}

// EnsureNamespace creates the namespace, or restamps the one Hoist manages
// under that name; a namespace that Hoist did not create is left alone.
func (c *simCluster) EnsureNamespace(_ context.Context, ns release.Namespace) error {
	if err := c.known(ns.Cluster); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if current, ok := c.namespaces[ns.Name]; ok && !current.managed {
		return notManaged(c.name, ns.Name)
	}
	c.namespaces[ns.Name] = simNamespace{managed: true, stamp: ns}
	return nil
}

// DeleteNamespace deletes a namespace Hoist manages, with the Deployments
// in it.
func (c *simCluster) DeleteNamespace(_ context.Context, cluster, name string) error {
	if err := c.known(cluster); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	current, ok := c.namespaces[name]
	switch {
	case !ok:
		return nil
	case !current.managed:
		return notManaged(c.name, name)
	}
	delete(c.namespaces, name)
	for key := range c.deployments {
		if strings.HasPrefix(key, name+"/") {
			delete(c.deployments, key)
		}
	}
	c.broadcastLocked()
	return nil
}

// ListNamespaces returns the namespaces Hoist manages, by name.
func (c *simCluster) ListNamespaces(_ context.Context, cluster string) ([]release.Namespace, error) {
	if err := c.known(cluster); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []release.Namespace
	for _, name := range slices.Sorted(maps.Keys(c.namespaces)) {
		if ns := c.namespaces[name]; ns.managed {
			out = append(out, ns.stamp)
		}
	}
	return out, nil
}

// Rollout follows a Deployment's rollout until it is complete, reporting
// each change; a Deployment that does not exist yet is waited for.
func (c *simCluster) Rollout(ctx context.Context, t release.RolloutTarget, progress func(release.RolloutProgress)) error {
	if err := c.known(t.Cluster); err != nil {
		return err
	}
	var last *release.RolloutProgress
	for {
		c.mu.Lock()
		var p release.RolloutProgress
		done := false
		if d, ok := c.deployments[t.Namespace+"/"+t.Deployment]; ok {
			p, done = d.progress(), d.complete()
		}
		changed := c.changed
		c.mu.Unlock()

		if progress != nil && (last == nil || !sameCounts(*last, p)) {
			progress(p)
			last = &p
		}
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("follow the rollout of %s in %s: %w", t.Deployment, t.Namespace, ctx.Err())
		}
	}
}

// apply applies the app's Deployment, as `helm upgrade --install` does:
// pods of another image or release start a rollout.
func (c *simCluster) apply(_ context.Context, d appDeployment) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.namespaces[d.namespace]; !ok {
		return fmt.Errorf("apply deployment %s in %s: namespace %q not found", d.name, d.namespace, d.namespace)
	}
	key := d.namespace + "/" + d.name
	current, ok := c.deployments[key]
	if !ok {
		current = &simDeployment{}
		c.deployments[key] = current
	}
	if template := d.image + " " + d.release; current.template != template || current.desired != appReplicas {
		current.roll(template, appReplicas)
		c.broadcastLocked()
	}
	return nil
}

// seed creates a long-lived environment's namespace, as the platform team
// would, and the app's Deployment in it, rolled out by an earlier release.
func (c *simCluster) seed(d appDeployment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.namespaces[d.namespace] = simNamespace{}
	c.deployments[d.namespace+"/"+d.name] = &simDeployment{
		template: d.image + " " + d.release, desired: appReplicas, updated: appReplicas, ready: appReplicas,
	}
}

// roll starts a rollout to template: the available pods of the template
// before become old ones, the others go, and new pods start as far as
// maxSurge allows.
func (d *simDeployment) roll(template string, replicas int32) {
	if d.template != template {
		d.old += d.ready
		d.updated, d.ready = 0, 0
		d.template = template
	}
	d.desired = replicas
	d.surge()
}

func (d *simDeployment) surge() {
	d.updated = max(d.updated, min(d.desired, d.desired+maxSurge-d.old))
}

// advance takes one step of the rollout: a new pod becomes available; or,
// once all new pods are, an old one terminates and another new one starts.
// It reports whether anything changed.
func (d *simDeployment) advance() bool {
	switch {
	case d.complete():
		return false
	case d.ready < d.updated:
		d.ready++
		return true
	}
	if d.old > 0 {
		d.old--
	}
	d.surge()
	return true
}

func (d *simDeployment) complete() bool {
	return d.updated == d.desired && d.ready == d.desired && d.old == 0
}

func (d *simDeployment) progress() release.RolloutProgress {
	return release.RolloutProgress{Desired: d.desired, Updated: d.updated, Available: d.ready + d.old, Old: d.old}
}

func sameCounts(a, b release.RolloutProgress) bool {
	return a.Desired == b.Desired && a.Updated == b.Updated && a.Available == b.Available && a.Old == b.Old
}
