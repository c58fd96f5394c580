package kubelocal

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Pod labels that change how the fake node runs a pod (see
// kwok-stages.yaml). Without them a pod runs and is Ready at once.
const (
	// LabelCrash makes the pod's containers wait in CrashLoopBackOff, with
	// restarts, never Ready.
	LabelCrash = "hoist.test/crash"
	// LabelNeverReady makes the pod run without ever becoming Ready, as
	// with a failing readiness probe.
	LabelNeverReady = "hoist.test/never-ready"
)

const (
	fakeNodeName  = "kwok-node-0"
	fakeNodeLabel = "type"
	fakeNodeValue = "kwok"
)

// Deployment returns a Deployment of replicas pods labelled app=name that
// run on the fake node, with image "registry.test/<name>:v1" (change the
// image to start a rollout). Put LabelCrash or LabelNeverReady on its pod
// template for pods that never become ready.
func Deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					Containers:   []corev1.Container{{Name: "app", Image: "registry.test/" + name + ":v1"}},
					NodeSelector: map[string]string{fakeNodeLabel: fakeNodeValue},
					Tolerations: []corev1.Toleration{{
						Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule,
					}},
					TerminationGracePeriodSeconds: new(int64),
				},
			},
		},
	}
}
