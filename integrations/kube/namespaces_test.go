package kube_test

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoistbot/hoist/internal/kubetest"
	"github.com/hoistbot/hoist/internal/release"
)

func TestEnsureNamespaceTwiceKeepsOneNamespaceWithTheLaterExpiry(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx := t.Context()
	c, _ := client(t, env.Kubeconfig)
	name := env.NamespaceName(t)
	first := release.Namespace{
		Cluster: cluster, Name: name, App: "api", Branch: "feature-x", Owner: "U123",
		ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)), Release: 41,
	}
	if err := c.EnsureNamespace(ctx, first); err != nil {
		t.Fatal(err)
	}
	created := getNamespace(t, env, name)
	// Another tool's label must survive Hoist's update.
	created.Labels["team"] = "payments"
	if _, err := env.Client.CoreV1().Namespaces().Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	second := first
	second.ExpiresAt = first.ExpiresAt.Add(48 * time.Hour)
	second.Release = 42
	if err := c.EnsureNamespace(ctx, second); err != nil {
		t.Fatal(err)
	}
	updated := getNamespace(t, env, name)
	if updated.UID != created.UID {
		t.Fatal("the second env up made a new namespace; want the same one kept")
	}
	wantLabels := map[string]string{
		"app.kubernetes.io/managed-by": "hoist", "hoist.dev/app": "api", "hoist.dev/branch": "feature-x", "team": "payments",
	}
	for k, v := range wantLabels {
		if updated.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, updated.Labels[k], v)
		}
	}
	wantAnnotations := map[string]string{
		"hoist.dev/owner": "U123", "hoist.dev/expires-at": "2030-01-04T02:04:05Z", "hoist.dev/release": "42",
	}
	if !maps.Equal(updated.Annotations, wantAnnotations) {
		t.Errorf("annotations = %v, want %v", updated.Annotations, wantAnnotations)
	}

	listed := findNamespace(t, c, name)
	if listed == nil {
		t.Fatalf("ListNamespaces does not list %s", name)
	}
	want := second
	want.ExpiresAt = second.ExpiresAt.UTC()
	if *listed != want {
		t.Errorf("listed %+v, want %+v", *listed, want)
	}
}

func TestEnsureNamespaceLeavesAnUnmanagedNamespaceAlone(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx := t.Context()
	c, _ := client(t, env.Kubeconfig)
	name := env.NamespaceName(t)
	before := createUnmanaged(t, env, name)

	err := c.EnsureNamespace(ctx, release.Namespace{Cluster: cluster, Name: name, App: "api", Branch: "x", Owner: "U1"})
	if !errors.Is(err, release.ErrNotManaged) {
		t.Fatalf("%v: want ErrNotManaged", err)
	}
	if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "never changes or deletes a namespace it did not create") {
		t.Errorf("error %q does not say which namespace and why", err)
	}
	after := getNamespace(t, env, name)
	if after.ResourceVersion != before.ResourceVersion || !maps.Equal(after.Labels, before.Labels) || len(after.Annotations) != 0 {
		t.Errorf("the namespace changed: labels %v annotations %v", after.Labels, after.Annotations)
	}
}

func TestDeleteNamespaceRefusesAnUnmanagedNamespace(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	c, _ := client(t, env.Kubeconfig)
	name := env.NamespaceName(t)
	createUnmanaged(t, env, name)

	err := c.DeleteNamespace(t.Context(), cluster, name)
	if !errors.Is(err, release.ErrNotManaged) {
		t.Fatalf("%v: want ErrNotManaged", err)
	}
	if ns := getNamespace(t, env, name); ns.DeletionTimestamp != nil {
		t.Fatal("the unmanaged namespace is being deleted")
	}
}

func TestDeleteNamespaceDeletesAManagedNamespace(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx := t.Context()
	c, _ := client(t, env.Kubeconfig)
	name := env.NamespaceName(t)
	if err := c.EnsureNamespace(ctx, release.Namespace{Cluster: cluster, Name: name, App: "api", Branch: "x"}); err != nil {
		t.Fatal(err)
	}

	if err := c.DeleteNamespace(ctx, cluster, name); err != nil {
		t.Fatal(err)
	}
	ns, err := env.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Fatal("the namespace is neither gone nor being deleted")
	}
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if findNamespace(t, c, name) != nil {
		t.Error("ListNamespaces still lists the deleted environment")
	}
	if err := c.DeleteNamespace(ctx, cluster, name); err != nil {
		t.Errorf("deleting it again: %v, want nil", err)
	}
	if err := c.DeleteNamespace(ctx, cluster, env.NamespaceName(t)); err != nil {
		t.Errorf("deleting a namespace that never existed: %v, want nil", err)
	}
}

func TestEnsureNamespaceWaitsForAnEarlierOneToFinishTerminating(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, _ := client(t, env.Kubeconfig)
	name := env.NamespaceName(t)
	ns := release.Namespace{Cluster: cluster, Name: name, App: "api", Branch: "x", Release: 1}
	if err := c.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	old := getNamespace(t, env, name)
	if err := c.DeleteNamespace(ctx, cluster, name); err != nil {
		t.Fatal(err)
	}

	ns.Release = 2
	if err := c.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	fresh := getNamespace(t, env, name)
	if fresh.UID == old.UID || fresh.DeletionTimestamp != nil {
		t.Fatal("env up after env down left the terminating namespace; want a new one")
	}
	if fresh.Annotations["hoist.dev/release"] != "2" {
		t.Errorf("release annotation %q, want 2", fresh.Annotations["hoist.dev/release"])
	}
}

func TestListNamespacesToleratesAnnotationsEditedByHand(t *testing.T) {
	env := kubetest.Cluster(t)
	t.Parallel()
	c, logs := client(t, env.Kubeconfig)
	name := env.NamespaceName(t)
	_, err := env.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Labels:      map[string]string{"app.kubernetes.io/managed-by": "hoist", "hoist.dev/app": "web", "hoist.dev/branch": "fix-1"},
		Annotations: map[string]string{"hoist.dev/owner": "U9", "hoist.dev/expires-at": "tomorrow", "hoist.dev/release": "#7"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	listed := findNamespace(t, c, name)
	want := release.Namespace{Cluster: cluster, Name: name, App: "web", Branch: "fix-1", Owner: "U9"}
	if listed == nil || *listed != want {
		t.Fatalf("listed %+v, want %+v", listed, want)
	}
	if !strings.Contains(logs.String(), "hoist.dev/expires-at") {
		t.Errorf("the unreadable annotation is not logged:\n%s", logs)
	}
}

func getNamespace(t *testing.T, env *kubetest.Env, name string) *corev1.Namespace {
	t.Helper()
	ns, err := env.Client.CoreV1().Namespaces().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func createUnmanaged(t *testing.T, env *kubetest.Env, name string) *corev1.Namespace {
	t.Helper()
	ns, err := env.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name, Labels: map[string]string{"team": "payments"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func findNamespace(t *testing.T, c release.Cluster, name string) *release.Namespace {
	t.Helper()
	all, err := c.ListNamespaces(t.Context(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		if all[i].Name == name {
			return &all[i]
		}
	}
	return nil
}
