// Package kubelocal runs a real Kubernetes control plane on loopback: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok with one
// fake node, whose pods run as kwok-stages.yaml says, so that Deployments
// really roll out. The binaries come from `make k8s-bins`
// (scripts/k8s/build-k8s-bins.sh), which builds them from the Go module
// proxy. The tests start one through internal/kubetest, and `hoist demo`
// starts one when the binaries are there.
package kubelocal

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// KubernetesVersion is the version of the control plane that
// scripts/k8s/build-k8s-bins.sh builds by default (the Makefile's
// K8S_VERSION).
const KubernetesVersion = "1.34.12"

// EnvBinaries overrides the directory of the binaries, by default
// ${XDG_CACHE_HOME:-$HOME/.cache}/hoist/k8s-bin/<KubernetesVersion>.
const EnvBinaries = "HOIST_K8S_BIN"

// kwokStages are the pod stages of the fake node: the one copy, which
// scripts/k8s/up.sh also reads.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// binaries are the programs a control plane needs, as
// scripts/k8s/build-k8s-bins.sh names them.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}

// BinDir is where the binaries are: $HOIST_K8S_BIN, or the directory in the
// user's cache that `make k8s-bins` fills.
func BinDir() (string, error) {
	if dir := os.Getenv(EnvBinaries); dir != "" {
		return dir, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the control plane binaries (%w); set %s", err, EnvBinaries)
	}
	return filepath.Join(cache, "hoist", "k8s-bin", KubernetesVersion), nil
}

// Missing says what dir lacks of a complete build ("etcd, .stamp missing
// in DIR", or "nothing built in DIR"), or "" when the build is complete:
// the build writes .stamp last.
func Missing(dir string) string {
	wanted := append(slices.Clone(binaries), ".stamp")
	var missing []string
	for _, name := range wanted {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			missing = append(missing, name)
		}
	}
	switch len(missing) {
	case 0:
		return ""
	case len(wanted):
		return "nothing built in " + dir
	}
	return strings.Join(missing, ", ") + " missing in " + dir
}

// ControlPlane is a running control plane, its state and logs in a
// temporary directory.
type ControlPlane struct {
	dir        string
	kubeconfig string
	processes  []*process // in the order they started
	stopOnce   sync.Once
}

// Kubeconfig is the path of a kubeconfig with full rights on the control
// plane.
func (cp *ControlPlane) Kubeconfig() string { return cp.kubeconfig }

// Stop stops the processes, last started first, and removes the state
// directory. Calling it again does nothing.
func (cp *ControlPlane) Stop() {
	cp.stopOnce.Do(func() {
		for i := len(cp.processes) - 1; i >= 0; i-- {
			cp.processes[i].stop()
		}
		_ = os.RemoveAll(cp.dir)
	})
}

// Start starts a control plane from the binaries in bin, and returns once
// its fake node takes pods. ctx bounds the start only: the control plane
// runs until Stop, and dies with this process on Linux however it dies.
func Start(ctx context.Context, bin string) (*ControlPlane, error) {
	if missing := Missing(bin); missing != "" {
		return nil, fmt.Errorf("start control plane: %s; run `make k8s-bins`", missing)
	}
	dir, err := os.MkdirTemp("", "hoist-kube-")
	if err != nil {
		return nil, fmt.Errorf("make state directory: %w", err)
	}
	cp := &ControlPlane{dir: dir, kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := cp.start(ctx, bin); err != nil {
		cp.Stop()
		return nil, err
	}
	return cp, nil
}
