// Package kubetest gives tests a real Kubernetes control plane: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, whose
// fake node runs pods as internal/kubelocal/kwok-stages.yaml says, so that
// Deployments really roll out. It is started once per test binary, on first
// use, by internal/kubelocal from the binaries `make k8s-bins` builds; or it
// is the cluster that HOIST_TEST_KUBECONFIG names.
//
//	func TestMain(m *testing.M) { kubetest.Main(m) }
//
//	func TestRollout(t *testing.T) {
//		env := kubetest.Cluster(t)
//		ns := env.Namespace(t)
//		…
//	}
//
// Without the binaries, such tests skip and say how to get them; with
// HOIST_TEST_KUBE=1 (as in CI) they fail instead. Each test works in its
// own namespaces, so tests can run in parallel on one control plane.
package kubetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/hoistbot/hoist/internal/kubelocal"
)

// KubernetesVersion is the version of the control plane that
// scripts/k8s/build-k8s-bins.sh builds by default (the Makefile's
// K8S_VERSION).
const KubernetesVersion = kubelocal.KubernetesVersion

// Environment variables that choose the control plane.
const (
	// EnvKubeconfig names the kubeconfig of a running cluster to use
	// instead of starting one. Its fake node must run kwok with
	// internal/kubelocal/kwok-stages.yaml for the pod labels below to work.
	EnvKubeconfig = "HOIST_TEST_KUBECONFIG"
	// EnvRequire set to 1 makes tests fail, rather than skip, when there
	// is no control plane.
	EnvRequire = "HOIST_TEST_KUBE"
	// EnvBinaries overrides the directory of the binaries, by default
	// ${XDG_CACHE_HOME:-$HOME/.cache}/hoist/k8s-bin/<KubernetesVersion>.
	EnvBinaries = kubelocal.EnvBinaries
)

// Pod labels that change how the fake node runs a pod (see
// internal/kubelocal/kwok-stages.yaml). Without them a pod runs and is
// Ready at once.
const (
	// LabelCrash makes the pod's containers wait in CrashLoopBackOff, with
	// restarts, never Ready.
	LabelCrash = kubelocal.LabelCrash
	// LabelNeverReady makes the pod run without ever becoming Ready, as
	// with a failing readiness probe.
	LabelNeverReady = kubelocal.LabelNeverReady
)

// Env is the control plane a test talks to.
type Env struct {
	// Kubeconfig is the path of a kubeconfig with full rights on it.
	Kubeconfig string
	// Client has full rights, for setting up and inspecting what a test
	// needs.
	Client kubernetes.Interface
	config *rest.Config
}

// shared is this test binary's control plane. It is process-wide by
// nature: one control plane for all the tests of a binary, started by the
// first that asks and stopped by Main once they have all run.
var shared struct {
	main  bool
	once  sync.Once
	env   *Env
	plane *kubelocal.ControlPlane
	err   error
}

// Main runs the tests of a package that uses Cluster, then stops the
// control plane if one was started. Call it from TestMain.
func Main(m *testing.M) {
	shared.main = true
	code := m.Run()
	if shared.plane != nil {
		shared.plane.Stop()
	}
	os.Exit(code)
}

// Cluster returns the control plane of this test binary, starting it on
// first use. Without one, it skips t with advice on how to get one; or
// fails it when HOIST_TEST_KUBE=1.
func Cluster(t testing.TB) *Env {
	t.Helper()
	if !shared.main {
		t.Fatal("kubetest.Cluster needs kubetest.Main: add `func TestMain(m *testing.M) { kubetest.Main(m) }` to the package's tests")
	}
	shared.once.Do(func() { shared.env, shared.plane, shared.err = connect() })
	if errors.Is(shared.err, errNoControlPlane) && os.Getenv(EnvRequire) != "1" {
		t.Skip(shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.env
}

func connect() (*Env, *kubelocal.ControlPlane, error) {
	if path := os.Getenv(EnvKubeconfig); path != "" {
		env, err := load(path)
		return env, nil, err
	}
	bin, err := kubelocal.BinDir()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errNoControlPlane, err)
	}
	if what := kubelocal.Missing(bin); what != "" {
		return nil, nil, fmt.Errorf("%w (%s): run `make k8s-bins` (builds the control plane from the Go module proxy "+
			"into ~/.cache/hoist/k8s-bin, ~6 min the first time), or set %s to a test cluster's kubeconfig. "+
			"With %s=1 these tests fail instead of skipping",
			errNoControlPlane, what, EnvKubeconfig, EnvRequire)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plane, err := kubelocal.Start(ctx, bin)
	if err != nil {
		return nil, nil, fmt.Errorf("start the test control plane from %s: %w", bin, err)
	}
	env, err := load(plane.Kubeconfig())
	if err != nil {
		plane.Stop()
		return nil, nil, err
	}
	return env, plane, nil
}

func load(kubeconfig string) (*Env, error) {
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, fmt.Errorf("make client from %s: %w", kubeconfig, err)
	}
	return &Env{Kubeconfig: kubeconfig, Client: client, config: config}, nil
}

// Namespace creates a namespace of its own for t, deleted after it.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := e.Client.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.NamespaceName(t)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// NamespaceName returns a namespace name no other test uses, without
// creating it. Whatever namespace of that name exists after t is deleted.
func (e *Env) NamespaceName(t testing.TB) string {
	t.Helper()
	suffix := make([]byte, 5)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("hoist-test-%x", suffix)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := e.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			t.Logf("delete namespace %s: %v", name, err)
		}
	})
	return name
}

// KubeconfigWithToken writes a kubeconfig for the same API server that
// authenticates with token (e.g. a ServiceAccount's), and returns its path.
func (e *Env) KubeconfigWithToken(t testing.TB, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := kubelocal.WriteKubeconfig(path, e.config.Host, token); err != nil {
		t.Fatal(err)
	}
	return path
}

// errNoControlPlane is wrapped by errors that mean the binaries are missing.
var errNoControlPlane = errors.New("no Kubernetes control plane for tests")
