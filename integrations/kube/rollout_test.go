package kube_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/hoistbot/hoist/internal/kubetest"
	"github.com/hoistbot/hoist/internal/release"
)

func TestRolloutSucceedsOnlyOnceEveryReplicaIsUpdatedAndAvailable(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, _ := client(t, env.Kubeconfig)
	ns := env.Namespace(t)
	create(t, env, ns, kubetest.Deployment("api", 3))
	waitRolledOut(t, env, ns, "api")

	setImage(t, env, ns, "api", "registry.test/api:v2")
	var rec recorder
	if err := c.Rollout(ctx, target(ns, "api"), rec.record); err != nil {
		t.Fatal(err)
	}

	d := getDeployment(t, env, ns, "api")
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != 3 || s.Replicas != 3 || s.AvailableReplicas != 3 {
		t.Fatalf("Rollout returned before the rollout completed: %+v", s)
	}
	if last, want := rec.last(), (release.RolloutProgress{Desired: 3, Updated: 3, Available: 3}); !equal(last, want) {
		t.Errorf("last progress %+v, want %+v", last, want)
	}
}

func TestRolloutFailsWhenItExceedsItsProgressDeadline(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, _ := client(t, env.Kubeconfig)
	ns := env.Namespace(t)
	d := kubetest.Deployment("api", 2)
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](10)
	create(t, env, ns, d)
	waitRolledOut(t, env, ns, "api")

	// The new version's pods run but never pass their readiness probe.
	patch(t, env, ns, "api", `{"spec":{"template":{"metadata":{"labels":{"`+kubetest.LabelNeverReady+`":"true"}},`+
		`"spec":{"containers":[{"name":"app","image":"registry.test/api:v2"}]}}}}`)
	err := c.Rollout(ctx, target(ns, "api"), nil)
	if !errors.Is(err, release.ErrRolloutFailed) {
		t.Fatalf("%v: want ErrRolloutFailed", err)
	}
	if want := "deployment api exceeded its progress deadline (10s); 0 of 2 new replicas available"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestRolloutNamesCrashingPods(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, _ := client(t, env.Kubeconfig)
	ns := env.Namespace(t)
	d := kubetest.Deployment("api", 1)
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](10)
	d.Spec.Template.Labels[kubetest.LabelCrash] = "true"
	create(t, env, ns, d)

	var rec recorder
	err := c.Rollout(ctx, target(ns, "api"), rec.record)
	stuck := rec.stuck()
	crashing := regexp.MustCompile(`^(api-[a-z0-9]+-[a-z0-9]+): CrashLoopBackOff: back-off 40s restarting failed container=app`)
	m := crashing.FindStringSubmatch(stuck)
	if m == nil {
		t.Fatalf("progress reported stuck pods %q, want the crashing pod and CrashLoopBackOff", stuck)
	}
	if _, getErr := env.Client.CoreV1().Pods(ns).Get(ctx, m[1], metav1.GetOptions{}); getErr != nil {
		t.Errorf("the pod named is not a real pod: %v", getErr)
	}
	if !errors.Is(err, release.ErrRolloutFailed) || !strings.Contains(err.Error(), m[0]) {
		t.Fatalf("%v: want ErrRolloutFailed naming %q", err, m[0])
	}
}

func TestRolloutNamesUnschedulablePods(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, _ := client(t, env.Kubeconfig)
	ns := env.Namespace(t)
	d := kubetest.Deployment("api", 1)
	d.Spec.ProgressDeadlineSeconds = ptr.To[int32](10)
	d.Spec.Template.Spec.NodeSelector = map[string]string{"gpu": "h100"}
	create(t, env, ns, d)

	var rec recorder
	err := c.Rollout(ctx, target(ns, "api"), rec.record)
	const why = ": Unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."
	if stuck := rec.stuck(); !strings.HasPrefix(stuck, "api-") || !strings.Contains(stuck, why) {
		t.Errorf("progress reported stuck pods %q, want the pod and why it cannot be scheduled", stuck)
	}
	if !errors.Is(err, release.ErrRolloutFailed) || !strings.Contains(err.Error(), why) {
		t.Fatalf("%v: want ErrRolloutFailed saying why", err)
	}
}

// Hoist starts following as soon as the pipeline has set the new image: the
// rollout that finished before it must not pass for this one.
func TestRolloutRightAfterAChangeFollowsThatChange(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	c, _ := client(t, env.Kubeconfig)
	ns := env.Namespace(t)
	create(t, env, ns, kubetest.Deployment("api", 1))
	waitRolledOut(t, env, ns, "api")
	for i := range 10 {
		patch(t, env, ns, "api", fmt.Sprintf(`{"spec":{"template":{"metadata":{"labels":{%q:"true"}},`+
			`"spec":{"containers":[{"name":"app","image":"registry.test/api:bad%d"}]}}}}`, kubetest.LabelNeverReady, i))
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		err := c.Rollout(ctx, target(ns, "api"), nil)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("change %d: Rollout returned %v while the new pods were not ready", i+1, err)
		}
		patch(t, env, ns, "api", fmt.Sprintf(`{"spec":{"template":{"metadata":{"labels":{%q:null}},`+
			`"spec":{"containers":[{"name":"app","image":"registry.test/api:good%d"}]}}}}`, kubetest.LabelNeverReady, i))
		waitRolledOut(t, env, ns, "api")
	}
}

// After a restart Hoist starts following a rollout that is under way.
func TestRolloutFollowedFromTheMiddle(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, _ := client(t, env.Kubeconfig)
	ns := env.Namespace(t)
	d := kubetest.Deployment("api", 4)
	d.Spec.MinReadySeconds = 1 // one replica at a time, a second each
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}
	create(t, env, ns, d)
	waitRolledOut(t, env, ns, "api")

	setImage(t, env, ns, "api", "registry.test/api:v2")
	waitDeployment(t, env, ns, "api", func(d *appsv1.Deployment) bool {
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= 1 && d.Status.Replicas > d.Status.UpdatedReplicas
	})
	var rec recorder
	if err := c.Rollout(ctx, target(ns, "api"), rec.record); err != nil {
		t.Fatal(err)
	}

	if first := rec.first(); first.Old == 0 || first.Updated == 0 {
		t.Errorf("first progress %+v: want the rollout seen under way, old and new replicas both running", first)
	}
	if last, want := rec.last(), (release.RolloutProgress{Desired: 4, Updated: 4, Available: 4}); !equal(last, want) {
		t.Errorf("last progress %+v, want %+v", last, want)
	}
	if s := getDeployment(t, env, ns, "api").Status; s.Replicas != 4 || s.UpdatedReplicas != 4 || s.AvailableReplicas != 4 {
		t.Errorf("Rollout returned before the rollout completed: %+v", s)
	}
}

func TestRolloutWaitsForTheDeploymentToBeCreated(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, _ := client(t, env.Kubeconfig)
	ns := env.Namespace(t)

	rec := recorder{reported: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- c.Rollout(ctx, target(ns, "api"), rec.record) }()
	select {
	case <-rec.reported:
		t.Fatalf("progress %+v reported for a Deployment that does not exist", rec.first())
	case err := <-done:
		t.Fatalf("Rollout of a Deployment not yet created returned %v; want it to wait", err)
	case <-time.After(time.Second): // time to list and find nothing
	}

	create(t, env, ns, kubetest.Deployment("api", 2))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if last, want := rec.last(), (release.RolloutProgress{Desired: 2, Updated: 2, Available: 2}); !equal(last, want) {
		t.Errorf("last progress %+v, want %+v", last, want)
	}
}

func TestRolloutReturnsWhenItsContextIsCancelled(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	c, _ := client(t, env.Kubeconfig)
	ns := env.Namespace(t)
	d := kubetest.Deployment("api", 1)
	d.Spec.Template.Labels[kubetest.LabelNeverReady] = "true"
	create(t, env, ns, d)

	ctx, cancel := context.WithCancel(t.Context())
	rec := recorder{reported: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() { done <- c.Rollout(ctx, target(ns, "api"), rec.record) }()
	<-rec.reported
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%v: want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Rollout still running 10s after its context was cancelled")
	}
}

func target(ns, deployment string) release.RolloutTarget {
	return release.RolloutTarget{Cluster: cluster, Namespace: ns, Deployment: deployment}
}

// recorder keeps every progress report.
type recorder struct {
	mu  sync.Mutex
	all []release.RolloutProgress
	// reported, when not nil, is signalled after each report.
	reported chan struct{}
}

func (r *recorder) record(p release.RolloutProgress) {
	r.mu.Lock()
	r.all = append(r.all, p)
	r.mu.Unlock()
	if r.reported != nil {
		select {
		case r.reported <- struct{}{}:
		default:
		}
	}
}

func (r *recorder) first() release.RolloutProgress {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		return release.RolloutProgress{Desired: -1}
	}
	return r.all[0]
}

func (r *recorder) last() release.RolloutProgress {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.all) == 0 {
		return release.RolloutProgress{Desired: -1}
	}
	return r.all[len(r.all)-1]
}

// stuck returns every stuck pod ever reported, one a line.
func (r *recorder) stuck() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for _, p := range r.all {
		lines = append(lines, p.Stuck...)
	}
	return strings.Join(lines, "\n")
}

func equal(a, b release.RolloutProgress) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func create(t testing.TB, env *kubetest.Env, ns string, d *appsv1.Deployment) {
	t.Helper()
	if _, err := env.Client.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func getDeployment(t testing.TB, env *kubetest.Env, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := env.Client.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func setImage(t testing.TB, env *kubetest.Env, ns, name, image string) {
	t.Helper()
	patch(t, env, ns, name, `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"`+image+`"}]}}}}`)
}

// patch applies a strategic merge patch to the Deployment.
func patch(t testing.TB, env *kubetest.Env, ns, name, body string) {
	t.Helper()
	_, err := env.Client.AppsV1().Deployments(ns).Patch(context.Background(), name, types.StrategicMergePatchType, []byte(body), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// waitRolledOut waits, with a watch of the test's own, until the
// Deployment has rolled out as kubectl sees it, and returns when the
// status that says so arrived.
func waitRolledOut(t testing.TB, env *kubetest.Env, ns, name string) time.Time {
	t.Helper()
	return waitDeployment(t, env, ns, name, rolledOut)
}

func rolledOut(d *appsv1.Deployment) bool {
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == *d.Spec.Replicas &&
		s.Replicas == s.UpdatedReplicas && s.AvailableReplicas == s.UpdatedReplicas
}

// waitDeployment watches the Deployment until ok holds, and returns when
// the status that satisfied it arrived.
func waitDeployment(t testing.TB, env *kubetest.Env, ns, name string, ok func(*appsv1.Deployment) bool) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		at   time.Time
		last *appsv1.Deployment
	)
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := cache.NewFilteredListWatchFromClient(env.Client.AppsV1().RESTClient(), "deployments", ns,
		func(o *metav1.ListOptions) { o.FieldSelector = byName })
	_, err := watchtools.UntilWithSync(ctx, lw, &appsv1.Deployment{}, nil, func(e watch.Event) (bool, error) {
		d, isDeployment := e.Object.(*appsv1.Deployment)
		if isDeployment {
			last = d
		}
		if isDeployment && e.Type != watch.Deleted && ok(d) {
			at = time.Now()
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		status := "never seen"
		if last != nil {
			status = fmt.Sprintf("generation %d, status %+v", last.Generation, last.Status)
		}
		t.Fatalf("wait for deployment %s: %v; last seen: %s", name, err, status)
	}
	return at
}
