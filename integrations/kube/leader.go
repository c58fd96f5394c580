package kube

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/hoistbot/hoist/internal/config"
)

// Election says which Lease the replicas of Hoist compete for, and who
// this one is.
type Election struct {
	// Cluster is where the Lease lives: Hoist's own cluster, usually the
	// in-cluster configuration (an empty Kubeconfig).
	Cluster config.Cluster
	// Namespace and Name locate the Lease (Name defaults to "hoist-leader").
	Namespace string
	Name      string
	// Identity names this replica, its pod's name.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's
	// leader election timings (defaults 15s, 10s, 2s).
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// Lead takes part in the election of a Kubernetes Lease until ctx ends,
// saying in leading whether this replica leads now. A replica that stops
// gives the Lease up at once; one that dies loses it when it expires.
func Lead(ctx context.Context, e Election, leading *atomic.Bool, logger *slog.Logger) error {
	rc, err := restConfig("leader", e.Cluster)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	if e.Name == "" {
		e.Name = "hoist-leader"
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: e.Namespace, Name: e.Name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: e.Identity},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   orDefault(e.LeaseDuration, 15*time.Second),
		RenewDeadline:   orDefault(e.RenewDeadline, 10*time.Second),
		RetryPeriod:     orDefault(e.RetryPeriod, 2*time.Second),
		ReleaseOnCancel: true,
		Name:            e.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				leading.Store(true)
				logger.Info("leading: this replica runs the background duties", "lease", e.Namespace+"/"+e.Name, "identity", e.Identity)
			},
			OnStoppedLeading: func() {
				if leading.Swap(false) && ctx.Err() == nil {
					logger.Warn("leadership lost: another replica takes over the background duties", "lease", e.Namespace+"/"+e.Name)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	for ctx.Err() == nil {
		elector.Run(ctx) // returns when leadership is lost; then stand again
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
