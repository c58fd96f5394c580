package metrics_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hoistbot/hoist/internal/metrics"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/store"
)

// scrape reads the metrics as Prometheus does, over HTTP, and returns
// each sample by its name and labels as written, and the raw text.
func scrape(t *testing.T, m *metrics.Metrics) (map[string]float64, string) {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples, string(raw)
}

func want(t *testing.T, samples map[string]float64, series string, value float64) {
	t.Helper()
	got, ok := samples[series]
	if !ok {
		t.Errorf("no sample %s", series)
		return
	}
	if got != value {
		t.Errorf("%s = %v, want %v", series, got, value)
	}
}

func absent(t *testing.T, samples map[string]float64, prefix string) {
	t.Helper()
	for k := range samples {
		if strings.HasPrefix(k, prefix) {
			t.Errorf("unexpected sample %s", k)
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestSlackRequestsByKindAndOutcome(t *testing.T) {
	m := metrics.New(nil, nil, quiet())
	answers := map[string]int{"/slack/commands": 200, "/slack/interactions": 413, "/slack/events": 403, "/healthz": 200}
	front := m.SlackRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := answers[r.URL.Path]
		if r.Header.Get("X-Test-Unsigned") != "" {
			status = http.StatusUnauthorized
		}
		if status == http.StatusOK {
			io.WriteString(w, "ok") // no explicit WriteHeader, as handlers often do
			return
		}
		http.Error(w, "no", status)
	}))
	srv := httptest.NewServer(front)
	defer srv.Close()
	send := func(path string, unsigned bool) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, nil)
		if unsigned {
			req.Header.Set("X-Test-Unsigned", "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("/slack/commands", false)
	send("/slack/commands", false)
	send("/slack/commands", true)
	send("/slack/interactions", false)
	send("/slack/events", false)
	send("/healthz", false)
	m.ObserveAck(metrics.KindInteraction, metrics.OutcomeOK, 0) // as the Socket Mode transport reports

	samples, _ := scrape(t, m)
	want(t, samples, `hoist_slack_requests_total{kind="command",outcome="ok"}`, 2)
	want(t, samples, `hoist_slack_requests_total{kind="command",outcome="unauthorized"}`, 1)
	want(t, samples, `hoist_slack_requests_total{kind="interaction",outcome="too_large"}`, 1)
	want(t, samples, `hoist_slack_requests_total{kind="interaction",outcome="ok"}`, 1)
	want(t, samples, `hoist_slack_requests_total{kind="event",outcome="refused"}`, 1)
	want(t, samples, `hoist_slack_ack_duration_seconds_count{kind="command"}`, 3)
	want(t, samples, `hoist_slack_ack_duration_seconds_count{kind="interaction"}`, 2)
	want(t, samples, `hoist_slack_ack_duration_seconds_bucket{kind="interaction",le="3"}`, 2)
	if len(samples) < 20 || samples["go_goroutines"] == 0 {
		t.Error("the Go runtime's metrics are missing")
	}
}

func TestSlackAPICallsAndRateLimits(t *testing.T) {
	m := metrics.New(nil, nil, quiet())
	slackAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/chat.update" {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	client := &http.Client{Transport: m.SlackTransport(nil)}
	for _, path := range []string{"/api/chat.postMessage", "/api/chat.postMessage", "/api/chat.update", "/actions/T1/42/respondSecretXYZ"} {
		resp, err := client.Post(slackAPI.URL+path, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	slackAPI.Close()
	if resp, err := client.Post(slackAPI.URL+"/api/auth.test", "application/x-www-form-urlencoded", nil); err == nil {
		resp.Body.Close()
		t.Fatal("a closed server answered")
	}

	samples, raw := scrape(t, m)
	want(t, samples, `hoist_slack_api_calls_total{code="200",method="chat.postMessage"}`, 2)
	want(t, samples, `hoist_slack_api_calls_total{code="429",method="chat.update"}`, 1)
	want(t, samples, `hoist_slack_api_calls_total{code="200",method="other"}`, 1)
	want(t, samples, `hoist_slack_api_calls_total{code="error",method="auth.test"}`, 1)
	want(t, samples, `hoist_slack_api_rate_limited_total{method="chat.update"}`, 1)
	absent(t, samples, `hoist_slack_api_rate_limited_total{method="chat.postMessage"}`)
	if strings.Contains(raw, "respondSecretXYZ") {
		t.Error("a response URL's secret part became a label")
	}
}

type failingPipeline struct {
	release.Pipeline
	err error
}

func (p failingPipeline) Trigger(context.Context, release.BuildRequest) (int64, error) {
	return 0, p.err
}

type failingCluster struct {
	release.Cluster
	err error
}

func (c failingCluster) Rollout(context.Context, release.RolloutTarget, func(release.RolloutProgress)) error {
	return c.err
}

type failingSCM struct {
	release.SCM
	err error
}

func (s failingSCM) Commit(context.Context, string, string) (release.Commit, error) {
	return release.Commit{}, s.err
}

func TestIntegrationErrorsByOperationAndTransience(t *testing.T) {
	m := metrics.New(nil, nil, quiet())
	for _, err := range []error{
		fmt.Errorf("jenkins unreachable: %w", release.ErrUnavailable),
		fmt.Errorf("jenkins unreachable: %w", release.ErrUnavailable),
		errors.New("jenkins refuses the credentials"),
		fmt.Errorf("queue item cancelled: %w", release.ErrNotBuilt), // Jenkins' answer, not its failure
		context.Canceled, // Hoist stopping
		nil,
	} {
		_, got := m.Pipeline("jenkins", failingPipeline{err: err}).Trigger(context.Background(), release.BuildRequest{})
		if !errors.Is(got, err) {
			t.Fatalf("the decorator changed the error %v into %v", err, got)
		}
	}
	_ = m.Cluster("kubernetes", failingCluster{err: context.DeadlineExceeded}).Rollout(context.Background(), release.RolloutTarget{}, nil)
	_ = m.Cluster("kubernetes", failingCluster{err: fmt.Errorf("crash loop: %w", release.ErrRolloutFailed)}).Rollout(context.Background(), release.RolloutTarget{}, nil)
	_, _ = m.SCM("github", failingSCM{err: errors.New("401 Bad credentials")}).Commit(context.Background(), "acme/api", "main")
	_, _ = m.SCM("github", failingSCM{err: fmt.Errorf("nope: %w", release.ErrUnknownRef)}).Commit(context.Background(), "acme/api", "nope")

	samples, _ := scrape(t, m)
	want(t, samples, `hoist_integration_errors_total{operation="trigger",system="jenkins",transient="true"}`, 2)
	want(t, samples, `hoist_integration_errors_total{operation="trigger",system="jenkins",transient="false"}`, 1)
	want(t, samples, `hoist_integration_errors_total{operation="rollout",system="kubernetes",transient="true"}`, 1)
	want(t, samples, `hoist_integration_errors_total{operation="commit",system="github",transient="false"}`, 1)
	absent(t, samples, `hoist_integration_errors_total{operation="rollout",system="kubernetes",transient="false"}`)
	absent(t, samples, `hoist_integration_errors_total{operation="commit",system="github",transient="true"}`)
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "hoist.db"), quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestApprovalsReleasesAndStoreLatency(t *testing.T) {
	st := openStore(t)
	m := metrics.New(st, []string{"production", "staging"}, quiet())
	core := m.Store(st)
	ctx := context.Background()
	move := func(r release.Release, to ...release.State) {
		t.Helper()
		from := r.State
		for _, s := range to {
			if _, err := core.Transition(ctx, release.Transition{ID: r.ID, From: from, To: s, Actor: "U1"}); err != nil {
				t.Fatal(err)
			}
			from = s
		}
	}
	newRelease := func(env string) release.Release {
		t.Helper()
		r, err := core.CreateRelease(ctx, release.Release{Kind: release.KindDeploy, App: "api", Env: env, Ref: "main", RequestedBy: "U2"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	move(newRelease("production"), release.AwaitingApproval, release.Approved)
	move(newRelease("production"), release.AwaitingApproval, release.Denied)
	move(newRelease("production"), release.AwaitingApproval, release.Expired)
	move(newRelease("staging"), release.AwaitingApproval, release.Cancelled)
	move(newRelease("staging"), release.Approved) // needed no approval
	newRelease("staging")
	if _, err := core.Transition(ctx, release.Transition{ID: 1, From: release.AwaitingApproval, To: release.Denied}); err == nil {
		t.Fatal("a lost compare-and-set succeeded")
	}
	for _, detail := range []string{"approve: Only admins can approve", "deny: You cannot deny your own release", "deploy: Unknown app"} {
		if err := core.Audit(ctx, release.Event{Actor: "U3", Action: "refuse", Detail: detail}); err != nil {
			t.Fatal(err)
		}
	}

	samples, _ := scrape(t, m)
	want(t, samples, `hoist_approvals_total{outcome="approved"}`, 1)
	want(t, samples, `hoist_approvals_total{outcome="denied"}`, 1)
	want(t, samples, `hoist_approvals_total{outcome="expired"}`, 1)
	want(t, samples, `hoist_approvals_total{outcome="refused"}`, 2)
	want(t, samples, `hoist_releases{env="production",state="approved"}`, 1)
	want(t, samples, `hoist_releases{env="production",state="denied"}`, 1)
	want(t, samples, `hoist_releases{env="staging",state="approved"}`, 1)
	want(t, samples, `hoist_releases{env="staging",state="requested"}`, 1)
	want(t, samples, `hoist_releases{env="staging",state="building"}`, 0)
	want(t, samples, `hoist_store_operation_duration_seconds_count{operation="create_release"}`, 6)
	want(t, samples, `hoist_store_operation_duration_seconds_count{operation="transition"}`, 10)
	want(t, samples, `hoist_store_operation_duration_seconds_count{operation="audit"}`, 3)
}

type brokenCounter struct{}

func (brokenCounter) TallyReleases(context.Context) ([]store.ReleaseCount, error) {
	return nil, errors.New("database is away")
}

func TestScrapeWhileTheStoreIsAway(t *testing.T) {
	var logs strings.Builder
	m := metrics.New(brokenCounter{}, []string{"production"}, slog.New(slog.NewTextHandler(&logs, nil)))
	m.ObserveAck(metrics.KindCommand, metrics.OutcomeOK, 0)
	samples, _ := scrape(t, m)
	want(t, samples, `hoist_slack_requests_total{kind="command",outcome="ok"}`, 1)
	absent(t, samples, "hoist_releases{")
	if !strings.Contains(logs.String(), "database is away") {
		t.Errorf("the store's failure was not logged: %s", logs.String())
	}
}
