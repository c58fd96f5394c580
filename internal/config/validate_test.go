package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hoistbot/hoist/configs"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// exampleTree returns the example configuration as a tree to edit.
func exampleTree(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(configs.Example(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// set sets a dotted key in a tree; a nil value deletes it.
func set(m map[string]any, key string, value any) {
	parts := strings.Split(key, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	if value == nil {
		delete(m, parts[len(parts)-1])
		return
	}
	m[parts[len(parts)-1]] = value
}

func TestBrokenConfigs(t *testing.T) {
	tests := []struct {
		name    string
		edits   map[string]any // dotted key → value; nil deletes
		environ []string
		key     string
		message string
	}{
		{"no cluster: the pipeline deploys by itself", map[string]any{"environments.staging.cluster": nil, "environments.staging.namespace": nil},
			nil, "", ""},
		{"unknown cluster", map[string]any{"environments.staging.cluster": "eu"},
			nil, "environments.staging.cluster", `unknown cluster "eu"; known: main`},
		{"unknown promotes_to", map[string]any{"environments.staging.promotes_to": "prod"},
			nil, "environments.staging.promotes_to", `unknown environment "prod"; known: production, staging, test`},
		{"promotes to itself", map[string]any{"environments.staging.promotes_to": "staging"},
			nil, "environments.staging.promotes_to", "cannot promote to itself"},
		{"promotion cycle", map[string]any{"environments.production.promotes_to": "staging"},
			nil, "environments.production.promotes_to", "promotion cycle: production → staging → production"},
		{"unknown placeholder", map[string]any{"environments.staging.namespace": "{app}-{foo}"},
			nil, "environments.staging.namespace", `unknown placeholder "{foo}"`},
		{"unbalanced open brace", map[string]any{"environments.staging.jenkins_job": "{app/staging"},
			nil, "environments.staging.jenkins_job", "unbalanced braces"},
		{"unbalanced close brace", map[string]any{"environments.staging.jenkins_job": "app}/staging"},
			nil, "environments.staging.jenkins_job", "unbalanced braces"},
		{"namespace not a DNS label", map[string]any{"environments.staging.namespace": "{app}_staging"},
			nil, "environments.staging.namespace", `expands to "api_staging" for app "api"`},
		{"missing namespace", map[string]any{"environments.staging.namespace": nil},
			nil, "environments.staging.namespace", "required"},
		{"ephemeral namespace without branch", map[string]any{"environments.test.namespace": "{app}-test"},
			nil, "environments.test.namespace", "needs {branch}"},
		{"same branch twice", map[string]any{"environments.staging.branch": "master"},
			nil, "environments.staging.branch", `branch "master" is also claimed by production`},
		{"same branch twice, other side", map[string]any{"environments.staging.branch": "master"},
			nil, "environments.production.branch", `branch "master" is also claimed by staging`},
		{"two catch-alls", map[string]any{"environments.staging.branch": "*"},
			nil, "environments.staging.branch", `branch "*" is also claimed by test`},
		{"empty branch", map[string]any{"environments.staging.branch": ""},
			nil, "environments.staging.branch", "required"},
		{"bad glob", map[string]any{"environments.staging.branch": "release/[1"},
			nil, "environments.staging.branch", `invalid glob "release/[1"`},
		{"ephemeral without ttl", map[string]any{"environments.test.ttl": nil},
			nil, "environments.test.ttl", "needs a ttl greater than zero"},
		{"ephemeral with negative ttl", map[string]any{"environments.test.ttl": "-1h"},
			nil, "environments.test.ttl", "needs a ttl greater than zero"},
		{"ttl on a long-lived environment", map[string]any{"environments.staging.ttl": "24h"},
			nil, "environments.staging.ttl", "only ephemeral environments expire"},
		{"ttl in days", map[string]any{"environments.test.ttl": "3d"},
			nil, "environments.test.ttl", `invalid duration "3d": days are not a unit; write hours, e.g. "72h"`},
		{"ttl without unit", map[string]any{"environments.test.ttl": 72},
			nil, "environments.test.ttl", "a duration needs a unit"},
		{"ttl garbage", map[string]any{"environments.test.ttl": "soon"},
			nil, "environments.test.ttl", `invalid duration "soon"`},
		{"typo in environment key", map[string]any{"environments.staging.protcted": true},
			nil, "environments.staging.protcted", `unknown key; did you mean "protected"?`},
		{"typo in app key", map[string]any{"apps.api.chanel": "C1"},
			nil, "apps.api.chanel", `unknown key; did you mean "channel"?`},
		{"typo in cluster key", map[string]any{"clusters.main.kubconfig": "/k"},
			nil, "clusters.main.kubconfig", `unknown key; did you mean "kubeconfig"?`},
		{"unknown top-level key", map[string]any{"slak": map[string]any{"mode": "http"}},
			nil, "slak", `unknown key; did you mean "slack"?`},
		{"unknown section key", map[string]any{"store.drvier": "sqlite"},
			nil, "store.drvier", `unknown key; did you mean "driver"?`},
		{"unrelated unknown key", map[string]any{"server.zzzzzzzzzz": 1},
			nil, "server.zzzzzzzzzz", "unknown key; known keys: listen, public_url"},
		{"protected not a bool", map[string]any{"environments.staging.protected": "yes please"},
			nil, "environments.staging.protected", "must be true or false"},
		{"section not a mapping", map[string]any{"slack": "xoxb-1"},
			nil, "slack", "must be a mapping"},
		{"environments not a mapping", map[string]any{"environments": []any{"production"}},
			nil, "environments", "must be a mapping of names to settings"},
		{"environment not a mapping", map[string]any{"environments.staging": "latest"},
			nil, "environments.staging", "must be a mapping"},
		{"list where a string belongs", map[string]any{"apps.api.repo": []any{"acme/api"}},
			nil, "apps.api.repo", "must be a string"},
		{"string list where a list belongs", map[string]any{"rbac.admins": "U1, U2"},
			nil, "", ""}, // accepted: split like an environment variable
		{"bad bot token", map[string]any{"slack.bot_token": "xoxp-123"},
			nil, "slack.bot_token", `must be a bot token, starting with "xoxb-"; this one starts with "xoxp-": a user token`},
		{"app token as bot token", map[string]any{"slack.bot_token": "xapp-1"},
			nil, "slack.bot_token", "belongs in slack.app_token"},
		{"token with newline", map[string]any{"slack.bot_token": "xoxb-1\n"},
			nil, "slack.bot_token", "contains white space"},
		{"no bot token", map[string]any{"slack.bot_token": ""},
			nil, "slack.bot_token", "required"},
		{"bad app token", map[string]any{"slack.app_token": "xoxb-1"},
			nil, "slack.app_token", `must be an app-level token, starting with "xapp-"`},
		{"socket mode without app token", map[string]any{"slack.mode": "socket", "slack.app_token": ""},
			nil, "slack.app_token", "required in socket mode"},
		{"http mode without signing secret", map[string]any{"slack.mode": "http", "slack.signing_secret": ""},
			nil, "slack.signing_secret", "required in http mode"},
		{"socket mode without signing secret", map[string]any{"slack.signing_secret": ""},
			nil, "", ""},
		{"bad mode", map[string]any{"slack.mode": "webhook"},
			nil, "slack.mode", `must be "http" or "socket"; got "webhook"`},
		{"bad driver", map[string]any{"store.driver": "mysql"},
			nil, "store.driver", `must be "sqlite" or "postgres"; got "mysql"`},
		{"empty dsn", map[string]any{"store.dsn": ""},
			nil, "store.dsn", "required"},
		{"no approvals", map[string]any{"rbac.required_approvals": 0},
			nil, "rbac.required_approvals", "must be at least 1; got 0"},
		{"admin not a user ID", map[string]any{"rbac.admins": []any{"@alice"}},
			nil, "rbac.admins", `"@alice" is not a Slack user ID`},
		{"group not a group ID", map[string]any{"rbac.admin_groups": []any{"ops"}},
			nil, "rbac.admin_groups", `"ops" is not a Slack user group ID`},
		{"zero timeout", map[string]any{"approvals.timeout": "0s"},
			nil, "approvals.timeout", "must be greater than zero"},
		{"negative timeout from env", nil,
			[]string{"HOIST_APPROVALS_TIMEOUT=-5m"}, "approvals.timeout", "must be greater than zero"},
		{"app without repo", map[string]any{"apps.api.repo": nil},
			nil, "apps.api.repo", "required"},
		{"repo not owner/name", map[string]any{"apps.api.repo": "https://github.com/acme/api"},
			nil, "apps.api.repo", `must be "owner/name"`},
		{"bad deployment name", map[string]any{"apps.api.deployment": "API"},
			nil, "apps.api.deployment", "not a valid Kubernetes name"},
		{"bad app name", map[string]any{"apps.my_api": map[string]any{"repo": "acme/api"}},
			nil, "apps.my_api", "names must be lower-case letters, digits"},
		{"listen without port", map[string]any{"server.listen": "localhost"},
			nil, "server.listen", `must be host:port`},
		{"listen with bad port", map[string]any{"server.listen": ":http-alt"},
			nil, "server.listen", `must be host:port`},
		{"empty listen", map[string]any{"server.listen": ""},
			nil, "server.listen", "required"},
		{"relative api_url", map[string]any{"slack.api_url": "slack.com/api/"},
			nil, "slack.api_url", "must be an absolute http(s) URL"},
		{"api_url without slash", map[string]any{"slack.api_url": "http://127.0.0.1:9000/api"},
			nil, "slack.api_url", `must end with "/": "http://127.0.0.1:9000/api/"`},
		{"empty api_url", map[string]any{"slack.api_url": ""},
			nil, "slack.api_url", "required"},
		{"github enterprise without slash", map[string]any{"github.base_url": "https://ghe.example.com/api/v3"},
			nil, "github.base_url", `must end with "/"`},
		{"unknown merge method", map[string]any{"github.merge_method": "fast-forward"},
			nil, "github.merge_method", `must be one of merge, squash, rebase; got "fast-forward"`},
		{"merge method from the environment", nil, []string{"HOIST_GITHUB_MERGE_METHOD=squash"}, "", ""},
		{"required contexts from the environment", nil, []string{"HOIST_GITHUB_REQUIRED_CONTEXTS=ci/test,lint"}, "", ""},
		{"webhook secret with a newline", map[string]any{"github.webhook_secret": "s3cret\n"},
			nil, "github.webhook_secret", "contains white space"},
		{"environment url", map[string]any{"environments.test.url": "https://{app}-{branch}.preview.example.com/"},
			nil, "", ""},
		{"environment url not absolute", map[string]any{"environments.test.url": "{app}-{branch}.preview.example.com"},
			nil, "environments.test.url", "must be an absolute http(s) URL"},
		{"environment url with an unknown placeholder", map[string]any{"environments.test.url": "https://{pr}.example.com/"},
			nil, "environments.test.url", `unknown placeholder "{pr}"`},
		{"ftp jenkins", map[string]any{"jenkins.url": "ftp://jenkins"},
			nil, "jenkins.url", "must be an absolute http(s) URL"},
		{"bad public_url", map[string]any{"server.public_url": "hoist.example.com"},
			nil, "server.public_url", "must be an absolute http(s) URL"},
		{"no environments", map[string]any{"environments": nil},
			nil, "environments", "at least one environment is required"},
		{"no apps", map[string]any{"apps": nil},
			nil, "apps", "at least one app is required"},
		{"bad environment name", map[string]any{"environments.Prod_EU": map[string]any{"branch": "eu", "cluster": "main", "namespace": "{app}-eu"}},
			nil, "environments.prod_eu", "names must be lower-case letters, digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := exampleTree(t)
			for k, v := range tt.edits {
				set(tree, k, v)
			}
			data, err := yaml.Marshal(tree)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse("test.yaml", data, tt.environ)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			problems := c.Validate()
			if tt.key == "" {
				for _, p := range problems {
					t.Errorf("unexpected problem: %s", p)
				}
				return
			}
			for _, p := range problems {
				if p.Key == tt.key && strings.Contains(p.Message, tt.message) {
					return
				}
			}
			t.Errorf("no problem %s: …%s…; got:\n%s", tt.key, tt.message, strings.Join(problemStrings(problems), "\n"))
		})
	}
}

func TestGolden(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "broken.yaml"), []string{"HOIST_RBAC_REQUIRED_APPROVALS=0"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(problemStrings(c.Validate()), "\n") + "\n"
	if strings.Contains(got, "SECRET") {
		t.Errorf("problems leak a secret of broken.yaml:\n%s", got)
	}
	golden := filepath.Join("testdata", "broken.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("problems differ from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}

func TestValidateIsSortedAndStable(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "broken.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	first := c.Validate()
	for i := 1; i < len(first); i++ {
		if first[i-1].Key > first[i].Key {
			t.Errorf("not sorted: %s before %s", first[i-1], first[i])
		}
	}
	for range 20 {
		if got := c.Validate(); strings.Join(problemStrings(got), "\n") != strings.Join(problemStrings(first), "\n") {
			t.Fatal("Validate is not deterministic")
		}
	}
}

func TestProblemsNeverContainSecrets(t *testing.T) {
	tree := exampleTree(t)
	set(tree, "slack.bot_token", "xoxp-SECRETVALUE")
	set(tree, "slack.app_token", "SECRETAPP")
	set(tree, "slack.signing_secret", "SECRETSIGN \n")
	set(tree, "jenkins.url", "https://hoist:SECRETPW@jenkins.example.com:bad/")
	set(tree, "github.base_url", "https://hoist:SECRETGH@ghe.example.com/api/v3")
	set(tree, "github.token", []any{"SECRETLIST"})
	set(tree, "jenkins.token", 12345678)
	data, err := yaml.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse("test.yaml", data, []string{"HOIST_STORE_DSN=postgres://u:SECRETDSN@db/hoist", "HOIST_STORE_DRIVER=mysql"})
	if err != nil {
		t.Fatal(err)
	}
	problems := c.Validate()
	if len(problems) < 6 {
		t.Errorf("expected a problem per bad value, got %q", problemStrings(problems))
	}
	for _, p := range problems {
		if strings.Contains(p.String(), "SECRET") || strings.Contains(p.String(), "12345678") {
			t.Errorf("problem leaks a secret: %s", p)
		}
	}
	if err := Problems(problems).Error(); strings.Contains(err, "SECRET") {
		t.Errorf("Problems.Error leaks a secret: %s", err)
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{Key: "environments.staging.promotes_to", Message: `unknown environment "prod"; known: production, staging, test`}
	if got, want := p.String(), `environments.staging.promotes_to: unknown environment "prod"; known: production, staging, test`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := (Problem{Message: "m"}).String(); got != "m" {
		t.Errorf("String() without key = %q", got)
	}
	err := Problems{{Key: "a", Message: "x"}, {Key: "b", Message: "y"}}.Error()
	if err != "invalid configuration (2 problems):\na: x\nb: y" {
		t.Errorf("Problems.Error() = %q", err)
	}
}

// TestValidateHandBuilt checks Validate on a Config built in Go, as other
// packages' tests do, with no load problems and no defaults.
func TestValidateHandBuilt(t *testing.T) {
	c := &Config{}
	got := problemStrings(c.Validate())
	for _, want := range []string{
		"apps: at least one app is required",
		"environments: at least one environment is required",
		`slack.mode: must be "http" or "socket"; got ""`,
		"server.listen: required: host:port, e.g. \"127.0.0.1:8080\" or \":8080\"",
	} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("problems lack %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
}
