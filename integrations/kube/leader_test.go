package kube_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/hoistbot/hoist/integrations/kube"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/kubetest"
)

func TestOneReplicaLeadsThroughALease(t *testing.T) {
	env := kubetest.Cluster(t)
	ns := env.Namespace(t)
	election := func(identity string) kube.Election {
		return kube.Election{Cluster: config.Cluster{Kubeconfig: env.Kubeconfig}, Namespace: ns, Identity: identity,
			LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond}
	}
	run := func(identity string) (*atomic.Bool, context.CancelFunc, chan struct{}) {
		var leading atomic.Bool
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := kube.Lead(ctx, election(identity), &leading, slog.New(slog.DiscardHandler)); err != nil {
				t.Error(err)
			}
		}()
		t.Cleanup(func() { cancel(); <-done })
		return &leading, cancel, done
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	a, stopA, doneA := run("hoist-a")
	waitFor("a to lead", a.Load)
	b, _, _ := run("hoist-b")
	for range 50 { // two lease periods' worth of retries
		if b.Load() {
			t.Fatal("b leads while a holds the lease")
		}
		time.Sleep(40 * time.Millisecond)
	}
	stopA()
	<-doneA
	if a.Load() {
		t.Error("a still says it leads after it stopped")
	}
	waitFor("b to take over", b.Load)

	lease, err := env.Client.CoordinationV1().Leases(ns).Get(context.Background(), "hoist-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "hoist-b" {
		t.Errorf("lease holder = %v; want hoist-b", lease.Spec.HolderIdentity)
	}
}

// A leader that died without giving its Lease up is replaced once the
// Lease has not been renewed for its duration, on the newcomer's clock, and
// not before.
func TestADeadLeadersLeaseIsTakenOnceExpired(t *testing.T) {
	env := kubetest.Cluster(t)
	ns := env.Namespace(t)
	now := metav1.NewMicroTime(time.Now())
	dead := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "hoist-leader"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("hoist-dead"), LeaseDurationSeconds: ptr.To[int32](2),
			AcquireTime: &now, RenewTime: &now, LeaseTransitions: ptr.To[int32](3)},
	}
	if _, err := env.Client.CoordinationV1().Leases(ns).Create(context.Background(), dead, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var leading atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	started := time.Now()
	go func() {
		defer close(done)
		e := kube.Election{Cluster: config.Cluster{Kubeconfig: env.Kubeconfig}, Namespace: ns, Identity: "hoist-b",
			LeaseDuration: 2 * time.Second, RenewDeadline: time.Second, RetryPeriod: 100 * time.Millisecond}
		if err := kube.Lead(ctx, e, &leading, slog.New(slog.DiscardHandler)); err != nil {
			t.Error(err)
		}
	}()
	defer func() { cancel(); <-done }()
	for !leading.Load() {
		if time.Since(started) > 10*time.Second {
			t.Fatal("hoist-b never took the dead leader's Lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := time.Since(started); took < 2*time.Second {
		t.Errorf("hoist-b took a Lease renewed %s ago, valid for 2s", took.Round(time.Millisecond))
	}
	lease, err := env.Client.CoordinationV1().Leases(ns).Get(context.Background(), "hoist-leader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(lease.Spec.HolderIdentity, "") != "hoist-b" || ptr.Deref(lease.Spec.LeaseTransitions, 0) != 4 {
		t.Errorf("lease holder %v, transitions %v; want hoist-b, 4", lease.Spec.HolderIdentity, lease.Spec.LeaseTransitions)
	}
}
