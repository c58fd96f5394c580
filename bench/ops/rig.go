package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hoistbot/hoist/bench/internal/proc"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

const (
	signingSecret = "bench-signing-secret" //nolint:gosec // the benchmark's own secret, not a credential
	channel       = "CBENCH"
	team          = "T0BENCH"
	developer     = "U0DEV"
	admin         = "U0ADMIN"
)

// hoistConfig is the configuration file of the measured Hoist: a
// protected production that master deploys to, and a test environment
// per other branch. No cluster: a release ends with its build.
const hoistConfig = `environments:
  production:
    branch: master
    jenkins_job: "{app}/production"
    protected: true
  test:
    branch: "*"
    namespace: "{app}-{branch}"
    jenkins_job: "{app}/preview"
    ephemeral: true
    ttl: 72h
apps:
  api:
    repo: acme/api
    deployment: api
    channel: ` + channel + `
`

// rig is the real hoist binary running against the Slack and Jenkins
// simulators, on SQLite in its own directory.
type rig struct {
	slack   *slackapi.Server
	jenkins *jenkinssim.Server
	hoist   *proc.Process
	log     *os.File
	base    string
	dir     string
}

// longBuild is a build that lasts longer than any measure, printing a
// line a second: releases stay in flight.
func longBuild() jenkinssim.Job {
	return jenkinssim.Job{Lines: 600, Duration: 10 * time.Minute}
}

// startHoist starts Hoist in a new directory under b.dir named name.
func (b *bench) startHoist(ctx context.Context, name string) (*rig, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("make directory: %w", err)
	}
	configPath := filepath.Join(dir, "hoist.yaml")
	if err := os.WriteFile(configPath, []byte(hoistConfig), 0o600); err != nil {
		return nil, fmt.Errorf("write configuration: %w", err)
	}
	log, err := os.Create(filepath.Join(dir, "hoist.log")) //nolint:gosec // in the benchmark's own directory
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	r := &rig{
		slack:   slackapi.New(slackapi.WithChannel(channel, "bench", false, true)),
		jenkins: jenkinssim.New(jenkinssim.WithJob("api/preview", longBuild()), jenkinssim.WithJob("api/production", longBuild())),
		log:     log,
		dir:     dir,
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r.hoist, err = proc.Start(sctx, proc.Spec{
		Path: b.hoist,
		Args: []string{"serve", "--config", configPath, "--log-format", "json"},
		Env: []string{
			"PATH=" + os.Getenv("PATH"),
			"HOIST_SERVER_LISTEN=127.0.0.1:0",
			"HOIST_SLACK_MODE=http",
			"HOIST_SLACK_SIGNING_SECRET=" + signingSecret,
			"HOIST_SLACK_BOT_TOKEN=" + slackapi.DefaultToken,
			"HOIST_SLACK_API_URL=" + r.slack.URL(),
			"HOIST_RBAC_ADMINS=" + admin,
			"HOIST_STORE_DRIVER=sqlite",
			"HOIST_STORE_DSN=" + filepath.Join(dir, "hoist.db"),
			"HOIST_JENKINS_URL=" + r.jenkins.URL(),
			"HOIST_JENKINS_USER=" + jenkinssim.DefaultUser,
			"HOIST_JENKINS_TOKEN=" + jenkinssim.DefaultToken,
		},
		Log:     log,
		Serving: "hoist serving",
	})
	if err != nil {
		r.closeSims()
		return nil, fmt.Errorf("%w (log: %s)", err, log.Name())
	}
	r.base = "http://" + r.hoist.Addr
	if err := waitReady(ctx, r.base+"/readyz", time.Minute); err != nil {
		_ = r.stop(ctx)
		return nil, fmt.Errorf("%w (log: %s)", err, log.Name())
	}
	return r, nil
}

// stop keeps Hoist's /metrics in metrics.txt beside its log, for -keep,
// then stops Hoist, which has ShutdownGrace (10 s) to drain, then the
// simulators.
func (r *rig) stop(ctx context.Context) error {
	err := r.saveMetrics(ctx)
	err = errors.Join(err, r.hoist.Stop(20*time.Second))
	r.closeSims()
	return errors.Join(err, r.log.Close())
}

func (r *rig) saveMetrics(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/metrics", nil)
	if err != nil {
		return fmt.Errorf("save metrics: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("save metrics: %w", err)
	}
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(r.dir, "metrics.txt"))
	if err != nil {
		return fmt.Errorf("save metrics: %w", err)
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

func (r *rig) closeSims() {
	r.slack.Close()
	r.jenkins.Close()
}

// runningBuilds counts the Jenkins builds that have started and not ended.
func (r *rig) runningBuilds() int {
	n := 0
	for _, job := range []string{"api/preview", "api/production"} {
		for _, build := range r.jenkins.Builds(job) {
			if build.Building {
				n++
			}
		}
	}
	return n
}

// startFloor starts the floor server in a new directory under b.dir.
func (b *bench) startFloor(ctx context.Context, name string) (*proc.Process, *os.File, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("make directory: %w", err)
	}
	log, err := os.Create(filepath.Join(dir, "floor.log")) //nolint:gosec // in the benchmark's own directory
	if err != nil {
		return nil, nil, fmt.Errorf("create log: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := proc.Start(sctx, proc.Spec{
		Path:    b.floor,
		Args:    []string{"-listen", "127.0.0.1:0", "-secret", signingSecret, "-file", filepath.Join(dir, "requests.log")},
		Env:     []string{"PATH=" + os.Getenv("PATH")},
		Log:     log,
		Serving: "floor serving",
	})
	if err != nil {
		log.Close()
		return nil, nil, err
	}
	return p, log, nil
}

func waitReady(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait until ready: %w", err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %v", url, limit)
}

// residentMemory samples p's resident memory a few times, a quarter of a
// second apart, and returns the sample of median RSS.
func residentMemory(p *proc.Process) (proc.Memory, error) {
	var samples []proc.Memory
	for range 5 {
		m, err := p.Memory()
		if err != nil {
			return proc.Memory{}, err
		}
		samples = append(samples, m)
		time.Sleep(250 * time.Millisecond)
	}
	return medianMemory(samples), nil
}

// medianMemory returns the sample of median RSS (the lower middle one of
// an even count).
func medianMemory(samples []proc.Memory) proc.Memory {
	sorted := slices.Clone(samples)
	slices.SortFunc(sorted, func(a, b proc.Memory) int { return cmp.Compare(a.RSS, b.RSS) })
	return sorted[(len(sorted)-1)/2]
}
