package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"

	"github.com/hoistbot/hoist/internal/release"
)

// The labels and annotations of the namespaces Hoist manages. People select
// on them with kubectl, so they are a stable interface.
const (
	labelManagedBy      = "app.kubernetes.io/managed-by"
	managedByHoist      = "hoist"
	labelApp            = "hoist.dev/app"
	labelBranch         = "hoist.dev/branch"
	annotationOwner     = "hoist.dev/owner"
	annotationExpiresAt = "hoist.dev/expires-at"
	annotationRelease   = "hoist.dev/release"
)

// EnsureNamespace creates the namespace, or updates the labels and
// annotations of the one Hoist manages under that name (a later expiry, a
// newer release). A namespace of that name that Hoist did not create is
// left untouched: the error wraps release.ErrNotManaged. A managed
// namespace that is still being deleted is waited for, as long as ctx
// allows, and then created again.
func (c *Client) EnsureNamespace(ctx context.Context, ns release.Namespace) error {
	cl, err := c.cluster(ns.Cluster)
	if err != nil {
		return err
	}
	namespaces := cl.api.Namespaces()
	create := func() error {
		fresh := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name}}
		stamp(fresh, ns)
		_, err := namespaces.Create(ctx, fresh)
		return err
	}
	// Someone else may create, change or delete the namespace between our
	// read and our write: the write then fails (AlreadyExists, Conflict)
	// and everything is decided again from a fresh read.
	lostRace := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err = retry.OnError(retry.DefaultRetry, lostRace, func() error {
		current, err := namespaces.Get(ctx, ns.Name)
		switch {
		case apierrors.IsNotFound(err):
			return create()
		case err != nil:
			return err
		case !managed(current):
			return notManaged(cl.name, ns.Name)
		case current.DeletionTimestamp != nil:
			if err := cl.waitGone(ctx, ns.Name); err != nil {
				return err
			}
			return create()
		}
		stamp(current, ns)
		_, err = namespaces.Update(ctx, current)
		return err
	})
	if err != nil && !errors.Is(err, release.ErrNotManaged) {
		return cl.fail("ensure namespace "+ns.Name, err)
	}
	return err
}

// DeleteNamespace deletes a namespace Hoist manages, and exactly the one it
// checked: the deletion carries the namespace's UID as a precondition. It
// returns nil when the namespace is gone or already being deleted, and an
// error wrapping release.ErrNotManaged, without deleting anything, when
// Hoist did not create it.
func (c *Client) DeleteNamespace(ctx context.Context, clusterName, name string) error {
	cl, err := c.cluster(clusterName)
	if err != nil {
		return err
	}
	namespaces := cl.api.Namespaces()
	// A Conflict means the namespace changed under us (the UID
	// precondition failed: it was re-created): check it again.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := namespaces.Get(ctx, name)
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		case !managed(current):
			return notManaged(cl.name, name)
		case current.DeletionTimestamp != nil:
			return nil
		}
		err = namespaces.Delete(ctx, name, metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions(string(current.UID))})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if err != nil && !errors.Is(err, release.ErrNotManaged) {
		return cl.fail("delete namespace "+name, err)
	}
	return err
}

// ListNamespaces returns the namespaces Hoist manages in a cluster, by
// name, leaving out those already being deleted. An annotation that cannot
// be read (edited by hand) is logged and left at its zero value.
func (c *Client) ListNamespaces(ctx context.Context, clusterName string) ([]release.Namespace, error) {
	cl, err := c.cluster(clusterName)
	if err != nil {
		return nil, err
	}
	list, err := cl.api.Namespaces().List(ctx, metav1.ListOptions{LabelSelector: labelManagedBy + "=" + managedByHoist})
	if err != nil {
		return nil, cl.fail("list namespaces", err)
	}
	var out []release.Namespace
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp == nil {
			out = append(out, c.parse(ctx, cl.name, &list.Items[i]))
		}
	}
	slices.SortFunc(out, func(a, b release.Namespace) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// parse reads back what stamp wrote.
func (c *Client) parse(ctx context.Context, clusterName string, ns *corev1.Namespace) release.Namespace {
	out := release.Namespace{
		Cluster: clusterName,
		Name:    ns.Name,
		App:     ns.Labels[labelApp],
		Branch:  ns.Labels[labelBranch],
		Owner:   ns.Annotations[annotationOwner],
	}
	unreadable := func(key string, err error) {
		c.logger.WarnContext(ctx, "unreadable namespace annotation", "cluster", clusterName, "namespace", ns.Name, "annotation", key, "err", err)
	}
	if v, ok := ns.Annotations[annotationExpiresAt]; ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			unreadable(annotationExpiresAt, err)
		}
		out.ExpiresAt = t.UTC()
	}
	if v, ok := ns.Annotations[annotationRelease]; ok {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			unreadable(annotationRelease, err)
		}
		out.Release = release.ID(id)
	}
	return out
}

// stamp writes Hoist's labels and annotations for want on ns, leaving
// everything else as it is.
func stamp(ns *corev1.Namespace, want release.Namespace) {
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	if ns.Annotations == nil {
		ns.Annotations = map[string]string{}
	}
	ns.Labels[labelManagedBy] = managedByHoist
	ns.Labels[labelApp] = want.App
	ns.Labels[labelBranch] = want.Branch
	set := func(key, value string) {
		if value == "" {
			delete(ns.Annotations, key)
			return
		}
		ns.Annotations[key] = value
	}
	set(annotationOwner, want.Owner)
	set(annotationExpiresAt, "")
	if !want.ExpiresAt.IsZero() {
		set(annotationExpiresAt, want.ExpiresAt.UTC().Format(time.RFC3339))
	}
	set(annotationRelease, "")
	if want.Release != 0 {
		set(annotationRelease, want.Release.String())
	}
}

func managed(ns *corev1.Namespace) bool { return ns.Labels[labelManagedBy] == managedByHoist }

func notManaged(clusterName, name string) error {
	return fmt.Errorf("namespace %s in cluster %s exists but lacks the label %s=%s: %w; Hoist never changes or deletes a namespace it did not create",
		name, clusterName, labelManagedBy, managedByHoist, release.ErrNotManaged)
}

// waitGone watches the namespace until it no longer exists, or ctx ends.
func (cl *cluster) waitGone(ctx context.Context, name string) error {
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := listWatch(cl.api.Core, "namespaces", metav1.NamespaceAll,
		func(o *metav1.ListOptions) { o.FieldSelector = byName })
	absent := func(store cache.Store) (bool, error) {
		_, exists, err := store.GetByKey(name)
		return !exists, err
	}
	deleted := func(e watch.Event) (bool, error) { return e.Type == watch.Deleted, nil }
	if _, err := watchtools.UntilWithSync(ctx, lw, &corev1.Namespace{}, absent, deleted); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("wait for namespace %s to finish terminating: %w", name, context.Cause(ctx))
		}
		return fmt.Errorf("wait for namespace %s to finish terminating: %w", name, err)
	}
	return nil
}
