package kube

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoistbot/hoist/internal/release"
)

const (
	// revisionAnnotation is the revision the Deployment controller writes
	// on a Deployment and on each of its ReplicaSets.
	revisionAnnotation = "deployment.kubernetes.io/revision"
	// timedOutReason is the Progressing condition's reason once a
	// rollout has exceeded its progress deadline.
	timedOutReason = "ProgressDeadlineExceeded"
)

// stuckReasons are the container waiting reasons of a pod that cannot
// start by itself.
var stuckReasons = []string{
	"CrashLoopBackOff",
	"ImagePullBackOff",
	"ErrImagePull",
	"CreateContainerConfigError",
	"InvalidImageName",
}

// verdict is what `kubectl rollout status` would say of a Deployment.
type verdict struct {
	done bool
	// deadlineExceeded means the rollout failed: it made no progress
	// within spec.progressDeadlineSeconds.
	deadlineExceeded bool
	// waiting says what the rollout waits for, when it is neither done
	// nor failed.
	waiting string
}

// judge applies kubectl's DeploymentStatusViewer: nothing counts until the
// controller has observed the Deployment's latest spec; then a progress
// deadline exceeded is a failure; otherwise the rollout waits for every
// replica to be updated, then for the old ones to terminate, then for the
// updated ones to be available.
func judge(d *appsv1.Deployment) verdict {
	if !observed(d) {
		return verdict{waiting: "the controller to observe the new spec"}
	}
	if c := progressing(d); c != nil && c.Reason == timedOutReason {
		return verdict{deadlineExceeded: true}
	}
	s := d.Status
	switch {
	case d.Spec.Replicas != nil && s.UpdatedReplicas < *d.Spec.Replicas:
		return verdict{waiting: fmt.Sprintf("%d of %d new replicas to be updated", *d.Spec.Replicas-s.UpdatedReplicas, *d.Spec.Replicas)}
	case s.Replicas > s.UpdatedReplicas:
		return verdict{waiting: fmt.Sprintf("%d old replicas to terminate", s.Replicas-s.UpdatedReplicas)}
	case s.AvailableReplicas < s.UpdatedReplicas:
		return verdict{waiting: fmt.Sprintf("%d of %d updated replicas to be available", s.UpdatedReplicas-s.AvailableReplicas, s.UpdatedReplicas)}
	}
	return verdict{done: true}
}

func observed(d *appsv1.Deployment) bool { return d.Generation <= d.Status.ObservedGeneration }

func progressing(d *appsv1.Deployment) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == appsv1.DeploymentProgressing {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// progressOf counts a Deployment's replicas. Until the controller has
// observed the latest spec, none of them counts as updated yet.
func progressOf(d *appsv1.Deployment) release.RolloutProgress {
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	s := d.Status
	if !observed(d) {
		return release.RolloutProgress{Desired: desired, Available: s.AvailableReplicas, Old: s.Replicas}
	}
	return release.RolloutProgress{
		Desired:   desired,
		Updated:   s.UpdatedReplicas,
		Available: s.AvailableReplicas,
		Old:       max(0, s.Replicas-s.UpdatedReplicas),
	}
}

// newReplicaSet returns the Deployment's ReplicaSet of its current
// revision, or nil before the controller has made it.
func newReplicaSet(d *appsv1.Deployment, replicaSets []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	revision, ok := d.Annotations[revisionAnnotation]
	if !ok {
		return nil
	}
	for _, rs := range replicaSets {
		if metav1.IsControlledBy(rs, d) && rs.Annotations[revisionAnnotation] == revision {
			return rs
		}
	}
	return nil
}

// stuckPods names the pods of rs that cannot start by themselves, and why:
// "api-7c9f-x2: CrashLoopBackOff: back-off 10s restarting failed
// container". Pods are in name order.
func stuckPods(rs *appsv1.ReplicaSet, pods []*corev1.Pod) []string {
	if rs == nil {
		return nil
	}
	var stuck []string
	for _, pod := range pods {
		if !metav1.IsControlledBy(pod, rs) || pod.DeletionTimestamp != nil {
			continue
		}
		if reason, message, ok := whyStuck(pod); ok {
			stuck = append(stuck, describe(pod.Name, reason, message))
		}
	}
	slices.Sort(stuck)
	return stuck
}

func whyStuck(pod *corev1.Pod) (reason, message string, ok bool) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return c.Reason, c.Message, true
		}
	}
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			if w := cs.State.Waiting; w != nil && slices.Contains(stuckReasons, w.Reason) {
				return w.Reason, w.Message, true
			}
		}
	}
	return "", "", false
}

func describe(pod, reason, message string) string {
	message = strings.Join(strings.Fields(message), " ")
	if message == "" {
		return pod + ": " + reason
	}
	return pod + ": " + reason + ": " + message
}

// deadlineError says why a rollout failed, for people: the pods that
// cannot start, or else how many new replicas became available.
func deadlineError(d *appsv1.Deployment, rs *appsv1.ReplicaSet, stuck []string) error {
	var why string
	switch {
	case len(stuck) > 0:
		why = summarise(stuck)
	case rs != nil:
		why = fmt.Sprintf("%d of %d new replicas available", rs.Status.AvailableReplicas, progressOf(d).Desired)
	default:
		why = "no new replicas created"
	}
	deadline := ""
	if d.Spec.ProgressDeadlineSeconds != nil {
		deadline = fmt.Sprintf(" (%ds)", *d.Spec.ProgressDeadlineSeconds)
	}
	return fmt.Errorf("%w: deployment %s exceeded its progress deadline%s; %s", release.ErrRolloutFailed, d.Name, deadline, why)
}

// summarise joins the first few stuck pods, saying how many more there are.
func summarise(stuck []string) string {
	const shown = 3
	if len(stuck) <= shown {
		return strings.Join(stuck, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(stuck[:shown], "; "), len(stuck)-shown)
}
