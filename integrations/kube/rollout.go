package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/hoistbot/hoist/internal/release"
)

// Rollout follows the rollout of a Deployment until it has completed (nil)
// or exceeded its progress deadline (an error wrapping
// release.ErrRolloutFailed that names the pods that cannot start), with the
// semantics of `kubectl rollout status`. It calls progress, when not nil,
// with the first observation and after every change.
//
// A Deployment that does not exist yet is waited for, without a call to
// progress until it appears. Rollout returns when ctx ends, which is how
// the caller bounds the wait.
//
// It watches, never polls: one list and one watch each of the Deployment,
// its ReplicaSets and its pods, however long the rollout lasts (client-go
// renews a watch every 5 to 10 minutes).
func (c *Client) Rollout(ctx context.Context, t release.RolloutTarget, progress func(release.RolloutProgress)) error {
	cl, err := c.cluster(t.Cluster)
	if err != nil {
		return err
	}
	if progress == nil {
		progress = func(release.RolloutProgress) {}
	}
	f := &follower{
		cluster:  cl,
		target:   t,
		progress: progress,
		logger:   c.logger.With("cluster", t.Cluster, "namespace", t.Namespace, "deployment", t.Deployment),
		changed:  make(chan struct{}, 1),
		broken:   make(chan error, 1),
	}
	return f.follow(ctx)
}

// follower follows one rollout. Informers keep local copies of the
// Deployment, its ReplicaSets and its pods, and signal every change; one
// loop reads the copies and decides.
type follower struct {
	cluster  *cluster
	target   release.RolloutTarget
	progress func(release.RolloutProgress)
	logger   *slog.Logger

	// changed receives a signal when a watched object changed.
	changed chan struct{}
	// broken receives the first error that stops an informer from
	// listing or watching.
	broken chan error

	deployments appslisters.DeploymentLister
	// pods watches the Deployment's ReplicaSets and pods once the
	// Deployment is known (their selector is its own).
	pods *podWatch
	last *release.RolloutProgress
}

// podWatch is the informers on a Deployment's ReplicaSets and pods.
type podWatch struct {
	selector    string
	replicaSets appslisters.ReplicaSetLister
	pods        corelisters.PodLister
	stop        func()
}

func (f *follower) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var running sync.WaitGroup
	defer func() {
		cancel()
		if f.pods != nil {
			f.pods.stop()
		}
		running.Wait()
	}()

	byName := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", f.target.Deployment).String()
	}
	deployments, err := f.start(ctx, &running, "deployments", &appsv1.Deployment{},
		listWatch(f.cluster.api.Apps, "deployments", f.target.Namespace, byName))
	if err != nil {
		return err
	}
	f.deployments = appslisters.NewDeploymentLister(deployments.GetIndexer())
	if err := f.synced(ctx, deployments); err != nil {
		return err
	}

	for {
		d, err := f.deployments.Deployments(f.target.Namespace).Get(f.target.Deployment)
		if err != nil && !apierrors.IsNotFound(err) {
			return f.cluster.fail(f.doing(), err)
		}
		if d != nil {
			if err := f.watchPods(ctx, d); err != nil {
				return err
			}
		}
		waiting, err := f.observe(d)
		if err != nil || waiting == "" {
			return err
		}
		select {
		case <-f.changed:
		case err := <-f.broken:
			return err
		case <-ctx.Done():
			return fmt.Errorf("%s: %w; it was waiting for %s", f.doing(), context.Cause(ctx), waiting)
		}
	}
}

// observe reports the rollout's progress if it changed, and says what the
// rollout still waits for: nothing when it is complete, or an error when it
// failed.
func (f *follower) observe(d *appsv1.Deployment) (waiting string, err error) {
	if d == nil {
		f.logger.Debug("deployment does not exist yet; waiting for it")
		return "the deployment to be created", nil
	}
	v := judge(d)
	p := progressOf(d)
	var rs *appsv1.ReplicaSet
	if observed(d) {
		rs = f.newReplicaSet(d)
		p.Stuck = f.stuckPods(rs)
	}
	f.report(p)
	switch {
	case v.deadlineExceeded:
		return "", deadlineError(d, rs, p.Stuck)
	case v.done:
		return "", nil
	case len(p.Stuck) > 0:
		return v.waiting + " (" + summarise(p.Stuck) + ")", nil
	}
	return v.waiting, nil
}

func (f *follower) report(p release.RolloutProgress) {
	if f.last != nil && sameProgress(*f.last, p) {
		return
	}
	f.last = &p
	f.progress(p)
}

func sameProgress(a, b release.RolloutProgress) bool {
	return a.Desired == b.Desired && a.Updated == b.Updated && a.Available == b.Available && a.Old == b.Old &&
		slices.Equal(a.Stuck, b.Stuck)
}

func (f *follower) newReplicaSet(d *appsv1.Deployment) *appsv1.ReplicaSet {
	all, err := f.pods.replicaSets.ReplicaSets(f.target.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return newReplicaSet(d, all)
}

func (f *follower) stuckPods(rs *appsv1.ReplicaSet) []string {
	if rs == nil {
		return nil
	}
	pods, err := f.pods.pods.Pods(f.target.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return stuckPods(rs, pods)
}

// watchPods starts the informers on the Deployment's ReplicaSets and pods,
// or restarts them if the Deployment was re-created with another selector.
func (f *follower) watchPods(ctx context.Context, d *appsv1.Deployment) error {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return fmt.Errorf("%s: read its selector: %w", f.doing(), err)
	}
	if f.pods != nil && f.pods.selector == selector.String() {
		return nil
	}
	if f.pods != nil {
		f.pods.stop()
	}
	ctx, cancel := context.WithCancel(ctx)
	var running sync.WaitGroup
	f.pods = &podWatch{
		selector: selector.String(),
		stop: func() {
			cancel()
			running.Wait()
		},
	}
	bySelector := func(o *metav1.ListOptions) { o.LabelSelector = selector.String() }
	replicaSets, err := f.start(ctx, &running, "replicasets", &appsv1.ReplicaSet{},
		listWatch(f.cluster.api.Apps, "replicasets", f.target.Namespace, bySelector))
	if err != nil {
		return err
	}
	pods, err := f.start(ctx, &running, "pods", &corev1.Pod{},
		listWatch(f.cluster.api.Core, "pods", f.target.Namespace, bySelector))
	if err != nil {
		return err
	}
	f.pods.replicaSets = appslisters.NewReplicaSetLister(replicaSets.GetIndexer())
	f.pods.pods = corelisters.NewPodLister(pods.GetIndexer())
	return f.synced(ctx, replicaSets, pods)
}

// listWatch lists and watches a resource in a namespace, selected by
// tweak, the classic way: a list, then a watch from the list's version.
//
// The list is a consistent read. client-go's informers list from the API
// server's watch cache, which can lag behind a change made a moment ago:
// right after a new image is set, the finished rollout before it would
// pass for this one.
//
// Streaming lists (client-go's WatchListClient feature) are off: they retry
// a refused connection forever, with a backoff that ignores cancellation, so
// an unreachable cluster would never be reported and a cancelled Rollout
// would not return promptly.
func listWatch(client rest.Interface, resource, namespace string, tweak func(*metav1.ListOptions)) cache.ListerWatcher {
	current := func(o *metav1.ListOptions) {
		tweak(o)
		if !o.Watch {
			o.ResourceVersion, o.ResourceVersionMatch = "", ""
		}
	}
	return cache.ToListWatcherWithWatchListSemantics(cache.NewFilteredListWatchFromClient(client, resource, namespace, current), noStreamingLists{})
}

type noStreamingLists struct{}

func (noStreamingLists) IsWatchListSemanticsUnSupported() bool { return true }

// start runs an informer that keeps a copy of what lw lists and watches,
// until ctx ends; running waits for it to stop.
func (f *follower) start(ctx context.Context, running *sync.WaitGroup, resource string, example runtime.Object, lw cache.ListerWatcher) (cache.SharedIndexInformer, error) {
	informer := cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := f.listen(informer, resource); err != nil {
		return nil, err
	}
	running.Go(func() { informer.RunWithContext(ctx) })
	return informer, nil
}

// listen has the informer signal every change on f.changed, and the first
// error that stops it from listing or watching on f.broken.
func (f *follower) listen(informer cache.SharedIndexInformer, resource string) error {
	signal := func() {
		select {
		case f.changed <- struct{}{}:
		default:
		}
	}
	_, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal() },
		UpdateFunc: func(any, any) { signal() },
		DeleteFunc: func(any) { signal() },
	})
	if err != nil {
		return fmt.Errorf("%s: watch %s: %w", f.doing(), resource, err)
	}
	return informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
		if ctx.Err() != nil || routine(err) {
			return
		}
		select {
		case f.broken <- f.cluster.fail(f.doing()+": list and watch "+resource, err):
		default:
		}
	})
}

// routine reports whether a watch error is part of normal operation, which
// the informer recovers from by itself.
func routine(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		apierrors.IsResourceExpired(err) || apierrors.IsGone(err) ||
		errors.Is(err, context.Canceled)
}

// synced waits until the informers hold a full copy of what they watch.
func (f *follower) synced(ctx context.Context, informers ...cache.SharedIndexInformer) error {
	for _, informer := range informers {
		select {
		case <-informer.HasSyncedChecker().Done():
		case err := <-f.broken:
			return err
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", f.doing(), context.Cause(ctx))
		}
	}
	return nil
}

func (f *follower) doing() string {
	return fmt.Sprintf("follow the rollout of deployment %s in namespace %s", f.target.Deployment, f.target.Namespace)
}
