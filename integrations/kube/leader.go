package kube

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/kubeapi"
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
//
// It follows client-go's leaderelection: the Lease is taken or renewed
// with optimistic concurrency (its resourceVersion), another holder's
// Lease counts as valid for its duration after this replica last saw it
// change (so that the replicas' clocks need not agree), and a leader that
// cannot renew within RenewDeadline stops leading before its Lease can
// expire for the others. client-go's own package would link a client of
// every API group (see internal/kubeapi).
func Lead(ctx context.Context, e Election, leading *atomic.Bool, logger *slog.Logger) error {
	rc, err := restConfig("leader", e.Cluster)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	api, err := kubeapi.New(rc)
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	if e.Name == "" {
		e.Name = "hoist-leader"
	}
	el := &elector{
		leases:        api.Leases(e.Namespace),
		name:          e.Name,
		identity:      e.Identity,
		duration:      orDefault(e.LeaseDuration, 15*time.Second),
		renewDeadline: orDefault(e.RenewDeadline, 10*time.Second),
		retry:         orDefault(e.RetryPeriod, 2*time.Second),
		logger:        logger.With("lease", e.Namespace+"/"+e.Name, "identity", e.Identity),
	}
	el.run(ctx, leading)
	return nil
}

// elector is one replica's part in the election.
type elector struct {
	leases                         kubeapi.Leases
	name, identity                 string
	duration, renewDeadline, retry time.Duration
	logger                         *slog.Logger

	// seen is the Lease as last read and seenAt when it last changed,
	// on this replica's clock.
	seen   *coordinationv1.Lease
	seenAt time.Time
}

func (el *elector) run(ctx context.Context, leading *atomic.Bool) {
	for el.acquire(ctx) {
		leading.Store(true)
		el.logger.Info("leading: this replica runs the background duties")
		el.renew(ctx)
		leading.Store(false)
		if ctx.Err() != nil {
			el.release()
			return
		}
		el.logger.Warn("leadership lost: another replica takes over the background duties")
	}
}

// acquire tries to take the Lease every retry period (with jitter, so that
// replicas started together do not ask together) until it has it, and
// reports false when ctx ended first.
func (el *elector) acquire(ctx context.Context) bool {
	for {
		actx, cancel := context.WithTimeout(ctx, el.renewDeadline)
		took := el.tryAcquireOrRenew(actx)
		cancel()
		if took {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait.Jitter(el.retry, 1.2)):
		}
	}
}

// renew renews the Lease every retry period, and returns when ctx ends or
// when a renewal has not succeeded within the renew deadline.
func (el *elector) renew(ctx context.Context) {
	ticker := time.NewTicker(el.retry)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		rctx, cancel := context.WithTimeout(ctx, el.renewDeadline)
		renewed := wait.PollUntilContextCancel(rctx, el.retry, true, func(ctx context.Context) (bool, error) {
			return el.tryAcquireOrRenew(ctx), nil
		}) == nil
		cancel()
		if !renewed {
			return
		}
	}
}

// tryAcquireOrRenew takes the Lease when it is free, expired or already
// this replica's, and reports whether this replica holds it now.
func (el *elector) tryAcquireOrRenew(ctx context.Context) bool {
	now := time.Now()
	current, err := el.leases.Get(ctx, el.name)
	if apierrors.IsNotFound(err) {
		created, err := el.leases.Create(ctx, el.take(&coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: el.name},
		}, now))
		if err != nil {
			el.logger.Debug("could not create the leader lease", "err", err)
			return false
		}
		el.see(created, time.Now())
		return true
	}
	if err != nil {
		el.logger.Debug("could not read the leader lease", "err", err)
		return false
	}
	// A change is seen when the answer arrives: a slow read must not make
	// another holder's Lease look older than it is.
	el.see(current, time.Now())
	holder := ptr.Deref(current.Spec.HolderIdentity, "")
	if holder != "" && holder != el.identity && time.Now().Before(el.seenAt.Add(leaseDuration(current, el.duration))) {
		return false
	}
	updated, err := el.leases.Update(ctx, el.take(current.DeepCopy(), now))
	if err != nil {
		el.logger.Debug("could not take or renew the leader lease", "err", err)
		return false
	}
	el.see(updated, time.Now())
	return true
}

// take makes lease this replica's from now on.
func (el *elector) take(lease *coordinationv1.Lease, now time.Time) *coordinationv1.Lease {
	at := metav1.NewMicroTime(now)
	if ptr.Deref(lease.Spec.HolderIdentity, "") != el.identity {
		lease.Spec.AcquireTime = &at
		if lease.CreationTimestamp.IsZero() {
			lease.Spec.LeaseTransitions = ptr.To[int32](0)
		} else {
			lease.Spec.LeaseTransitions = ptr.To(ptr.Deref(lease.Spec.LeaseTransitions, 0) + 1)
		}
	}
	lease.Spec.HolderIdentity = ptr.To(el.identity)
	lease.Spec.RenewTime = &at
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(el.duration / time.Second))
	return lease
}

// see remembers lease, and when it changed last.
func (el *elector) see(lease *coordinationv1.Lease, now time.Time) {
	if el.seen == nil || el.seen.ResourceVersion != lease.ResourceVersion {
		el.seen, el.seenAt = lease, now
	}
}

// release gives the Lease up, so that another replica takes over at once
// instead of after it expires.
func (el *elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), el.renewDeadline)
	defer cancel()
	current, err := el.leases.Get(ctx, el.name)
	if err != nil || ptr.Deref(current.Spec.HolderIdentity, "") != el.identity {
		return
	}
	at := metav1.NewMicroTime(time.Now())
	current.Spec.HolderIdentity = ptr.To("")
	current.Spec.LeaseDurationSeconds = ptr.To[int32](1)
	current.Spec.AcquireTime, current.Spec.RenewTime = &at, &at
	if _, err := el.leases.Update(ctx, current); err != nil {
		el.logger.Warn("could not give the leader lease up; another replica takes over when it expires", "err", err)
	}
}

// leaseDuration is how long lease is valid after its last renewal.
func leaseDuration(lease *coordinationv1.Lease, fallback time.Duration) time.Duration {
	if s := ptr.Deref(lease.Spec.LeaseDurationSeconds, 0); s > 0 {
		return time.Duration(s) * time.Second
	}
	return fallback
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
