package app_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/githubsim"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/store/storetest"
)

// postgresWithPassword returns a DSN of a fresh schema of the test
// database, as a role of its own with a password unlike any other word
// Hoist logs, and that password; ok is false without a test database.
func postgresWithPassword(t *testing.T) (dsn, password string, ok bool) {
	t.Helper()
	if os.Getenv("HOIST_TEST_POSTGRES_DSN") == "" {
		return "", "", false
	}
	base := storetest.PostgresDSN(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal("HOIST_TEST_POSTGRES_DSN is not a URL")
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	role, password := "hoist_logs_"+hex.EncodeToString(b), "pg-pass-"+hex.EncodeToString(b)
	schema := pgx.Identifier{u.Query().Get("search_path")}.Sanitize()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN PASSWORD '" + password + "'",
		"GRANT USAGE, CREATE ON SCHEMA " + schema + " TO " + role,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop role %s: %v", role, err)
			return
		}
		defer conn.Close(ctx)
		for _, stmt := range []string{"DROP OWNED BY " + role + " CASCADE", "DROP ROLE " + role} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})
	u.User = url.UserPassword(role, password)
	return u.String(), password, true
}

// logLines returns the JSON lines Hoist logged.
func (h *hoist) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, rec)
	}
	return out
}

// TestSecretsNeverReachTheLogs runs Hoist at debug level with every
// secret set, through a release that is approved, built and recorded on
// GitHub, a webhook delivery, and the failures whose errors name URLs:
// Jenkins down, GitHub refusing the token. launch's cleanup then checks
// that no secret appears in the logs.
func TestSecretsNeverReachTheLogs(t *testing.T) {
	const (
		appToken      = "xapp-1-A0LOGS-1234567890-leakcheckappleveltoken"
		revokedGitHub = "ghp_revokedTokenLeakCheck0123456789abcd"
	)
	gh, env := gitHubEnv(t)
	j := jenkinssim.New(
		jenkinssim.WithJob("api/preview", quickJob()),
		jenkinssim.WithJob("api/production", quickJob()),
	)
	t.Cleanup(j.Close)
	path := filepath.Join(t.TempDir(), "hoist.yaml")
	if err := os.WriteFile(path, []byte(gitHubConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env,
		"HOIST_SLACK_APP_TOKEN="+appToken,
		"HOIST_JENKINS_URL="+j.URL(),
		"HOIST_JENKINS_USER="+jenkinssim.DefaultUser,
		"HOIST_JENKINS_TOKEN="+jenkinssim.DefaultToken,
	)
	secrets := []string{appToken, jenkinssim.DefaultToken, githubsim.DefaultToken, webhookSecret, revokedGitHub}
	if dsn, password, ok := postgresWithPassword(t); ok {
		env = append(env, "HOIST_STORE_DRIVER=postgres", "HOIST_STORE_DSN="+dsn)
		secrets = append(secrets, password)
	} else {
		t.Log("the store's password is not checked: " + storetest.PostgresSkip)
	}
	h := launch(t, release.Ports{}, nil, func(h *hoist) { h.configFile = path }, env...)
	h.secrets = append(h.secrets, secrets...)
	st := h.openStore()

	h.command(developer, "/deploy", "api master")
	h.waitRelease(st, 1, release.AwaitingApproval)
	h.click(developer, bot.ActionApprove, 1, "dev-click")
	h.waitResponse(t, "dev-click")
	h.click(admin, bot.ActionApprove, 1, "admin-click")
	h.waitRelease(st, 1, release.Succeeded)
	h.waitDeployment(t, gh, 0, "queued in_progress success")

	body := gh.DeleteEvent(githubRepo, "feature-y")
	for _, secret := range []string{webhookSecret, "not-the-secret"} {
		req, err := githubsim.NewDelivery(t.Context(), h.url+"/github/webhook", "delete", "d-"+secret, secret, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	j.SetDown(true)
	h.command(developer, "/deploy", "api feature-x")
	if r := h.waitRelease(st, 2, release.Failed); !strings.Contains(r.StateReason, "jenkins unreachable") {
		t.Fatalf("release 2 failed for %q; want Jenkins unreachable", r.StateReason)
	}
	j.SetDown(false)

	h.stop()
	for i, kv := range h.environ {
		if strings.HasPrefix(kv, "HOIST_GITHUB_TOKEN=") {
			h.environ[i] = "HOIST_GITHUB_TOKEN=" + revokedGitHub
		}
	}
	h.run()
	h.command(developer, "/deploy", "api feature-x")
	if r := h.waitRelease(st, 3, release.Failed); !strings.Contains(r.StateReason, "401") {
		t.Fatalf("release 3 failed for %q; want GitHub's 401", r.StateReason)
	}

	var debug, withRequestID int
	for _, rec := range h.logLines(t) {
		if rec["level"] == "DEBUG" {
			debug++
		}
		if rec["request_id"] != nil {
			withRequestID++
		}
	}
	if debug == 0 || withRequestID == 0 {
		t.Errorf("the logs have %d debug lines and %d with a request ID: this test did not look where secrets could leak", debug, withRequestID)
	}
	for _, want := range []string{"jenkins request failed; retrying", "GitHub rejected github.token (401"} {
		if !strings.Contains(h.logs.String(), want) {
			t.Errorf("the logs never say %q: the failure was not logged where a secret could leak", want)
		}
	}
}
