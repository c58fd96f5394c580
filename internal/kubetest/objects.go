package kubetest

import (
	appsv1 "k8s.io/api/apps/v1"

	"github.com/hoistbot/hoist/internal/kubelocal"
)

// Deployment returns a Deployment of replicas pods labelled app=name that
// run on the fake node, with image "registry.test/<name>:v1" (patch the
// image to start a rollout). Put LabelCrash or LabelNeverReady on its pod
// template for pods that never become ready.
func Deployment(name string, replicas int32) *appsv1.Deployment {
	return kubelocal.Deployment(name, replicas)
}
