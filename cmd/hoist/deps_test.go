package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// heavyPackages are packages that hoist serve must not link: each costs
// megabytes of resident memory at rest for calls Hoist never makes.
var heavyPackages = map[string]string{
	// Its scheme registers every Kubernetes API group at start;
	// internal/kubeapi is the client of the three groups Hoist calls.
	"k8s.io/client-go/kubernetes":                        "use internal/kubeapi",
	"k8s.io/client-go/kubernetes/scheme":                 "use internal/kubeapi",
	"k8s.io/client-go/tools/leaderelection/resourcelock": "it links client-go/kubernetes; integrations/kube elects its leader itself",
}

func TestBinaryLeavesOutHeavyPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("lists the binary's dependencies with the go command")
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for pkg, instead := range heavyPackages {
		if slices.Contains(deps, pkg) {
			t.Errorf("hoist links %s: %s", pkg, instead)
		}
	}
}

// Running a text or html template anywhere in the binary makes the linker
// keep every exported method of every type that can reach it: 10 MB of
// binary and 5 MB of resident memory when the demo rendered its page with
// html/template.
func TestLinkerDropsUnusedMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("links the binary")
	}
	out, err := exec.Command("go", "build", "-o", os.DevNull, "-ldflags=-dumpdep", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), " -> ") {
		t.Fatalf("the linker printed no dependencies:\n%s", out)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Contains(line, "<ReflectMethod>") {
			t.Errorf("the linker keeps every exported method because of: %s", strings.TrimSpace(line))
		}
	}
}
