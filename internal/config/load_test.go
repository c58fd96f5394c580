package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/configs"
)

const examplePath = "../../configs/hoist.example.yaml"

func mustLoad(t *testing.T, path string, environ []string) *Config {
	t.Helper()
	c, err := Load(path, environ)
	if err != nil {
		t.Fatalf("Load(%q): %v", path, err)
	}
	return c
}

func mustParse(t *testing.T, yaml string, environ []string) *Config {
	t.Helper()
	c, err := Parse("test.yaml", []byte(yaml), environ)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func assertNoProblems(t *testing.T, c *Config) {
	t.Helper()
	for _, p := range c.Validate() {
		t.Errorf("unexpected problem: %s", p)
	}
}

func TestExampleLoadsAndValidates(t *testing.T) {
	for _, path := range []string{"", examplePath} {
		t.Run("path="+path, func(t *testing.T) {
			c := mustLoad(t, path, nil)
			assertNoProblems(t, c)

			if got := c.Environments["test"]; got.Branch != "*" || !got.Ephemeral || got.TTL != 72*time.Hour ||
				got.Namespace != "{app}-{branch}" || got.JenkinsJob != "{app}/preview" || got.Cluster != "main" {
				t.Errorf("environments.test = %+v", got)
			}
			if got := c.Environments["staging"]; got.Branch != "latest" || !got.Protected || got.PromotesTo != "production" {
				t.Errorf("environments.staging = %+v", got)
			}
			if got := c.Environments["production"]; got.Branch != "master" || !got.Protected || got.Namespace != "{app}-production" {
				t.Errorf("environments.production = %+v", got)
			}
			if got, want := c.Apps["api"], (App{Repo: "acme/api", Deployment: "api", Channel: "C0DEPLOYS"}); got != want {
				t.Errorf("apps.api = %+v, want %+v", got, want)
			}
			if got := c.Clusters["main"]; got != (Cluster{}) {
				t.Errorf("clusters.main = %+v, want in-cluster", got)
			}
			if c.Slack.Mode != "socket" || c.Slack.BotToken.Reveal() != "xoxb-replace-me" || c.Slack.AppToken.Reveal() != "xapp-replace-me" || c.Slack.SigningSecret.Reveal() != "replace-me" {
				t.Errorf("slack = %+v", c.Slack)
			}
			if c.Approvals.Timeout != 30*time.Minute || c.RBAC.RequiredApprovals != 1 || c.RBAC.AllowSelfApproval {
				t.Errorf("approvals/rbac = %+v %+v", c.Approvals, c.RBAC)
			}
		})
	}
}

func TestEmbeddedExampleEqualsFile(t *testing.T) {
	file, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(configs.Example(), file) {
		t.Fatal("configs.Example() differs from configs/hoist.example.yaml")
	}
}

// TestExampleDocumentsEveryKey checks that every key of Config appears in
// the example with a comment above it, and every environment variable is named.
func TestExampleDocumentsEveryKey(t *testing.T) {
	example := string(configs.Example())
	documented := map[string]bool{} // key path (map entries as "*") → has a comment
	var stack []struct {
		indent int
		key    string
	}
	prevComment := false
	for line := range strings.Lines(example) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			prevComment = false
			continue
		}
		if strings.HasPrefix(trimmed, "#") {
			prevComment = true
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		key, _, _ := strings.Cut(trimmed, ":")
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, struct {
			indent int
			key    string
		}{indent, key})
		var parts []string
		for i, s := range stack {
			if i == 1 && slices.Contains([]string{"clusters", "environments", "apps"}, stack[0].key) {
				parts = append(parts, "*")
				continue
			}
			parts = append(parts, s.key)
		}
		path := strings.Join(parts, ".")
		if _, seen := documented[path]; !seen || prevComment {
			documented[path] = documented[path] || prevComment
		}
		prevComment = false
	}

	var want []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for _, f := range fields(t) {
			want = append(want, prefix+f.tag)
			switch f.typ.Kind() {
			case reflect.Struct:
				walk(prefix+f.tag+".", f.typ)
			case reflect.Map:
				walk(prefix+f.tag+".*.", f.typ.Elem())
			}
		}
	}
	walk("", configType)
	for _, key := range want {
		if !strings.Contains(key, ".") || strings.Count(key, ".") == 1 && strings.HasSuffix(key, "*") {
			continue // sections need no comment of their own
		}
		if !documented[key] {
			t.Errorf("example: key %s is missing or has no comment above it", key)
		}
	}
	for _, key := range EnvKeys() {
		if !strings.Contains(example, EnvVar(key)) {
			t.Errorf("example does not name %s (for %s)", EnvVar(key), key)
		}
	}
}

func TestEnvKeys(t *testing.T) {
	keys := EnvKeys()
	for _, want := range []string{"slack.bot_token", "rbac.admins", "approvals.timeout", "store.dsn", "github.base_url"} {
		if !slices.Contains(keys, want) {
			t.Errorf("EnvKeys() lacks %s", want)
		}
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "environments") || strings.HasPrefix(k, "apps") || strings.HasPrefix(k, "clusters") {
			t.Errorf("EnvKeys() has map key %s", k)
		}
	}
	if got := EnvVar("slack.bot_token"); got != "HOIST_SLACK_BOT_TOKEN" {
		t.Errorf("EnvVar = %q", got)
	}
}

func TestEnvOverrides(t *testing.T) {
	environ := []string{
		"HOIST_SLACK_BOT_TOKEN=xoxb-from-env",
		"HOIST_RBAC_ADMINS=U1,U2",
		"HOIST_RBAC_ADMIN_GROUPS=S1 S2  S3",
		"HOIST_APPROVALS_TIMEOUT=45m",
		"HOIST_STORE_DSN=/var/lib/hoist/hoist.db",
		"HOIST_RBAC_REQUIRED_APPROVALS=2",
		"HOIST_RBAC_ALLOW_SELF_APPROVAL=true",
		"HOIST_SLACK_ALLOWED_CHANNELS=C1, C2",
		"HOIST_SLACK_TEAM_ID=",           // empty: ignored
		"HOIST_SERVER_LISTEN=:9000",      // overridden by the later entry
		"HOIST_SERVER_LISTEN=:9090",      // later entries win
		"HOIST_ENVIRONMENTS=ignored",     // not a key
		"NOT_HOIST_STORE_DRIVER=mystery", // no prefix
		"malformed",
	}
	c := mustLoad(t, "", environ)
	assertNoProblems(t, c)
	if got := c.Slack.BotToken.Reveal(); got != "xoxb-from-env" {
		t.Errorf("bot token = %q", got)
	}
	if want := []string{"U1", "U2"}; !slices.Equal(c.RBAC.Admins, want) {
		t.Errorf("admins = %q, want %q", c.RBAC.Admins, want)
	}
	if want := []string{"S1", "S2", "S3"}; !slices.Equal(c.RBAC.AdminGroups, want) {
		t.Errorf("admin groups = %q, want %q", c.RBAC.AdminGroups, want)
	}
	if want := []string{"C1", "C2"}; !slices.Equal(c.Slack.AllowedChannels, want) {
		t.Errorf("allowed channels = %q, want %q", c.Slack.AllowedChannels, want)
	}
	if c.Approvals.Timeout != 45*time.Minute {
		t.Errorf("timeout = %v", c.Approvals.Timeout)
	}
	if c.Store.DSN.Reveal() != "/var/lib/hoist/hoist.db" || c.Store.Driver != "sqlite" {
		t.Errorf("store = %q %q", c.Store.Driver, c.Store.DSN.Reveal())
	}
	if c.RBAC.RequiredApprovals != 2 || !c.RBAC.AllowSelfApproval {
		t.Errorf("rbac = %+v", c.RBAC)
	}
	if c.Server.Listen != ":9090" {
		t.Errorf("listen = %q", c.Server.Listen)
	}
	if c.Slack.TeamID != "" {
		t.Errorf("team id = %q", c.Slack.TeamID)
	}
}

func TestGitHubEnvOverrides(t *testing.T) {
	c := mustLoad(t, "", []string{
		"HOIST_GITHUB_REQUIRED_CONTEXTS=ci/test, lint",
		"HOIST_GITHUB_MERGE_METHOD=rebase",
		"HOIST_GITHUB_FAST_FORWARD_ONLY=true",
		"HOIST_GITHUB_WEBHOOK_SECRET=hook",
	})
	assertNoProblems(t, c)
	g := c.GitHub
	if want := []string{"ci/test", "lint"}; !slices.Equal(g.RequiredContexts, want) || g.MergeMethod != "rebase" || !g.FastForwardOnly || g.WebhookSecret.Reveal() != "hook" {
		t.Errorf("github = %+v (contexts %q)", g, g.RequiredContexts)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	yaml := strings.Replace(string(configs.Example()), "timeout: 30m", "timeout: 10m", 1)
	if c := mustParse(t, yaml, nil); c.Approvals.Timeout != 10*time.Minute {
		t.Fatalf("file timeout = %v", c.Approvals.Timeout)
	}
	if c := mustParse(t, yaml, []string{"HOIST_APPROVALS_TIMEOUT=1h"}); c.Approvals.Timeout != time.Hour {
		t.Fatalf("env timeout = %v", c.Approvals.Timeout)
	}
}

func TestBadEnvValuesAreProblems(t *testing.T) {
	c := mustLoad(t, "", []string{"HOIST_APPROVALS_TIMEOUT=3d", "HOIST_RBAC_REQUIRED_APPROVALS=two", "HOIST_RBAC_ALLOW_SELF_APPROVAL=maybe"})
	got := strings.Join(problemStrings(c.Validate()), "\n")
	for _, want := range []string{
		`approvals.timeout: invalid duration "3d": days are not a unit; write hours, e.g. "72h"`,
		"rbac.allow_self_approval: must be true or false",
		"rbac.required_approvals: must be a whole number",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q; got:\n%s", want, got)
		}
	}
	if strings.Contains(got, "greater than zero") || strings.Contains(got, "at least 1") {
		t.Errorf("problems repeat a key Load already reported:\n%s", got)
	}
}

func TestKubernetesServiceLinksIgnored(t *testing.T) {
	environ := []string{
		"HOIST_PORT=tcp://10.0.0.1:80",
		"HOIST_SERVICE_HOST=10.0.0.1",
		"HOIST_SERVICE_PORT=80",
		"HOIST_SERVICE_PORT_HTTP=80",
		"HOIST_PORT_80_TCP=tcp://10.0.0.1:80",
		"HOIST_PORT_80_TCP_PROTO=tcp",
		"HOIST_PORT_80_TCP_PORT=80",
		"HOIST_PORT_80_TCP_ADDR=10.0.0.1",
		"HOIST_STORE_PORT=tcp://10.0.0.2:5432", // a Service named hoist-store
		"HOIST_STORE_SERVICE_HOST=10.0.0.2",
	}
	c := mustLoad(t, "", environ)
	assertNoProblems(t, c)
	if !reflect.DeepEqual(c, mustLoad(t, "", nil)) {
		t.Error("service link variables changed the configuration")
	}
}

func TestIsKubeServiceLink(t *testing.T) {
	tests := []struct {
		name, value string
		want        bool
	}{
		{"HOIST_PORT", "tcp://10.0.0.1:80", true},
		{"HOIST_PORT", "8080", false}, // not a service link's value
		{"HOIST_SERVICE_HOST", "10.0.0.1", true},
		{"HOIST_SERVICE_PORT", "80", true},
		{"HOIST_SERVICE_PORT_METRICS", "9090", true},
		{"HOIST_PORT_8080_TCP", "tcp://10.0.0.1:8080", true},
		{"HOIST_PORT_8080_UDP_ADDR", "10.0.0.1", true},
		{"HOIST_SERVER_PORT", "udp://10.0.0.1:53", true},
		{"HOIST_SLACK_BOT_TOKEN", "xoxb-1", false},
		{"HOIST_SERVER_LISTEN", "tcp://weird", false},
	}
	for _, tt := range tests {
		if got := isKubeServiceLink(tt.name, tt.value); got != tt.want {
			t.Errorf("isKubeServiceLink(%q, %q) = %v, want %v", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	c := mustParse(t, `
slack:
  bot_token: xoxb-1
  signing_secret: s
clusters:
  main:
environments:
  production: {branch: master, cluster: main, namespace: "{app}"}
apps:
  api: {repo: acme/api}
`, nil)
	assertNoProblems(t, c)
	want := Config{
		Server:    Server{Listen: "127.0.0.1:8080"},
		Slack:     Slack{Mode: "http", BotToken: "xoxb-1", SigningSecret: "s", APIURL: "https://slack.com/api/", UpdateBudgetPerMinute: 50},
		RBAC:      RBAC{RequiredApprovals: 1},
		Approvals: Approvals{Timeout: 30 * time.Minute},
		Store:     Store{Driver: "sqlite", DSN: "hoist.db", LeaseTTL: 15 * time.Second},
		GitHub:    GitHub{BaseURL: "https://api.github.com/", MergeMethod: "merge"},
		Clusters:  map[string]Cluster{"main": {}},
		Environments: map[string]Environment{
			"production": {Branch: "master", Cluster: "main", Namespace: "{app}"},
		},
		Apps: map[string]App{"api": {Repo: "acme/api"}},
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("got  %+v\nwant %+v", *c, want)
	}
}

func TestEmptyMapEntriesAreKept(t *testing.T) {
	for _, clusters := range []string{"clusters: {main: {}}", "clusters:\n  main:\n"} {
		c := mustParse(t, clusters+"\n", nil)
		if _, ok := c.Clusters["main"]; !ok {
			t.Errorf("%q: cluster main lost: %+v", clusters, c.Clusters)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	_, err := Load(missing, nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("missing file: %v", err)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("slack:\n  mode: http\n bot_token: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "parse config "+bad+": ") || strings.Contains(err.Error(), "While") {
		t.Errorf("bad YAML: %v", err)
	}

	for _, doc := range []string{"- a list\n", "just a string\n", "a: 1\na: 2\n"} {
		if _, err := Parse("doc.yaml", []byte(doc), nil); err == nil || !strings.Contains(err.Error(), "doc.yaml") {
			t.Errorf("Parse(%q) = %v, want an error naming doc.yaml", doc, err)
		}
	}
}

func TestEmptyFileIsNotAnError(t *testing.T) {
	c := mustParse(t, "", nil)
	got := problemStrings(c.Validate())
	for _, want := range []string{"apps: at least one app is required", "environments: at least one environment is required"} {
		if !slices.Contains(got, want) {
			t.Errorf("problems lack %q: %q", want, got)
		}
	}
}

func problemStrings(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

func TestExamplePlaceholdersAreNamed(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Placeholders(), ","); got != "slack.bot_token,slack.app_token" {
		t.Errorf("Placeholders() = %q", got)
	}
	c, err = Load("", []string{"HOIST_SLACK_BOT_TOKEN=xoxb-1-real", "HOIST_SLACK_APP_TOKEN=xapp-1-real"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Placeholders(); len(got) != 0 {
		t.Errorf("Placeholders() = %q after setting both", got)
	}
	c, err = Load("", []string{"HOIST_SLACK_MODE=http"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Placeholders(), ","); got != "slack.bot_token,slack.signing_secret" {
		t.Errorf("Placeholders() = %q in http mode", got)
	}
}

func TestRedactPatternFromEnvIsOnePattern(t *testing.T) {
	c, err := Load("", []string{`HOIST_JENKINS_REDACT_PATTERNS=secret=[^, ]+`})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Jenkins.RedactPatterns; len(got) != 1 || got[0] != `secret=[^, ]+` {
		t.Fatalf("RedactPatterns = %q", got)
	}
	for _, bad := range []struct{ pattern, problem string }{
		{"(", "missing closing )"},
		{"a*", "empty"},
	} {
		c.Jenkins.RedactPatterns = []string{bad.pattern}
		found := false
		for _, p := range c.Validate() {
			if p.Key == "jenkins.redact_patterns[0]" && strings.Contains(p.Message, bad.problem) {
				found = true
			}
		}
		if !found {
			t.Errorf("pattern %q: no problem mentioning %q in %v", bad.pattern, bad.problem, c.Validate())
		}
	}
}
