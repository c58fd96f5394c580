package kube_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
