package release_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/config"
	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/store"
)

func TestBuildStreamsIntoTheThreadAndUploadsTheLog(t *testing.T) {
	h := newHarness(t)
	h.ci.log = "token=s3cr3t\n" + h.ci.log
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Succeeded)
	if !strings.Contains(r.StateReason, "build <http://jenkins.test/job/api/preview/1/|#1> success") {
		t.Errorf("reason = %q", r.StateReason)
	}
	kept, err := h.store.Log(context.Background(), 1)
	if err != nil || string(kept) != h.ci.log {
		t.Fatalf("kept log = %q, %v", kept, err)
	}
	h.eventually("the uploaded log", func() bool {
		h.chat.mu.Lock()
		defer h.chat.mu.Unlock()
		return len(h.chat.uploads) == 1
	})
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	uploaded := h.chat.uploads["release-1-api-preview-1.log"]
	if strings.Contains(uploaded, "s3cr3t") || !strings.Contains(uploaded, "token=[REDACTED]") || !strings.Contains(uploaded, "Finished: SUCCESS") {
		t.Errorf("uploaded log = %q", uploaded)
	}
	if len(h.chat.views) != 1 {
		t.Fatalf("live build messages = %d; want one", len(h.chat.views))
	}
	for _, views := range h.chat.views {
		last := views[len(views)-1]
		if last.Result != "SUCCESS" || last.Number != 1 || last.Job != "api/preview" || len(last.Tail) == 0 {
			t.Errorf("final view = %+v", last)
		}
	}
	if h.ci.bytesRead != len(h.ci.log) {
		t.Errorf("bytes read from the build server = %d; the log has %d", h.ci.bytesRead, len(h.ci.log))
	}
}

func TestBuildParametersAndJob(t *testing.T) {
	var got release.BuildRequest
	h := newHarness(t)
	rec := &recordingPipeline{fakePipeline: h.ci, req: &got}
	h.stop()
	h.ports.Pipeline = rec
	h.startWorker()
	h.do(dev, "env up api feature/Login_v2")
	h.waitState(1, release.Succeeded)
	want := map[string]string{"APP": "api", "REF": "feature/Login_v2", "COMMIT": sha("e"), "ENVIRONMENT": "test",
		"NAMESPACE": "api-feature-login-v2", "RELEASE_ID": "1", "REQUESTED_BY": dev}
	if got.Job != "api/preview" {
		t.Errorf("job = %q", got.Job)
	}
	for k, v := range want {
		if got.Params[k] != v {
			t.Errorf("param %s = %q; want %q", k, got.Params[k], v)
		}
	}
}

type recordingPipeline struct {
	*fakePipeline
	req *release.BuildRequest
}

func (p *recordingPipeline) Trigger(ctx context.Context, req release.BuildRequest) (int64, error) {
	*p.req = req
	return p.fakePipeline.Trigger(ctx, req)
}

func TestRestartMidBuildFollowsTheSameBuild(t *testing.T) {
	h := newHarness(t)
	h.ci.block, h.ci.started = make(chan struct{}), make(chan release.ID, 10)
	h.do(dev, "deploy api feature-x")
	<-h.ci.started
	h.eventually("half the log kept", func() bool {
		log, _ := h.store.Log(context.Background(), 1)
		return len(log) > 0
	})
	h.stop()
	close(h.ci.block)
	h.startWorker()
	h.waitState(1, release.Succeeded)
	if n := h.ci.builds(1); n != 1 {
		t.Fatalf("builds triggered = %d; want exactly 1", n)
	}
	kept, _ := h.store.Log(context.Background(), 1)
	if string(kept) != h.ci.log {
		t.Fatalf("kept log = %q; want every byte once", kept)
	}
	if h.ci.bytesRead != len(h.ci.log) {
		t.Errorf("bytes read = %d; the log has %d", h.ci.bytesRead, len(h.ci.log))
	}
}

func TestFailingBuildFailsTheRelease(t *testing.T) {
	h := newHarness(t)
	h.ci.result = "FAILURE"
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Failed)
	if !strings.HasSuffix(r.StateReason, "|#1> failure") {
		t.Errorf("reason = %q", r.StateReason)
	}
}

func TestBuildServerErrorIsExplainedInTheThread(t *testing.T) {
	h := newHarness(t)
	h.ci.failWith = errors.New("jenkins rejected Hoist's credentials (401): check jenkins.user and jenkins.token")
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Failed)
	if r.StateReason != "trigger api/preview: jenkins rejected Hoist's credentials (401): check jenkins.user and jenkins.token" {
		t.Errorf("reason = %q", r.StateReason)
	}
	h.chat.mu.Lock()
	defer h.chat.mu.Unlock()
	if len(h.chat.thread) != 1 || !strings.Contains(h.chat.thread[0], "⚠️ trigger api/preview: jenkins rejected") {
		t.Errorf("thread = %q", h.chat.thread)
	}
}

func TestCancelStopsTheBuild(t *testing.T) {
	h := newHarness(t)
	defer close(h.runningBuild())
	h.do(dev, "cancel 1")
	h.waitState(1, release.Cancelled)
	h.eventually("the build to be stopped", func() bool {
		h.ci.mu.Lock()
		defer h.ci.mu.Unlock()
		return len(h.ci.stopped) > 0 && h.ci.stopped[0] == 1
	})
}

func TestEnvironmentWithoutJobSaysSo(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *release.Ports) {
		e := c.Environments["test"]
		e.JenkinsJob = ""
		c.Environments["test"] = e
	})
	h.do(dev, "deploy api feature-x")
	r := h.waitState(1, release.Failed)
	if r.StateReason != "environments.test.jenkins_job is not set, so Hoist does not know which pipeline to run" {
		t.Errorf("reason = %q", r.StateReason)
	}
}

func TestCancelWithoutARunningDriveStillStopsTheBuild(t *testing.T) {
	h := newHarness(t)
	defer close(h.runningBuild())
	h.stop() // no drive runs now; the cancel is handled by the store alone
	h.do(dev, "cancel 1")
	h.startWorker()
	h.eventually("the build to be stopped", func() bool {
		h.ci.mu.Lock()
		defer h.ci.mu.Unlock()
		return len(h.ci.stopped) > 0 && h.ci.stopped[0] == 1
	})
}

func TestBuildServerDownWhileFollowingResumesInsteadOfFailing(t *testing.T) {
	h := newHarness(t)
	block := h.runningBuild()
	h.ci.mu.Lock()
	h.ci.readErr = fmt.Errorf("jenkins unreachable after 5 tries: %w", release.ErrUnavailable)
	h.ci.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // several sweeps meet the outage
	if r, _ := h.store.GetRelease(context.Background(), 1); r.State != release.Building {
		t.Fatalf("release is %s (%s) during an outage; want it still building", r.State, r.StateReason)
	}
	h.ci.mu.Lock()
	h.ci.readErr = nil
	h.ci.mu.Unlock()
	close(block)
	h.waitState(1, release.Succeeded)
	if n := h.ci.builds(1); n != 1 {
		t.Errorf("builds = %d; want 1", n)
	}
}

// runningBuild deploys feature-x as release 1 and returns once its build
// runs and is followed; the build ends when the returned channel is closed.
func (h *harness) runningBuild() chan struct{} {
	h.t.Helper()
	block := make(chan struct{})
	h.ci.block, h.ci.started = block, make(chan release.ID, 10)
	h.do(dev, "deploy api feature-x")
	<-h.ci.started
	h.eventually("the build to be followed", func() bool {
		b, err := h.store.GetBuild(context.Background(), 1)
		return err == nil && b.Number != 0
	})
	return block
}

// lossyStore loses the queue item of every build: its PutBuild fails once
// the build server has answered, as when Hoist dies between Jenkins
// queueing the build and the store keeping the answer.
type lossyStore struct {
	store.Store
	mu   sync.Mutex
	lost int
}

func (s *lossyStore) PutBuild(ctx context.Context, b release.Build) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.QueueID != 0 || b.Number != 0 {
		s.lost++
		return errors.New("database is locked")
	}
	return s.Store.PutBuild(ctx, b)
}

func (s *lossyStore) lostCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lost
}

// triggeredButLost deploys feature-x as release 1 and returns once the
// build server has queued its build and the store has lost the queue item
// at least `lost` times; the worker is stopped, the store whole again.
func (h *harness) triggeredButLost(lost int) {
	h.t.Helper()
	h.stop()
	whole := h.store
	lossy := &lossyStore{Store: whole}
	h.store = lossy
	h.startWorker()
	h.do(dev, "deploy api feature-x")
	h.eventually("the queue item to be lost", func() bool { return lossy.lostCount() >= lost })
	h.stop()
	h.store = whole
	b, err := h.store.GetBuild(context.Background(), 1)
	if err != nil || b.QueueID != 0 || b.TriggeredAt.IsZero() {
		h.t.Fatalf("kept build = %+v, %v; want one being triggered, with no queue item", b, err)
	}
	if r, _ := h.store.GetRelease(context.Background(), 1); r.State != release.Building {
		h.t.Fatalf("release is %s (%s); want it still building", r.State, r.StateReason)
	}
}

func TestBuildQueuedButNotKeptIsFollowedNotTriggeredAgain(t *testing.T) {
	h := newHarness(t)
	// Lost twice: once after the trigger, once more after the next sweep
	// found the build; neither triggered another.
	h.triggeredButLost(2)
	if n := h.ci.builds(1); n != 1 {
		t.Fatalf("builds triggered while the store lost them = %d; want 1", n)
	}
	h.startWorker() // a restart, or another replica taking the release over
	r := h.waitState(1, release.Succeeded)
	if n := h.ci.builds(1); n != 1 {
		t.Errorf("builds triggered = %d; want exactly 1", n)
	}
	if !strings.Contains(r.StateReason, "|#1> success") {
		t.Errorf("reason = %q; want the first build's result", r.StateReason)
	}
	if b, _ := h.store.GetBuild(context.Background(), 1); b.QueueID != 1 || b.Number != 1 {
		t.Errorf("kept build = %+v; want queue item 1, build #1", b)
	}
}

func TestBuildNeverQueuedIsTriggeredAfterLookingForIt(t *testing.T) {
	h := newHarness(t)
	h.triggeredButLost(1)
	// Hoist died before its request reached the build server after all.
	h.ci.mu.Lock()
	clear(h.ci.releaseOf)
	clear(h.ci.triggers)
	h.ci.finds = 0
	h.ci.mu.Unlock()
	h.startWorker()
	h.waitState(1, release.Succeeded)
	h.ci.mu.Lock()
	defer h.ci.mu.Unlock()
	if h.ci.triggers["1"] != 1 || h.ci.finds == 0 {
		t.Errorf("triggers = %d after %d lookups; want 1 after looking", h.ci.triggers["1"], h.ci.finds)
	}
}

func TestBuildServerDownWhileLookingForTheBuildNeverTriggersBlindly(t *testing.T) {
	h := newHarness(t)
	h.triggeredButLost(1)
	h.ci.mu.Lock()
	h.ci.findErr = fmt.Errorf("jenkins unreachable after 5 tries: %w", release.ErrUnavailable)
	h.ci.finds = 0
	h.ci.mu.Unlock()
	h.startWorker()
	h.eventually("several lookups to fail", func() bool {
		h.ci.mu.Lock()
		defer h.ci.mu.Unlock()
		return h.ci.finds >= 3
	})
	if r, _ := h.store.GetRelease(context.Background(), 1); r.State != release.Building {
		t.Fatalf("release is %s (%s) during an outage; want it still building", r.State, r.StateReason)
	}
	if n := h.ci.builds(1); n != 1 {
		t.Fatalf("builds triggered during the outage = %d; want 1", n)
	}
	h.ci.mu.Lock()
	h.ci.findErr = nil
	h.ci.mu.Unlock()
	h.waitState(1, release.Succeeded)
	if n := h.ci.builds(1); n != 1 {
		t.Errorf("builds triggered = %d; want exactly 1", n)
	}
}

func TestBuildLookupRefusedFailsTheRelease(t *testing.T) {
	h := newHarness(t)
	h.triggeredButLost(1)
	h.ci.mu.Lock()
	h.ci.findErr = errors.New("jenkins rejected Hoist's credentials (401): check jenkins.user and jenkins.token")
	h.ci.mu.Unlock()
	h.startWorker()
	r := h.waitState(1, release.Failed)
	if r.StateReason != "look for the build of api/preview: jenkins rejected Hoist's credentials (401): check jenkins.user and jenkins.token" {
		t.Errorf("reason = %q", r.StateReason)
	}
	if n := h.ci.builds(1); n != 1 {
		t.Errorf("builds triggered = %d; want 1", n)
	}
}

func TestCancelStopsABuildQueuedButNotKept(t *testing.T) {
	h := newHarness(t)
	h.triggeredButLost(1)
	h.do(dev, "cancel 1")
	h.startWorker()
	h.waitState(1, release.Cancelled)
	h.eventually("the queue item to be cancelled", func() bool {
		h.ci.mu.Lock()
		defer h.ci.mu.Unlock()
		return len(h.ci.stopped) > 0 && h.ci.stopped[0] == -1
	})
}
