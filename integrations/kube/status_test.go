package kube

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/hoistbot/hoist/internal/release"
)

// deployment is a Deployment of 3 replicas at generation 2 whose status
// the test case sets.
func deployment(status appsv1.DeploymentStatus) *appsv1.Deployment {
	replicas := int32(3)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status:     status,
	}
}

// The cases follow kubectl's DeploymentStatusViewer: a rollout is only
// complete when the controller has seen the latest spec, every replica is
// updated, the old ones are gone and the new ones are available.
func TestJudgeFollowsKubectlRolloutStatus(t *testing.T) {
	deadline := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}}
	for _, tc := range []struct {
		name    string
		status  appsv1.DeploymentStatus
		done    bool
		failed  bool
		waiting string
	}{
		{
			name:    "counts of the previous spec are not trusted until it is observed",
			status:  appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3},
			waiting: "the controller to observe the new spec",
		},
		{
			name:    "replicas still to update",
			status:  appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3},
			waiting: "2 of 3 new replicas to be updated",
		},
		{
			name:    "old replicas still running",
			status:  appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 3, AvailableReplicas: 3},
			waiting: "1 old replicas to terminate",
		},
		{
			name:    "updated replicas not yet available",
			status:  appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 2},
			waiting: "1 of 3 updated replicas to be available",
		},
		{
			name:   "rolled out",
			status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3},
			done:   true,
		},
		{
			name:   "progress deadline exceeded",
			status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3, Conditions: deadline},
			failed: true,
		},
		{
			name:    "a deadline of a spec not yet observed does not count",
			status:  appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 0, Conditions: deadline},
			waiting: "the controller to observe the new spec",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(deployment(tc.status))
			if v.done != tc.done || v.deadlineExceeded != tc.failed || v.waiting != tc.waiting {
				t.Errorf("judge = %+v, want done=%v failed=%v waiting=%q", v, tc.done, tc.failed, tc.waiting)
			}
		})
	}
}

func TestProgressCountsNothingUpdatedBeforeTheSpecIsObserved(t *testing.T) {
	p := progressOf(deployment(appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}))
	want := release.RolloutProgress{Desired: 3, Updated: 0, Available: 3, Old: 3}
	if !sameProgress(p, want) {
		t.Fatalf("progress = %+v, want %+v", p, want)
	}
}

func TestStuckPodsNamesNewPodsThatCannotStart(t *testing.T) {
	d := deployment(appsv1.DeploymentStatus{})
	d.UID = "d1"
	d.Annotations = map[string]string{revisionAnnotation: "2"}
	oldRS := replicaSet("api-old", "1", d)
	newRS := replicaSet("api-new", "2", d)
	strangerRS := replicaSet("other-new", "2", deployment(appsv1.DeploymentStatus{}))
	if got := newReplicaSet(d, []*appsv1.ReplicaSet{oldRS, strangerRS, newRS}); got != newRS {
		t.Fatalf("new replica set = %v, want api-new", got)
	}

	waiting := func(reason, message string) corev1.PodStatus {
		return corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
		}}}
	}
	unschedulable := corev1.PodStatus{Conditions: []corev1.PodCondition{{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
	}}}
	pods := []*corev1.Pod{
		pod("api-new-c", newRS, waiting("ImagePullBackOff", `Back-off pulling image "api:v2"`)),
		pod("api-new-a", newRS, waiting("CrashLoopBackOff", "back-off 10s restarting\nfailed container")),
		pod("api-new-b", newRS, unschedulable),
		pod("api-new-d", newRS, waiting("ContainerCreating", "")),
		pod("api-old-a", oldRS, waiting("CrashLoopBackOff", "an old pod is not the rollout's concern")),
	}
	got := stuckPods(newRS, pods)
	want := []string{
		"api-new-a: CrashLoopBackOff: back-off 10s restarting failed container",
		"api-new-b: Unschedulable: 0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
		`api-new-c: ImagePullBackOff: Back-off pulling image "api:v2"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("stuck pods:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	err := deadlineError(d, newRS, got)
	if !errors.Is(err, release.ErrRolloutFailed) {
		t.Fatalf("%v: want ErrRolloutFailed", err)
	}
	if !strings.Contains(err.Error(), "deployment api exceeded its progress deadline; api-new-a: CrashLoopBackOff: back-off 10s") {
		t.Errorf("error %q does not say why", err)
	}
}

func TestDeadlineErrorSummarisesManyStuckPods(t *testing.T) {
	stuck := []string{"p1: ErrImagePull", "p2: ErrImagePull", "p3: ErrImagePull", "p4: ErrImagePull", "p5: ErrImagePull"}
	err := deadlineError(deployment(appsv1.DeploymentStatus{}), nil, stuck)
	if !strings.HasSuffix(err.Error(), "p1: ErrImagePull; p2: ErrImagePull; p3: ErrImagePull; and 2 more") {
		t.Fatalf("error %q", err)
	}
}

func replicaSet(name, revision string, owner *appsv1.Deployment) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name:            name,
		UID:             types.UID(name),
		Annotations:     map[string]string{revisionAnnotation: revision},
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
	}}
}

func pod(name string, owner *appsv1.ReplicaSet, status corev1.PodStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
		},
		Status: status,
	}
}
