package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistbot/hoist/internal/app"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
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

func TestValidateChecksAdminGroupsWithSlack(t *testing.T) {
	sim := slackapi.New(slackapi.WithoutUserGroups())
	t.Cleanup(sim.Close)
	environ := []string{
		"HOIST_SLACK_API_URL=" + sim.URL(),
		"HOIST_SLACK_BOT_TOKEN=" + slackapi.DefaultToken,
		"HOIST_RBAC_ADMIN_GROUPS=S0ADMINS",
	}
	_, errOut, err := run(t, environ, "config", "validate")
	if err == nil || !strings.Contains(errOut, "this Slack workspace's plan has no user groups") || !strings.Contains(errOut, "rbac.admins") {
		t.Fatalf("validate with a plan without user groups: %v\n%s", err, errOut)
	}
	if strings.Contains(errOut, slackapi.DefaultToken) {
		t.Fatalf("the token was printed:\n%s", errOut)
	}
	if _, _, err := run(t, environ, "config", "validate", "--offline"); err != nil {
		t.Fatalf("--offline still asked Slack: %v", err)
	}

	withGroup := slackapi.New(slackapi.WithUserGroup("S0ADMINS", "U0ANA"))
	t.Cleanup(withGroup.Close)
	environ[0] = "HOIST_SLACK_API_URL=" + withGroup.URL()
	if out, errOut, err := run(t, environ, "config", "validate"); err != nil {
		t.Fatalf("validate with a readable group: %v\n%s%s", err, out, errOut)
	}
}

// In a pod, the chart's variables name the pod and the leader Lease;
// elsewhere there is no pod, whatever the variables say.
func TestPodOf(t *testing.T) {
	for _, tc := range []struct {
		environ []string
		want    app.Pod
	}{
		{[]string{"HOIST_POD_NAMESPACE=ops", "HOIST_POD_NAME=hoist-1"}, app.Pod{}},
		{[]string{"KUBERNETES_SERVICE_HOST=10.0.0.1", "HOIST_POD_NAMESPACE=ops", "HOIST_POD_NAME=hoist-1", "HOIST_LEADER_LEASE=blue-hoist-leader"},
			app.Pod{Namespace: "ops", Name: "hoist-1", LeaderLease: "blue-hoist-leader"}},
		{[]string{"KUBERNETES_SERVICE_HOST=10.0.0.1", "HOIST_POD_NAMESPACE=ops", "HOSTNAME=hoist-2"}, app.Pod{Namespace: "ops", Name: "hoist-2"}},
	} {
		if got := podOf(tc.environ); got != tc.want {
			t.Errorf("podOf(%q) = %+v, want %+v", tc.environ, got, tc.want)
		}
	}
}
