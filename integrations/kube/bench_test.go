package kube_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/hoistbot/hoist/internal/kubetest"
)

// BenchmarkRollout follows one rollout per iteration (a new image each
// time) of a short (1 replica) and a long (10 replicas, one at a time)
// Deployment, and reports:
//
//   - report-ms: from the moment the Deployment's status says the rollout
//     is complete, as a watch of the benchmark's own sees it, to Rollout
//     returning (mean; report-max-ms the worst). Both watches get the
//     same event from the API server, so the mean can come out a little
//     below zero when Hoist's got there first;
//   - requests/rollout: the API requests Hoist made to follow it, which
//     must not grow with the rollout's length;
//   - rollout-s: how long the rollout took, from the image change.
//
// Each iteration lasts seconds: run it with a count, e.g.
//
//	go test -run '^$' -bench Rollout -benchtime 5x ./integrations/kube/
func BenchmarkRollout(b *testing.B) {
	env := kubetest.Cluster(b)
	for _, bc := range []struct {
		name     string
		replicas int32
	}{
		{"short/replicas=1", 1},
		{"long/replicas=10", 10},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			ns := env.Namespace(b)
			d := kubetest.Deployment("api", bc.replicas)
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}
			create(b, env, ns, d)
			waitRolledOut(b, env, ns, "api")
			c, _ := client(b, env.Kubeconfig)

			var (
				lag, maxLag, took time.Duration
				requests          int64
				rollouts          int
			)
			for b.Loop() {
				rollouts++
				generation := getDeployment(b, env, ns, "api").Generation
				completed, err := watchCompleted(ctx, env, ns, "api", generation)
				if err != nil {
					b.Fatal(err)
				}
				changed := time.Now()
				setImage(b, env, ns, "api", fmt.Sprintf("registry.test/api:v%d", rollouts+1))

				before := c.Requests()
				if err := c.Rollout(ctx, target(ns, "api"), nil); err != nil {
					b.Fatal(err)
				}
				returned := time.Now()
				requests += c.Requests() - before

				at := <-completed
				if at.IsZero() {
					b.Fatal("the benchmark's own watch did not see the rollout complete")
				}
				lag += returned.Sub(at)
				maxLag = max(maxLag, returned.Sub(at))
				took += at.Sub(changed)
			}
			n := float64(rollouts)
			b.ReportMetric(float64(lag)/float64(time.Millisecond)/n, "report-ms")
			b.ReportMetric(float64(maxLag)/float64(time.Millisecond), "report-max-ms")
			b.ReportMetric(float64(requests)/n, "requests/rollout")
			b.ReportMetric(took.Seconds()/n, "rollout-s")
		})
	}
}

// watchCompleted starts a watch of the benchmark's own on the Deployment
// and returns once it is in place. The channel then receives the moment
// the watch saw the status say that a spec newer than generation had
// rolled out (kubectl's rules), or the zero time if the watch failed.
func watchCompleted(ctx context.Context, env *kubetest.Env, ns, name string, generation int64) (<-chan time.Time, error) {
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := cache.NewFilteredListWatchFromClient(env.Client.AppsV1().RESTClient(), "deployments", ns,
		func(o *metav1.ListOptions) { o.FieldSelector = byName })
	synced := make(chan struct{})
	completed := make(chan time.Time, 1)
	go func() {
		var at time.Time
		_, _ = watchtools.UntilWithSync(ctx, lw, &appsv1.Deployment{},
			func(cache.Store) (bool, error) {
				close(synced)
				return false, nil
			},
			func(e watch.Event) (bool, error) {
				d, ok := e.Object.(*appsv1.Deployment)
				if ok && d.Generation > generation && rolledOut(d) {
					at = time.Now()
					return true, nil
				}
				return false, nil
			})
		completed <- at
	}()
	select {
	case <-synced:
		return completed, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
