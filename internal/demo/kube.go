package demo

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"

	"github.com/hoistbot/hoist/internal/kubeapi"
	"github.com/hoistbot/hoist/internal/kubelocal"
)

// appReplicas is how many pods the demo app runs in every environment.
const appReplicas = 3

// appDeployment is the demo app's Deployment as a pipeline's deploy stage
// applies it.
type appDeployment struct {
	namespace string
	name      string
	image     string
	// release is the Hoist release being deployed. The chart puts it on
	// the pods, so that every release rolls out, even of an image that
	// runs already.
	release string
}

// deployTarget is the cluster the demo's pipelines deploy to.
type deployTarget interface {
	apply(ctx context.Context, d appDeployment) error
}

// localCluster is the local control plane, and a client with full rights
// that plays the platform team and the pipelines.
type localCluster struct {
	plane  *kubelocal.ControlPlane
	client *kubeapi.APIs
}

// startLocalCluster starts the local control plane from the binaries in
// bin, with staging and production running the app already.
func startLocalCluster(ctx context.Context, bin string) (*localCluster, error) {
	plane, err := kubelocal.Start(ctx, bin)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", plane.Kubeconfig())
	if err != nil {
		plane.Stop()
		return nil, fmt.Errorf("load the local control plane's kubeconfig: %w", err)
	}
	client, err := kubeapi.New(rc)
	if err != nil {
		plane.Stop()
		return nil, fmt.Errorf("connect to the local control plane: %w", err)
	}
	l := &localCluster{plane: plane, client: client}
	for _, d := range earlierReleases() {
		if err := l.seed(ctx, d); err != nil {
			plane.Stop()
			return nil, err
		}
	}
	return l, nil
}

// seed creates a long-lived environment's namespace, as the platform team
// would, and the app's Deployment in it, as an earlier release left it.
func (l *localCluster) seed(ctx context.Context, d appDeployment) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.namespace}}
	if _, err := l.client.Namespaces().Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", d.namespace, err)
	}
	return l.apply(ctx, d)
}

// apply creates the Deployment, or changes the one there to d, as
// `helm upgrade --install` does.
func (l *localCluster) apply(ctx context.Context, d appDeployment) error {
	want := kubeDeployment(d)
	deployments := l.client.Deployments(d.namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := deployments.Get(ctx, d.name)
		if apierrors.IsNotFound(err) {
			_, err = deployments.Create(ctx, want)
			return err
		}
		if err != nil {
			return err
		}
		current.Spec = want.Spec
		_, err = deployments.Update(ctx, current)
		return err
	})
	if err != nil {
		return fmt.Errorf("apply deployment %s in %s: %w", d.name, d.namespace, err)
	}
	return nil
}

// kubeDeployment is d as the demo chart renders it: pods that run on the
// fake node, replaced one at a time (maxSurge 1, maxUnavailable 0), each
// counted available four seconds after it is ready (the fake node readies
// pods at once), so that a rollout takes a few seconds to watch.
func kubeDeployment(d appDeployment) *appsv1.Deployment {
	out := kubelocal.Deployment(d.name, appReplicas)
	surge, unavailable := intstr.FromInt32(maxSurge), intstr.FromInt32(0)
	out.Spec.Strategy = appsv1.DeploymentStrategy{
		Type:          appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
	}
	out.Spec.MinReadySeconds = 4
	out.Spec.Template.Spec.Containers[0].Image = d.image
	out.Spec.Template.Annotations = map[string]string{"hoist.dev/release": d.release}
	return out
}

func (l *localCluster) close() { l.plane.Stop() }
