package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSlackManifest(t *testing.T) {
	out, _, err := run(t, nil, "slack", "manifest")
	if err != nil || !strings.Contains(out, "socket_mode_enabled: true") || strings.Contains(out, "url:") {
		t.Fatalf("manifest of the embedded example (socket mode): %v\n%s", err, out)
	}

	path := filepath.Join(t.TempDir(), "hoist.yaml")
	file := strings.Replace(string(mustRead(t, "../../configs/hoist.example.yaml")), "mode: socket", "mode: http", 1)
	file = strings.Replace(file, `public_url: ""`, `public_url: "https://hoist.example.com"`, 1)
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, nil, "slack", "manifest", "--config", path)
	if err != nil || !strings.Contains(out, "url: https://hoist.example.com/slack/commands") || !strings.Contains(out, "socket_mode_enabled: false") {
		t.Fatalf("manifest in http mode: %v\n%s", err, out)
	}

	_, errOut, err := run(t, []string{"HOIST_SLACK_MODE=http"}, "slack", "manifest")
	if err == nil || !strings.Contains(errOut, "server.public_url: required in http mode") || !strings.Contains(errOut, "HOIST_SERVER_PUBLIC_URL") {
		t.Fatalf("http mode without public_url: %v, %q", err, errOut)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
