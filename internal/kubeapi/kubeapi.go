// Package kubeapi is the small Kubernetes client Hoist links: REST clients
// for the three API groups it calls (core/v1, apps/v1 and
// coordination/v1), whose scheme knows only their types, and typed calls
// for the few objects it reads and writes.
//
// client-go's Clientset would do the same, but its scheme registers every
// API group of Kubernetes when the program starts: a third of Hoist's
// binary and most of its resident memory at rest, for calls it never
// makes. Informers, watches, retries and kubeconfig loading still come
// from client-go.
package kubeapi

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// APIs holds a REST client for each API group Hoist calls, sharing one
// HTTP client (and so its connections and rate limiter).
type APIs struct {
	Core         rest.Interface
	Apps         rest.Interface
	Coordination rest.Interface
}

// New connects to the API server rc describes.
func New(rc *rest.Config) (*APIs, error) {
	codecs, err := newCodecs()
	if err != nil {
		return nil, err
	}
	cfg := *rc
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if cfg.RateLimiter == nil && cfg.QPS > 0 {
		// One limiter for the three clients, as a Clientset shares one.
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	}
	hc, err := rest.HTTPClientFor(&cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes http client: %w", err)
	}
	group := func(gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
		c := cfg
		c.GroupVersion, c.APIPath = &gv, apiPath
		c.NegotiatedSerializer = codecs.WithoutConversion()
		client, err := rest.RESTClientForConfigAndClient(&c, hc)
		if err != nil {
			return nil, fmt.Errorf("kubernetes client of %s: %w", gv, err)
		}
		return client, nil
	}
	var a APIs
	if a.Core, err = group(corev1.SchemeGroupVersion, "/api"); err != nil {
		return nil, err
	}
	if a.Apps, err = group(appsv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	if a.Coordination, err = group(coordinationv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	return &a, nil
}

// newCodecs returns the serializers of a scheme holding the three groups.
func newCodecs() (serializer.CodecFactory, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, coordinationv1.AddToScheme} {
		if err := add(s); err != nil {
			return serializer.CodecFactory{}, fmt.Errorf("kubernetes scheme: %w", err)
		}
	}
	return serializer.NewCodecFactory(s), nil
}

// ServerVersion asks the API server for its version.
func (a *APIs) ServerVersion(ctx context.Context) (*version.Info, error) {
	raw, err := a.Core.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	var info version.Info
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, fmt.Errorf("decode server version: %w", err)
	}
	return &info, nil
}

// Namespaces are the calls on Namespaces.
func (a *APIs) Namespaces() Namespaces { return Namespaces{a.Core} }

// Deployments are the calls on the Deployments of namespace.
func (a *APIs) Deployments(namespace string) Deployments { return Deployments{a.Apps, namespace} }

// Leases are the calls on the Leases of namespace.
func (a *APIs) Leases(namespace string) Leases { return Leases{a.Coordination, namespace} }

// Nodes are the calls on Nodes.
func (a *APIs) Nodes() Nodes { return Nodes{a.Core} }

// Namespaces are the calls Hoist makes on Namespaces.
type Namespaces struct{ c rest.Interface }

// Get reads the namespace name.
func (n Namespaces) Get(ctx context.Context, name string) (*corev1.Namespace, error) {
	out := &corev1.Namespace{}
	return out, n.c.Get().Resource("namespaces").Name(name).Do(ctx).Into(out)
}

// Create creates ns.
func (n Namespaces) Create(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	out := &corev1.Namespace{}
	return out, n.c.Post().Resource("namespaces").Body(ns).Do(ctx).Into(out)
}

// Update replaces ns, if its resourceVersion is still the server's.
func (n Namespaces) Update(ctx context.Context, ns *corev1.Namespace) (*corev1.Namespace, error) {
	out := &corev1.Namespace{}
	return out, n.c.Put().Resource("namespaces").Name(ns.Name).Body(ns).Do(ctx).Into(out)
}

// Delete deletes the namespace name, under opts' preconditions.
func (n Namespaces) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return n.c.Delete().Resource("namespaces").Name(name).Body(&opts).Do(ctx).Error()
}

// List lists the namespaces opts selects.
func (n Namespaces) List(ctx context.Context, opts metav1.ListOptions) (*corev1.NamespaceList, error) {
	out := &corev1.NamespaceList{}
	return out, n.c.Get().Resource("namespaces").VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Into(out)
}

// Deployments are the calls Hoist makes on the Deployments of a namespace.
type Deployments struct {
	c         rest.Interface
	namespace string
}

// Get reads the Deployment name.
func (d Deployments) Get(ctx context.Context, name string) (*appsv1.Deployment, error) {
	out := &appsv1.Deployment{}
	return out, d.c.Get().Namespace(d.namespace).Resource("deployments").Name(name).Do(ctx).Into(out)
}

// Create creates dep.
func (d Deployments) Create(ctx context.Context, dep *appsv1.Deployment) (*appsv1.Deployment, error) {
	out := &appsv1.Deployment{}
	return out, d.c.Post().Namespace(d.namespace).Resource("deployments").Body(dep).Do(ctx).Into(out)
}

// Update replaces dep, if its resourceVersion is still the server's.
func (d Deployments) Update(ctx context.Context, dep *appsv1.Deployment) (*appsv1.Deployment, error) {
	out := &appsv1.Deployment{}
	return out, d.c.Put().Namespace(d.namespace).Resource("deployments").Name(dep.Name).Body(dep).Do(ctx).Into(out)
}

// Leases are the calls Hoist makes on the Leases of a namespace.
type Leases struct {
	c         rest.Interface
	namespace string
}

// Get reads the Lease name.
func (l Leases) Get(ctx context.Context, name string) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	return out, l.c.Get().Namespace(l.namespace).Resource("leases").Name(name).Do(ctx).Into(out)
}

// Create creates lease.
func (l Leases) Create(ctx context.Context, lease *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	return out, l.c.Post().Namespace(l.namespace).Resource("leases").Body(lease).Do(ctx).Into(out)
}

// Update replaces lease, if its resourceVersion is still the server's.
func (l Leases) Update(ctx context.Context, lease *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	out := &coordinationv1.Lease{}
	return out, l.c.Put().Namespace(l.namespace).Resource("leases").Name(lease.Name).Body(lease).Do(ctx).Into(out)
}

// Nodes are the calls the local control plane makes on Nodes.
type Nodes struct{ c rest.Interface }

// Get reads the Node name.
func (n Nodes) Get(ctx context.Context, name string) (*corev1.Node, error) {
	out := &corev1.Node{}
	return out, n.c.Get().Resource("nodes").Name(name).Do(ctx).Into(out)
}

// Create creates node.
func (n Nodes) Create(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	out := &corev1.Node{}
	return out, n.c.Post().Resource("nodes").Body(node).Do(ctx).Into(out)
}
