package release

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// RoleRollout names the live rollout message in a release's thread.
const RoleRollout = "rollout"

// rolloutRetry is how soon following a rollout is tried again after the
// cluster could not be reached.
const rolloutRetry = 5 * time.Second

// rollout follows the rollout of the release's Deployment after its build
// until it has succeeded or failed, showing its progress in the thread.
// The deadline counts from the moment the release began rolling out, so a
// restart resumes following with the time that is left.
func (w *Worker) rollout(ctx context.Context, r Release) (Release, error) {
	env := w.envs[r.Env]
	if w.ports.Cluster == nil {
		return w.move(ctx, r, Succeeded, r.StateReason+"; rollout not watched: Hoist has no connection to cluster "+env.Cluster)
	}
	target := RolloutTarget{Cluster: env.Cluster, Namespace: w.namespace(ctx, r), Deployment: w.apps[r.App].Deployment}
	timeout := env.RolloutDeadline()
	view := RolloutView{Release: r.ID, Cluster: target.Cluster, Namespace: target.Namespace, Deployment: target.Deployment, Started: r.UpdatedAt}
	var (
		mu     sync.Mutex
		live   MessageRef
		posted bool
	)
	// show posts the live message on the first news, so that a rollout
	// Hoist cannot follow leaves no message behind, then updates it.
	show := func(v RolloutView) {
		if !posted {
			var fresh bool
			live, fresh = w.rolloutMessage(ctx, r, v)
			if posted = true; fresh {
				return
			}
		}
		w.showRollout(ctx, live, v)
	}

	rctx, cancel := context.WithDeadline(ctx, r.UpdatedAt.Add(timeout))
	defer cancel()
	err := w.ports.Cluster.Rollout(rctx, target, func(p RolloutProgress) {
		mu.Lock()
		defer mu.Unlock()
		view.Progress, view.Seen, view.Now = p, true, w.now()
		show(view)
	})
	mu.Lock()
	defer mu.Unlock()
	view.Now = w.now()
	switch {
	case err == nil:
		view.Result = "succeeded"
		show(view)
		return w.move(ctx, r, Succeeded, fmt.Sprintf("%s; rolled out in %s", r.StateReason, view.Now.Sub(view.Started).Round(time.Second)))
	case ctx.Err() != nil:
		return r, ctx.Err()
	case rctx.Err() != nil:
		reason := fmt.Sprintf("rollout of `%s` in `%s` did not finish within %s (environments.%s.rollout_timeout): %s",
			target.Deployment, target.Namespace, timeout, r.Env, rolloutSummary(view))
		return w.failRollout(ctx, r, show, view, reason)
	case errors.Is(err, ErrNoCluster):
		return w.move(ctx, r, Succeeded, r.StateReason+"; rollout not watched: "+err.Error())
	case errors.Is(err, ErrRolloutFailed):
		return w.failRollout(ctx, r, show, view, err.Error())
	case errors.Is(err, ErrUnavailable):
		w.logger.WarnContext(ctx, "follow rollout later", "release", r.ID, "err", err)
		w.wakeAt(r.ID, w.now().Add(rolloutRetry))
		return r, nil
	}
	return w.failRollout(ctx, r, show, view, "follow rollout: "+err.Error())
}

func (w *Worker) failRollout(ctx context.Context, r Release, show func(RolloutView), view RolloutView, reason string) (Release, error) {
	view.Result, view.Reason = "failed", reason
	show(view)
	return w.move(ctx, r, Failed, r.StateReason+"; "+reason)
}

// rolloutSummary says how far a rollout got, for a timeout's reason.
func rolloutSummary(v RolloutView) string {
	if !v.Seen {
		return fmt.Sprintf("Deployment `%s` was never seen in namespace `%s`", v.Deployment, v.Namespace)
	}
	p := v.Progress
	text := fmt.Sprintf("%d of %d replicas updated, %d available", p.Updated, p.Desired, p.Available)
	if p.Old > 0 {
		text += fmt.Sprintf(", %d old still running", p.Old)
	}
	for _, s := range p.Stuck {
		text += "; " + s
	}
	return text
}

// rolloutMessage finds the release's live rollout message, or posts it
// showing v (fresh). A zero ref means there is none to update.
func (w *Worker) rolloutMessage(ctx context.Context, r Release, v RolloutView) (ref MessageRef, fresh bool) {
	if w.ports.RolloutChat == nil || r.MessageTS == "" {
		return MessageRef{}, false
	}
	msgs, err := w.store.Messages(ctx, r.ID)
	if err != nil {
		w.logger.WarnContext(ctx, "load rollout message", "release", r.ID, "err", err)
		return MessageRef{}, false
	}
	if ref, ok := msgs[RoleRollout]; ok {
		return ref, false
	}
	// Posted and recorded even when Hoist is stopping meanwhile, or the
	// next start would post another.
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ref, err = w.ports.RolloutChat.PostRollout(kctx, MessageRef{Channel: r.MessageChannel, TS: r.MessageTS}, v)
	if err != nil {
		w.logger.WarnContext(ctx, "post rollout message", "release", r.ID, "err", err)
		return MessageRef{}, false
	}
	if err := w.store.PutMessage(kctx, r.ID, RoleRollout, ref); err != nil {
		w.logger.WarnContext(ctx, "record rollout message", "release", r.ID, "err", err)
	}
	return ref, true
}

func (w *Worker) showRollout(ctx context.Context, ref MessageRef, v RolloutView) {
	if ref.TS == "" {
		return
	}
	if err := w.ports.RolloutChat.UpdateRollout(ctx, ref, v); err != nil {
		w.logger.WarnContext(ctx, "show rollout", "release", v.Release, "err", err)
	}
}

// namespace is where a release's app runs: the namespace recorded for its
// ephemeral environment, or its environment's template.
func (w *Worker) namespace(ctx context.Context, r Release) string {
	if e, err := w.store.GetEnvironment(ctx, r.App, r.Ref); err == nil && e.Env == r.Env {
		return e.Namespace
	}
	return w.envs[r.Env].NamespaceFor(r.App, r.Env, r.Ref)
}
