// Package helm_test checks the Helm chart in ./hoist: what it renders, that
// the image it runs agrees with it, and that a real Kubernetes control plane
// accepts every object it renders. Rendering uses the helm command that
// `make helm` installs; the control plane is internal/kubetest's.
package helm_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/hoistbot/hoist/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

const (
	// helmVersion is the version scripts/helm/install-helm.sh installs.
	helmVersion = "v3.22.0"
	chartDir    = "hoist"
	// The release name and namespace of most renderings.
	releaseName      = "hoist"
	releaseNamespace = "hoist-system"
)

// helm returns the path of the helm command. Without it, t is skipped with
// advice on how to get it; or failed when HOIST_TEST_KUBE=1 (as in CI).
func helm(t testing.TB) string {
	t.Helper()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache")
	}
	path := filepath.Join(cache, "hoist", "helm", helmVersion, "helm")
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("no helm %s at %s: run `make helm` (builds it from the Go module proxy, about 3 minutes "+
			"the first time). With %s=1 this test fails instead of skipping", helmVersion, path, kubetest.EnvRequire)
		if os.Getenv(kubetest.EnvRequire) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// runHelm runs helm with args in this directory and returns its standard
// output; its error carries helm's standard error.
func runHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), helm(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// manifest is what `helm template` rendered, one object per document.
type manifest []*unstructured.Unstructured

// render renders the chart as release name in namespace, with values (YAML)
// over the chart's defaults.
func render(t testing.TB, name, namespace, values string) (manifest, error) {
	t.Helper()
	// Not under t.TempDir(): helm splits --values at commas, which test
	// names may hold.
	dir, err := os.MkdirTemp("", "hoist-values-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(file, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runHelm(t, "template", name, chartDir, "--namespace", namespace, "--values", file)
	if err != nil {
		return nil, err
	}
	return decode(out)
}

// mustRender renders the usual release with values, failing t on an error.
func mustRender(t testing.TB, values string) manifest {
	t.Helper()
	m, err := render(t, releaseName, releaseNamespace, values)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func decode(out string) (manifest, error) {
	var m manifest
	dec := yaml.NewYAMLOrJSONDecoder(strings.NewReader(out), 4096)
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode helm's output: %w", err)
		}
		if obj != nil {
			m = append(m, &unstructured.Unstructured{Object: obj})
		}
	}
}

// all returns the objects of a kind.
func (m manifest) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range m {
		if obj.GetKind() == kind {
			out = append(out, obj)
		}
	}
	return out
}

// one returns the only object of a kind, converted to its Go type.
func one[T any](t testing.TB, m manifest, kind string) *T {
	t.Helper()
	objs := m.all(kind)
	if len(objs) != 1 {
		t.Fatalf("rendered %d objects of kind %s, want 1", len(objs), kind)
	}
	var typed T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(objs[0].Object, &typed, true); err != nil {
		t.Fatalf("read the %s: %v", kind, err)
	}
	return &typed
}
