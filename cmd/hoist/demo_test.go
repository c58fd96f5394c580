package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer written by the command and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDemoServesThePageAndStops: `hoist demo` says where the page is,
// serves it there, and stops cleanly when interrupted.
func TestDemoServesThePageAndStops(t *testing.T) {
	var out, errOut lockedBuffer
	root := newRootCommand(&out, &errOut, nil)
	root.SetArgs([]string{"demo", "--listen", "127.0.0.1:0", "--build-time", "1s", "--cluster", "sim"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	opened := regexp.MustCompile(`open (http://127\.0\.0\.1:\d+/) in a browser`)
	var url string
	deadline := time.Now().Add(15 * time.Second)
	for url == "" {
		if m := opened.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("demo stopped before it served: %v\n%s", err, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo never said where it serves; stdout %q, stderr %q", out.String(), errOut.String())
		}
	}
	if !strings.Contains(out.String(), "Kubernetes: a simulated cluster") {
		t.Errorf("demo did not say which cluster it uses: %q", out.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "<title>Hoist demo</title>") {
		t.Errorf("the page: %s\n%s", resp.Status, page)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo stopped with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo did not stop")
	}
	if errOut.String() != "" {
		t.Errorf("demo logged, though only warnings and errors are shown by default:\n%s", errOut.String())
	}
}

func TestDemoSaysWhenItsAddressIsTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, errOut, err := run(t, nil, "demo", "--listen", taken.Addr().String())
	if err == nil || !strings.Contains(errOut, "choose another address with --listen") {
		t.Errorf("demo on a taken address: %v\n%s", err, errOut)
	}
}

func TestDemoRefusesAnUnknownCluster(t *testing.T) {
	_, errOut, err := run(t, nil, "demo", "--cluster", "minikube")
	if err == nil || !strings.Contains(errOut, "choose auto, local or sim") {
		t.Errorf("demo with --cluster minikube: %v\n%s", err, errOut)
	}
}

func TestDemoRefusesAConfiguration(t *testing.T) {
	_, errOut, err := run(t, nil, "demo", "--config", "../../configs/hoist.example.yaml")
	if err == nil || !strings.Contains(errOut, "--config is for hoist serve") {
		t.Errorf("demo with --config: %v\n%s", err, errOut)
	}
}
