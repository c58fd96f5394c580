package kube_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"

	"github.com/hoistbot/hoist/integrations/kube"
	"github.com/hoistbot/hoist/internal/config"
)

// cluster is the name the tests give the test control plane.
const cluster = "test"

// client returns a Client for the cluster whose kubeconfig is at path, and
// what it logs.
func client(t testing.TB, kubeconfig string) (*kube.Client, *logs) {
	t.Helper()
	l := &logs{}
	c := kube.New(map[string]config.Cluster{cluster: {Kubeconfig: kubeconfig}}, slog.New(slog.NewTextHandler(l, nil)))
	return c, l
}

// logs collects what a logger writes.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
