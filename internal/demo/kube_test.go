package demo_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hoistbot/hoist/internal/demo"
	"github.com/hoistbot/hoist/internal/kubelocal"
	"github.com/hoistbot/hoist/internal/kubetest"
)

// localBinaries returns the directory of the local control plane's
// binaries. Without them it skips t and says how to build them; or fails
// it when HOIST_TEST_KUBE=1, as in CI.
func localBinaries(t *testing.T) string {
	t.Helper()
	bin, err := kubelocal.BinDir()
	what := ""
	switch {
	case err != nil:
		what = err.Error()
	default:
		what = kubelocal.Missing(bin)
	}
	if what == "" {
		return bin
	}
	msg := fmt.Sprintf("no Kubernetes control plane for tests (%s): run `make k8s-bins` (builds the control plane from the Go module proxy "+
		"into ~/.cache/hoist/k8s-bin, ~6 min the first time). With %s=1 this test fails instead of skipping", what, kubetest.EnvRequire)
	if os.Getenv(kubetest.EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestEnvUpAndDownOnTheLocalControlPlane: with --cluster local, `/env up`
// creates a namespace labelled as Hoist's in a real cluster, the pipeline's
// Deployment rolls out there and the release succeeds once it has; `/env
// down` deletes the namespace. The demo says where its kubeconfig is, and
// that is how the test looks inside.
func TestEnvUpAndDownOnTheLocalControlPlane(t *testing.T) {
	bin := localBinaries(t)
	var mu sync.Mutex
	var notices []string
	base := startDemoWith(t, demo.Options{BuildTime: 2 * time.Second, Cluster: demo.ClusterLocal, KubeBinaries: bin,
		Notice: func(text string) {
			mu.Lock()
			defer mu.Unlock()
			notices = append(notices, text)
		}})
	mu.Lock()
	said := strings.Join(notices, "\n")
	mu.Unlock()
	m := regexp.MustCompile(`export KUBECONFIG=(\S+)`).FindStringSubmatch(said)
	if m == nil {
		t.Fatalf("the demo did not say where its cluster's kubeconfig is: %q", said)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", m[1])
	if err != nil {
		t.Fatal(err)
	}
	kube := kubernetes.NewForConfigOrDie(rc)
	feed := watchFeed(t, base)

	command(t, base, demo.DeveloperID, "/env up demo feature/login")
	card := feed.waitFor(t, "the env up card", func(it demo.Item) bool {
		return it.Kind == "message" && it.Channel == demo.DeploysID && it.ThreadTS == "" && strings.Contains(it.HTML, "Env up")
	})
	feed.waitFor(t, "the rollout followed to its end", func(it demo.Item) bool {
		return it.ThreadTS == card.TS && strings.Contains(it.HTML, "Rolled out") && strings.Contains(it.HTML, "demo-feature-login") &&
			strings.Contains(it.HTML, "3/3 updated · 3 available")
	})
	feed.waitFor(t, "the release succeeded", func(it demo.Item) bool {
		return it.ID == card.ID && strings.Contains(it.HTML, "Succeeded")
	})

	ctx := context.Background()
	ns, err := kube.CoreV1().Namespaces().Get(ctx, "demo-feature-login", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the test environment's namespace: %v", err)
	}
	for key, want := range map[string]string{"app.kubernetes.io/managed-by": "hoist", "hoist.dev/app": "demo", "hoist.dev/branch": "feature-login"} {
		if ns.Labels[key] != want {
			t.Errorf("namespace label %s = %q; want %q", key, ns.Labels[key], want)
		}
	}
	if ns.Annotations["hoist.dev/owner"] != demo.DeveloperID {
		t.Errorf("namespace owner = %q; want Dave", ns.Annotations["hoist.dev/owner"])
	}
	d, err := kube.AppsV1().Deployments("demo-feature-login").Get(ctx, "demo", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the pipeline's Deployment: %v", err)
	}
	if d.Status.UpdatedReplicas != 3 || d.Status.AvailableReplicas != 3 ||
		!strings.HasPrefix(d.Spec.Template.Spec.Containers[0].Image, "registry.example.com/demo:") {
		t.Errorf("Deployment: image %s, %d updated, %d available; want 3 of the build's image",
			d.Spec.Template.Spec.Containers[0].Image, d.Status.UpdatedReplicas, d.Status.AvailableReplicas)
	}

	command(t, base, demo.DeveloperID, "/env down demo feature/login")
	feed.waitFor(t, "the env down card at its outcome", func(it demo.Item) bool {
		return it.Kind == "message" && strings.Contains(it.HTML, "Env down") && strings.Contains(it.HTML, "Succeeded") &&
			strings.Contains(it.HTML, "deleted")
	})
	ns, err = kube.CoreV1().Namespaces().Get(ctx, "demo-feature-login", metav1.GetOptions{})
	if err == nil && ns.DeletionTimestamp == nil {
		t.Error("the namespace is still there after /env down")
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

// TestWithoutTheControlPlaneBinaries: by default the demo then simulates
// a cluster and says how to get a real one; asked for the local control
// plane, it does not start, and says how to build it.
func TestWithoutTheControlPlaneBinaries(t *testing.T) {
	empty := t.TempDir()
	var mu sync.Mutex
	var said []string
	startDemoWith(t, demo.Options{BuildTime: time.Second, KubeBinaries: empty, Notice: func(text string) {
		mu.Lock()
		defer mu.Unlock()
		said = append(said, text)
	}})
	mu.Lock()
	notice := strings.Join(said, "\n")
	mu.Unlock()
	if !strings.Contains(notice, "a simulated cluster") || !strings.Contains(notice, "make k8s-bins") {
		t.Errorf("the demo did not say it simulates the cluster, and how to get a real one: %q", notice)
	}

	err := demo.Run(context.Background(), demo.Options{Listen: "127.0.0.1:0", Cluster: demo.ClusterLocal, KubeBinaries: empty})
	if err == nil || !strings.Contains(err.Error(), "make k8s-bins") {
		t.Errorf("--cluster local without the binaries: %v", err)
	}
}
