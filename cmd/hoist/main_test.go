package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, environ []string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(&out, &errOut, environ)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestValidateExample(t *testing.T) {
	out, _, err := run(t, nil, "config", "validate", "--config", "../../configs/hoist.example.yaml")
	if err != nil || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("validate example: %v, %q", err, out)
	}
}

func TestValidateListsEveryProblemWithoutSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.yaml")
	broken := `slack:
  bot_token: xoxp-SECRETVALUE
  signing_secret: ""
environments:
  production: {branch: master, cluster: eu, namespace: "{app}-prod"}
  staging: {branch: master, promotes_to: prod}
apps:
  api: {repo: acme}
`
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := run(t, []string{"HOIST_CONFIG=" + path}, "config", "validate")
	if err == nil {
		t.Fatal("a broken configuration validated")
	}
	for _, want := range []string{
		"apps.api.repo:",
		"environments.production.cluster: unknown cluster \"eu\"",
		"environments.staging.promotes_to: unknown environment \"prod\"",
		"environments.staging.branch: branch \"master\" is also claimed by production",
		"slack.bot_token: must be a bot token",
		"slack.signing_secret: required in http mode",
		"7 problems",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("output lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "SECRETVALUE") {
		t.Errorf("a secret was printed:\n%s", errOut)
	}
}

func TestValidateMissingFile(t *testing.T) {
	_, errOut, err := run(t, nil, "config", "validate", "--config", "/nonexistent/hoist.yaml")
	if err == nil || !strings.Contains(errOut, "/nonexistent/hoist.yaml") {
		t.Fatalf("missing file: %v, %q", err, errOut)
	}
}

func TestVersion(t *testing.T) {
	out, _, err := run(t, nil, "version")
	if err != nil || out != "hoist dev\n" {
		t.Fatalf("version: %v, %q", err, out)
	}
}
