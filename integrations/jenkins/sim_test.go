package jenkins

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
)

// End-to-end tests through the Jenkins simulator: real HTTP on loopback,
// builds that run on the clock, Jenkins' root URL unreachable.

func newSim(t *testing.T, opts ...jenkinssim.Option) *jenkinssim.Server {
	t.Helper()
	s := jenkinssim.New(opts...)
	t.Cleanup(s.Close)
	if s.RootURL() == s.URL() {
		t.Fatalf("the simulator's root URL is its URL (%s): the test would not show a client following JSON urls", s.URL())
	}
	return s
}

// simClient is a client of s with real sleeps and short intervals.
func simClient(t *testing.T, s *jenkinssim.Server, edit ...func(*Config)) (*Client, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	cfg := Config{
		URL: s.URL(), User: jenkinssim.DefaultUser, Token: jenkinssim.DefaultToken,
		Retry:        RetryPolicy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		PollInterval: 20 * time.Millisecond,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), jenkinssim.DefaultToken) {
			t.Errorf("the logs show the token")
		}
	})
	return c, logs
}

func releaseRequest(job, id string) release.BuildRequest {
	return release.BuildRequest{Job: job, Params: map[string]string{
		"APP": "api", "REF": "main", "COMMIT": "0123456789abcdef0123456789abcdef01234567",
		"ENVIRONMENT": "staging", "NAMESPACE": "api-staging", "RELEASE_ID": id, "REQUESTED_BY": "ana",
	}}
}

// streamLog reads the whole log as Hoist does, a chunk at a time, until
// Jenkins says there is no more.
func streamLog(t *testing.T, c *Client, job string, n int64) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var log []byte
	var offset int64
	for {
		chunk, err := c.ReadLog(ctx, job, n, offset)
		if err != nil {
			t.Fatal(err)
		}
		log = append(log, chunk.Data...)
		offset = chunk.Next
		if !chunk.More {
			return log
		}
		select {
		case <-ctx.Done():
			t.Fatal("the log never ended")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitEnded polls Status until the build has a result.
func waitEnded(t *testing.T, c *Client, job string, n int64) release.BuildStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.Status(t.Context(), job, n)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Building {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("build %s #%d never ended: %+v", job, n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSimReleaseRunsToItsEnd(t *testing.T) {
	const job = "team/api/staging"
	s := newSim(t, jenkinssim.WithJob(job, jenkinssim.Job{Lines: 50, Duration: time.Second, Result: jenkinssim.ResultSuccess}))
	c, logs := simClient(t, s)
	ctx := t.Context()

	v, err := c.Check(ctx)
	if err != nil || v != jenkinssim.Version {
		t.Fatalf("Check = %q, %v", v, err)
	}
	id, err := c.Trigger(ctx, releaseRequest(job, "r-1"))
	if err != nil {
		t.Fatal(err)
	}
	n, u, err := c.WaitForBuild(ctx, job, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := s.URL() + "job/team/job/api/job/staging/1/"; n != 1 || u != want {
		t.Errorf("WaitForBuild = %d, %q; want 1, %q (Jenkins' root URL is %s)", n, u, want, s.RootURL())
	}
	st, err := c.Status(ctx, job, n)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Building || st.Result != "" || st.Estimated >= 0 || st.Started.IsZero() || st.URL != u {
		t.Errorf("running first build: %+v", st)
	}
	if time.Since(st.Started) > time.Minute || time.Since(st.Started) < 0 {
		t.Errorf("started %v", st.Started)
	}

	log := streamLog(t, c, job, n)
	if !bytes.HasSuffix(log, []byte("Finished: SUCCESS\n")) {
		t.Errorf("log ends %q", log[max(0, len(log)-100):])
	}
	builds := s.Builds(job)
	if len(builds) != 1 || builds[0].LogBytes != len(log) || builds[0].QueueID != id || builds[0].Params["RELEASE_ID"] != "r-1" {
		t.Errorf("builds = %+v; log read = %d bytes", builds, len(log))
	}
	if served := s.LogBytesServed(); served != int64(len(log)) {
		t.Errorf("%d log bytes fetched for a log of %d (ratio %.2f): some were fetched again",
			served, len(log), float64(served)/float64(len(log)))
	}
	st = waitEnded(t, c, job, n)
	if st.Result != jenkinssim.ResultSuccess || st.Estimated <= 0 {
		t.Errorf("ended: %+v", st)
	}
	if !strings.Contains(logs.String(), "jenkins build still queued") {
		t.Errorf("the wait in the queue is not logged:\n%s", logs)
	}
}

func TestSimTriggersAreDistinct(t *testing.T) {
	s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{QueueWait: 5 * time.Second}))
	c, _ := simClient(t, s)
	a, err := c.Trigger(t.Context(), releaseRequest("api", "r-1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Trigger(t.Context(), releaseRequest("api", "r-1"))
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a <= 0 || b <= 0 {
		t.Errorf("queue items %d and %d", a, b)
	}
}

func TestSimFailingBuild(t *testing.T) {
	s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{Lines: 5, Duration: 200 * time.Millisecond, Result: jenkinssim.ResultFailure}))
	c, _ := simClient(t, s)
	id, err := c.Trigger(t.Context(), releaseRequest("api", "r-2"))
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := c.WaitForBuild(t.Context(), "api", id)
	if err != nil {
		t.Fatal(err)
	}
	log := streamLog(t, c, "api", n)
	st := waitEnded(t, c, "api", n)
	if st.Result != jenkinssim.ResultFailure || !bytes.HasSuffix(log, []byte("Finished: FAILURE\n")) {
		t.Errorf("status %+v, log %q", st, log)
	}
}

func TestSimStop(t *testing.T) {
	s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{Lines: 100, Duration: time.Minute}))
	c, _ := simClient(t, s)
	id, err := c.Trigger(t.Context(), releaseRequest("api", "r-3"))
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := c.WaitForBuild(t.Context(), "api", id)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(t.Context(), "api", n); err != nil {
		t.Fatal(err)
	}
	st := waitEnded(t, c, "api", n)
	if st.Result != jenkinssim.ResultAborted {
		t.Errorf("status %+v", st)
	}
	if log := streamLog(t, c, "api", n); !bytes.Contains(log, []byte("Aborted by "+jenkinssim.DefaultUser)) {
		t.Errorf("log %q", log)
	}
	// Stopping again does nothing.
	if err := c.Stop(t.Context(), "api", n); err != nil {
		t.Error(err)
	}
}

func TestSimCancelQueued(t *testing.T) {
	s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{QueueWait: time.Minute}))
	c, _ := simClient(t, s)
	ctx := t.Context()

	id, err := c.Trigger(ctx, releaseRequest("api", "r-4"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CancelQueued(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.WaitForBuild(ctx, "api", id)
	if !errors.Is(err, release.ErrNotBuilt) || !strings.Contains(err.Error(), "cancelled in Jenkins' queue") {
		t.Errorf("WaitForBuild after cancel: %v", err)
	}
	// Cancelling again (the item has left the queue), or an item Jenkins
	// never had, is done.
	if err := c.CancelQueued(ctx, id); err != nil {
		t.Errorf("cancel again: %v", err)
	}
	if err := c.CancelQueued(ctx, 99999); err != nil {
		t.Errorf("cancel unknown: %v", err)
	}

	// Someone cancels the item in Jenkins' UI while Hoist waits.
	id, err = c.Trigger(ctx, releaseRequest("api", "r-5"))
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { s.CancelQueued(id) })
	_, _, err = c.WaitForBuild(ctx, "api", id)
	if !errors.Is(err, release.ErrNotBuilt) {
		t.Errorf("WaitForBuild after a cancel in the UI: %v", err)
	}
}

func TestSimCancelAfterTheBuildStarted(t *testing.T) {
	s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{QueueWait: -1, Duration: time.Minute}))
	c, _ := simClient(t, s)
	id, err := c.Trigger(t.Context(), releaseRequest("api", "r-6"))
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := c.WaitForBuild(t.Context(), "api", id)
	if err != nil {
		t.Fatal(err)
	}
	// Too late: Jenkins answers 500 "Could not cancel run"; not an outage.
	before := s.Requests("cancelItem")
	if err := c.CancelQueued(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if tries := s.Requests("cancelItem") - before; tries != 1 {
		t.Errorf("%d cancel requests; want 1, not retried", tries)
	}
	if n2, _, err := c.WaitForBuild(t.Context(), "api", id); err != nil || n2 != n {
		t.Errorf("WaitForBuild after a late cancel = %d, %v; want %d", n2, err, n)
	}
}

func TestSimExpiredQueueItemIsFoundAmongBuilds(t *testing.T) {
	s := newSim(t, jenkinssim.WithQueueRetention(time.Millisecond),
		jenkinssim.WithJob("api", jenkinssim.Job{QueueWait: -1, Duration: 100 * time.Millisecond}))
	c, _ := simClient(t, s)
	ids := make([]int64, 3)
	for i := range ids {
		id, err := c.Trigger(t.Context(), releaseRequest("api", "r"))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	time.Sleep(50 * time.Millisecond) // every item has left the queue and been forgotten
	for i, id := range ids {
		n, _, err := c.WaitForBuild(t.Context(), "api", id)
		if err != nil || n != int64(i+1) {
			t.Errorf("WaitForBuild(%d) = %d, %v; want %d", id, n, err, i+1)
		}
	}
	_, _, err := c.WaitForBuild(t.Context(), "api", ids[2]+100)
	if !errors.Is(err, release.ErrNotBuilt) || !strings.Contains(err.Error(), "queue item expired") {
		t.Errorf("unknown item: %v", err)
	}
}

func TestSimJenkinsDownThenUp(t *testing.T) {
	t.Run("503 while it shuts down", func(t *testing.T) {
		s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{}))
		waits := 0
		c, _ := simClient(t, s, func(cfg *Config) {
			cfg.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
				if waits++; waits == 2 {
					s.SetDown(false)
				}
				return ctx.Err()
			}
		})
		s.SetDown(true)
		id, err := c.Trigger(t.Context(), releaseRequest("api", "r-7"))
		if err != nil || waits != 2 {
			t.Fatalf("Trigger = %d, %v after %d waits", id, err, waits)
		}
		if it, ok := s.QueueItem(id); !ok || it.Params["RELEASE_ID"] != "r-7" {
			t.Errorf("queue item %+v", it)
		}
	})
	t.Run("connections refused while its pod restarts", func(t *testing.T) {
		s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{}))
		var mu sync.Mutex
		waits := 0
		c, _ := simClient(t, s, func(cfg *Config) {
			cfg.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				if waits++; waits == 3 {
					if err := s.Start(); err != nil {
						t.Error(err)
					}
				}
				return ctx.Err()
			}
		})
		s.Stop()
		if _, err := c.Trigger(t.Context(), releaseRequest("api", "r-8")); err != nil || waits != 3 {
			t.Fatalf("Trigger: %v after %d waits", err, waits)
		}
	})
	t.Run("down for good", func(t *testing.T) {
		s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{}))
		c, _ := simClient(t, s)
		s.Stop()
		_, err := c.Status(t.Context(), "api", 1)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "jenkins unreachable at "+s.URL()+" after 5 tries: ") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("injected 502s", func(t *testing.T) {
		s := newSim(t, jenkinssim.WithJob("api", jenkinssim.Job{QueueWait: time.Minute}))
		c, _ := simClient(t, s)
		s.FailNext("buildWithParameters", http.StatusBadGateway, 2)
		id, err := c.Trigger(t.Context(), releaseRequest("api", "r-9"))
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Requests("buildWithParameters"); got != 3 {
			t.Errorf("%d trigger requests; want 3", got)
		}
		if _, ok := s.QueueItem(id - 1); ok {
			t.Errorf("a failed try queued an item")
		}
	})
}

func TestSimCredentialsAndJobErrors(t *testing.T) {
	s := newSim(t, jenkinssim.WithCredentials("hoist-bot", "right-token"),
		jenkinssim.WithJob("team/api", jenkinssim.Job{}))

	wrong, _ := simClient(t, s, func(cfg *Config) { cfg.User, cfg.Token = "hoist-bot", "wrong-token" })
	_, err := wrong.Trigger(t.Context(), releaseRequest("team/api", "r"))
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "check jenkins.user and jenkins.token") {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := wrong.Check(t.Context()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Check with a wrong token: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("error shows the token: %v", err)
	}

	anonymous, _ := simClient(t, s, func(cfg *Config) { cfg.User, cfg.Token = "", "" })
	if _, err := anonymous.Check(t.Context()); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "set jenkins.user and jenkins.token") {
		t.Errorf("anonymous: %v", err)
	}

	c, _ := simClient(t, s, func(cfg *Config) { cfg.User, cfg.Token = "hoist-bot", "right-token" })
	for _, job := range []string{"team/nope", "nope", "team/api/deeper"} {
		_, err = c.Trigger(t.Context(), releaseRequest(job, "r"))
		if !errors.Is(err, ErrJobNotFound) || !strings.Contains(err.Error(), `no jenkins job "`+job+`" at `+s.URL()) {
			t.Errorf("job %s: %v", job, err)
		}
	}
	_, err = c.Status(t.Context(), "team/api", 42)
	if !errors.Is(err, ErrBuildNotFound) {
		t.Errorf("missing build: %v", err)
	}
	_, err = c.ReadLog(t.Context(), "team/gone", 1, 0)
	if !errors.Is(err, ErrJobNotFound) {
		t.Errorf("log of a missing job: %v", err)
	}
	s.FailNext("team/job/api", http.StatusForbidden, 1)
	_, err = c.Trigger(t.Context(), releaseRequest("team/api", "r"))
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), `jenkins user "hoist-bot" may not trigger builds of team/api: give it Job/Build and Job/Read on team/api`) {
		t.Errorf("403: %v", err)
	}
}

func TestSimUnparameterizedJob(t *testing.T) {
	s := newSim(t, jenkinssim.WithJob("plain", jenkinssim.Job{Params: []jenkinssim.Param{}, QueueWait: time.Minute}),
		jenkinssim.WithJob("params", jenkinssim.Job{QueueWait: time.Minute}))
	c, _ := simClient(t, s)
	if _, err := c.Trigger(t.Context(), release.BuildRequest{Job: "plain"}); err != nil {
		t.Errorf("no parameters to a job without: %v", err)
	}
	id, err := c.Trigger(t.Context(), release.BuildRequest{Job: "params"})
	if err != nil {
		t.Errorf("no parameters to a job with some: %v", err)
	} else if it, _ := s.QueueItem(id); it.Params["REF"] != "main" {
		t.Errorf("defaults not used: %+v", it)
	}
	_, err = c.Trigger(t.Context(), releaseRequest("plain", "r"))
	if err == nil || !strings.Contains(err.Error(), `jenkins job "plain" takes no parameters`) {
		t.Errorf("parameters to a job without: %v", err)
	}
}

func TestSimFindBuild(t *testing.T) {
	const job = "team/api/staging"
	s := newSim(t,
		jenkinssim.WithJob(job, jenkinssim.Job{QueueWait: time.Hour}),
		jenkinssim.WithJob("fast/api/staging", jenkinssim.Job{QueueWait: -1, Duration: time.Minute}),
		// The same job name in another folder, and another job of the folder.
		jenkinssim.WithJob("api/staging", jenkinssim.Job{QueueWait: time.Hour}),
		jenkinssim.WithJob("team/api/production", jenkinssim.Job{QueueWait: time.Hour}),
	)
	c, _ := simClient(t, s)
	ctx := t.Context()
	for _, other := range []string{"api/staging", "team/api/production"} {
		for _, rid := range []string{"41", "42"} {
			if _, err := c.Trigger(ctx, releaseRequest(other, rid)); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("queued", func(t *testing.T) {
		if _, err := c.Trigger(ctx, releaseRequest(job, "40")); err != nil {
			t.Fatal(err)
		}
		id, err := c.Trigger(ctx, releaseRequest(job, "41"))
		if err != nil {
			t.Fatal(err)
		}
		b, ok, err := c.FindBuild(ctx, job, 41)
		if err != nil || !ok || b != (release.FoundBuild{QueueID: id}) {
			t.Errorf("FindBuild = %+v, %v, %v; want queue item %d", b, ok, err, id)
		}
	})
	t.Run("started", func(t *testing.T) {
		const fast = "fast/api/staging"
		for _, rid := range []string{"50", "51", "52"} {
			if _, err := c.Trigger(ctx, releaseRequest(fast, rid)); err != nil {
				t.Fatal(err)
			}
		}
		var builds []jenkinssim.Build
		deadline := time.Now().Add(10 * time.Second)
		for builds = s.Builds(fast); len(builds) < 3 && time.Now().Before(deadline); builds = s.Builds(fast) {
			time.Sleep(10 * time.Millisecond)
		}
		if len(builds) != 3 {
			t.Fatalf("builds = %+v", builds)
		}
		b, ok, err := c.FindBuild(ctx, fast, 51)
		want := release.FoundBuild{QueueID: builds[1].QueueID, Number: 2, URL: s.URL() + "job/fast/job/api/job/staging/2/"}
		if err != nil || !ok || b != want {
			t.Errorf("FindBuild = %+v, %v, %v; want %+v", b, ok, err, want)
		}
	})
	t.Run("none for another release", func(t *testing.T) {
		for _, j := range []string{job, "fast/api/staging"} {
			if b, ok, err := c.FindBuild(ctx, j, 99); err != nil || ok {
				t.Errorf("FindBuild(%s, 99) = %+v, %v, %v; want none", j, b, ok, err)
			}
		}
		if b, ok, err := c.FindBuild(ctx, job, 42); err != nil || ok {
			t.Errorf("FindBuild of a release queued in other jobs = %+v, %v, %v; want none", b, ok, err)
		}
	})
	t.Run("jenkins down", func(t *testing.T) {
		s.SetDown(true)
		defer s.SetDown(false)
		_, ok, err := c.FindBuild(ctx, job, 41)
		if ok || !errors.Is(err, release.ErrUnavailable) || !errors.Is(err, ErrUnreachable) ||
			!strings.Contains(err.Error(), `look for the build of release 41 in jenkins job "team/api/staging"`) {
			t.Errorf("FindBuild = %v, %v; want ErrUnavailable", ok, err)
		}
	})
	t.Run("no such job", func(t *testing.T) {
		_, _, err := c.FindBuild(ctx, "team/nope", 41)
		if !errors.Is(err, ErrJobNotFound) || errors.Is(err, release.ErrUnavailable) {
			t.Errorf("FindBuild = %v; want ErrJobNotFound", err)
		}
	})
}
