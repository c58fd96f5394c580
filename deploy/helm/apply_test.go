package helm_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hoistbot/hoist/integrations/kube"
	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/kubetest"
	"github.com/hoistbot/hoist/internal/release"
)

// TestChartAppliesToKubernetes applies every object the chart renders, with
// a server-side dry run, to a real API server: in a namespace that enforces
// the "restricted" Pod Security Standard, with strict field validation (a
// misspelt field is an error, not silently dropped), and with no warning
// allowed (a Pod Security violation or a deprecated API is one).
func TestChartAppliesToKubernetes(t *testing.T) {
	cases := map[string]string{
		"defaults":    withSecret,
		"socket mode": withSecret + "config: {slack: {mode: socket}}\n",
		"several replicas on PostgreSQL, with every option": withSecret + `
replicaCount: 3
config: {store: {driver: postgres}}
serviceMonitor: {enabled: true, scrapeTimeout: 10s, labels: {release: prometheus}}
podDisruptionBudget: {enabled: true}
ingress: {enabled: true, className: nginx, host: hoist.example.org, tlsSecretName: hoist-tls}
imagePullSecrets: [registry]
extraEnv: [{name: HTTPS_PROXY, value: "http://proxy:3128"}]
extraVolumes: [{name: kubeconfigs, secret: {secretName: hoist-kubeconfigs}}]
extraVolumeMounts: [{name: kubeconfigs, mountPath: /etc/hoist-clusters, readOnly: true}]
`,
		"without a Secret, persistence, RBAC or ServiceAccount": `
persistence: {enabled: false}
rbac: {create: false}
serviceAccount: {create: false}
`,
	}
	env := kubetest.Cluster(t)
	k := connect(t, env)
	ensureServiceMonitorCRD(t, k)
	for name, values := range cases {
		t.Run(name, func(t *testing.T) {
			ns := restrictedNamespace(t, env)
			m, err := render(t, releaseName, ns, values)
			if err != nil {
				t.Fatal(err)
			}
			for _, obj := range m {
				if err := k.apply(t.Context(), ns, obj, true); err != nil {
					t.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
				}
			}
			for _, w := range k.warnings.take() {
				t.Errorf("the API server warns: %s", w)
			}
		})
	}
}

// TestRBACLetsHoistWork installs the chart's ServiceAccount and RBAC for
// real, then runs Hoist's own Kubernetes client and leader election
// (integrations/kube) with the ServiceAccount's token: each of them must
// succeed, and what Hoist never does must be refused.
func TestRBACLetsHoistWork(t *testing.T) {
	env := kubetest.Cluster(t)
	k := connect(t, env)
	ns := restrictedNamespace(t, env)
	// The namespace's name contains "hoist", so it is also the objects' name,
	// unique to this test even for the cluster-wide ClusterRole.
	m, err := render(t, ns, ns, withSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
		for _, obj := range m.all(kind) {
			if err := k.apply(t.Context(), ns, obj, false); err != nil {
				t.Fatalf("%s %s: %v", kind, obj.GetName(), err)
			}
			if kind == "ClusterRole" || kind == "ClusterRoleBinding" {
				t.Cleanup(func() { k.remove(t, ns, obj) })
			}
		}
	}
	sa := one[appsv1.Deployment](t, m, "Deployment").Spec.Template.Spec.ServiceAccountName
	token, err := env.Client.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), sa, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := env.KubeconfigWithToken(t, token.Status.Token)
	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	asHoist := kubernetes.NewForConfigOrDie(restConfig)
	waitUntilAllowed(t, asHoist, authorizationv1.ResourceAttributes{Verb: "create", Resource: "namespaces"})
	waitUntilAllowed(t, asHoist, authorizationv1.ResourceAttributes{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: ns})

	t.Run("test environments and rollouts", func(t *testing.T) {
		hoist := kube.New(map[string]config.Cluster{"main": {Kubeconfig: kubeconfig}}, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		testEnv := release.Namespace{Cluster: "main", Name: env.NamespaceName(t), App: "api", Branch: "feature-x",
			Owner: "U012AB3CD", ExpiresAt: time.Now().Add(time.Hour), Release: 1}
		if err := hoist.EnsureNamespace(ctx, testEnv); err != nil {
			t.Fatalf("env up: %v", err)
		}
		testEnv.ExpiresAt, testEnv.Release = testEnv.ExpiresAt.Add(time.Hour), 2
		if err := hoist.EnsureNamespace(ctx, testEnv); err != nil {
			t.Fatalf("env up again: %v", err)
		}
		listed, err := hoist.ListNamespaces(ctx, "main")
		if err != nil || !slices.ContainsFunc(listed, func(n release.Namespace) bool { return n.Name == testEnv.Name }) {
			t.Fatalf("env list: %v, %v", listed, err)
		}
		if _, err := env.Client.AppsV1().Deployments(testEnv.Name).Create(ctx, kubetest.Deployment("api", 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := hoist.Rollout(ctx, release.RolloutTarget{Cluster: "main", Namespace: testEnv.Name, Deployment: "api"}, nil); err != nil {
			t.Fatalf("follow a rollout: %v", err)
		}
		if err := hoist.DeleteNamespace(ctx, "main", testEnv.Name); err != nil {
			t.Fatalf("env down: %v", err)
		}
	})

	t.Run("leader election", func(t *testing.T) {
		var leading atomic.Bool
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan error, 1)
		go func() {
			election := kube.Election{Cluster: config.Cluster{Kubeconfig: kubeconfig}, Namespace: ns, Name: leaderLease(t, m), Identity: "hoist-0"}
			stopped <- kube.Lead(ctx, election, &leading, slog.New(slog.DiscardHandler))
		}()
		led := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 20*time.Second, true,
			func(context.Context) (bool, error) { return leading.Load(), nil })
		cancel()
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		if led != nil {
			t.Fatal("Hoist never led: its ServiceAccount could not take a Lease in its namespace")
		}
		leases, err := env.Client.CoordinationV1().Leases(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, lease := range leases.Items {
			if holder := lease.Spec.HolderIdentity; holder != nil && *holder != "" {
				t.Errorf("Lease %s is still held by %q: giving it up on stop was refused", lease.Name, *holder)
			}
		}
	})

	t.Run("nothing more", func(t *testing.T) {
		refused := []authorizationv1.ResourceAttributes{
			{Verb: "get", Resource: "secrets", Namespace: ns},
			{Verb: "list", Resource: "secrets"},
			{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system"},
			{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "another-app", Namespace: ns},
			{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "hoist-leader", Namespace: ns}, // another install's
			{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "default"},
			{Verb: "patch", Group: "apps", Resource: "deployments", Namespace: ns},
			{Verb: "delete", Group: "apps", Resource: "deployments", Namespace: ns},
			{Verb: "delete", Resource: "pods", Namespace: ns},
			{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: ns},
			{Verb: "patch", Resource: "namespaces"},
			{Verb: "deletecollection", Resource: "namespaces"},
			{Verb: "create", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
		}
		for _, attrs := range refused {
			if allowed(t, asHoist, attrs) {
				t.Errorf("Hoist's ServiceAccount may %s %+v", attrs.Verb, attrs)
			}
		}
	})
}

// k8s applies unstructured objects as their kind requires.
type k8s struct {
	dynamic  dynamic.Interface
	mapper   *restmapper.DeferredDiscoveryRESTMapper
	warnings *warnings
}

func connect(t testing.TB, env *kubetest.Env) *k8s {
	t.Helper()
	restConfig, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	w := &warnings{}
	restConfig.WarningHandler = w
	disc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	return &k8s{
		dynamic:  dynamic.NewForConfigOrDie(restConfig),
		mapper:   restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc)),
		warnings: w,
	}
}

// resource returns the API endpoint of obj's kind, in namespace when the
// kind is namespaced.
func (k *k8s) resource(obj *unstructured.Unstructured, namespace string) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		k.mapper.Reset()
		mapping, err = k.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, err
	}
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return k.dynamic.Resource(mapping.Resource).Namespace(namespace), nil
	}
	return k.dynamic.Resource(mapping.Resource), nil
}

// apply applies obj with server-side apply, only as a dry run when dryRun.
func (k *k8s) apply(ctx context.Context, namespace string, obj *unstructured.Unstructured, dryRun bool) error {
	res, err := k.resource(obj, namespace)
	if err != nil {
		return err
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: "hoist-chart-test", Force: new(true), FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = res.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	return err
}

func (k *k8s) remove(t testing.TB, namespace string, obj *unstructured.Unstructured) {
	res, err := k.resource(obj, namespace)
	if err == nil {
		err = res.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{})
	}
	if err != nil && !apierrors.IsNotFound(err) {
		t.Logf("delete %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// warnings keeps the API server's warnings (Pod Security, deprecations).
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings received since the last call.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// restrictedNamespace creates a namespace for t that enforces the
// "restricted" Pod Security Standard and warns about any violation.
func restrictedNamespace(t testing.TB, env *kubetest.Env) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: env.NamespaceName(t),
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		},
	}}
	if _, err := env.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// serviceMonitorCRD is the Prometheus Operator's ServiceMonitor reduced to
// the fields the chart sets, with their types, so that strict validation
// still catches a misspelt field. A cluster that already has the real CRD
// keeps it and the test runs against that.
const serviceMonitorCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          required: [spec]
          properties:
            spec:
              type: object
              required: [selector]
              properties:
                selector:
                  type: object
                  properties:
                    matchLabels: {type: object, additionalProperties: {type: string}}
                endpoints:
                  type: array
                  items:
                    type: object
                    properties:
                      port: {type: string}
                      path: {type: string}
                      interval: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
                      scrapeTimeout: {type: string, pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$'}
`

// ensureServiceMonitorCRD installs serviceMonitorCRD unless the cluster has
// a ServiceMonitor CRD already, and removes it after t.
func ensureServiceMonitorCRD(t testing.TB, k *k8s) {
	t.Helper()
	crds := k.dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	m, err := decode(serviceMonitorCRD)
	if err != nil {
		t.Fatal(err)
	}
	crd := m[0]
	_, err = crds.Get(t.Context(), crd.GetName(), metav1.GetOptions{})
	if err == nil {
		return
	}
	if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := crds.Create(t.Context(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.remove(t, "", crd) })
	established := func(ctx context.Context) (bool, error) {
		got, err := crds.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conditions {
			if c, ok := c.(map[string]any); ok && c["type"] == "Established" && c["status"] == "True" {
				k.mapper.Reset()
				_, err := k.mapper.RESTMapping(schema.GroupKind{Group: "monitoring.coreos.com", Kind: "ServiceMonitor"}, "v1")
				return err == nil, nil
			}
		}
		return false, nil
	}
	if err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, established); err != nil {
		t.Fatalf("wait for the ServiceMonitor CRD: %v", err)
	}
}

// allowed asks the API server whether client may do what attrs say.
func allowed(t testing.TB, client kubernetes.Interface, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	review, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(),
		&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return review.Status.Allowed
}

// waitUntilAllowed waits for new RBAC objects to take effect: the API
// server's authorizer learns of them through a watch.
func waitUntilAllowed(t testing.TB, client kubernetes.Interface, attrs authorizationv1.ResourceAttributes) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return allowed(t, client, attrs), nil
	})
	if err != nil {
		t.Fatalf("the chart's RBAC never let Hoist %s %s: %v", attrs.Verb, strings.TrimPrefix(attrs.Group+"/"+attrs.Resource, "/"), err)
	}
}
