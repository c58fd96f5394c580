package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/jenkinssim"
	"github.com/hoistbot/hoist/internal/sim/slackapi"
)

// startWithJenkins runs Hoist against a Jenkins simulator whose pipelines
// are the example configuration's.
func startWithJenkins(t *testing.T, job jenkinssim.Job, extraEnv ...string) (*hoist, *jenkinssim.Server) {
	t.Helper()
	return startWithJenkinsAndSlack(t, job, nil, extraEnv...)
}

// startWithJenkinsAndSlack is startWithJenkins with more Slack simulator options.
func startWithJenkinsAndSlack(t *testing.T, job jenkinssim.Job, simOpts []slackapi.Option, extraEnv ...string) (*hoist, *jenkinssim.Server) {
	t.Helper()
	j := jenkinssim.New(
		jenkinssim.WithJob("api/preview", job),
		jenkinssim.WithJob("api/staging", job),
		jenkinssim.WithJob("api/production", job),
	)
	t.Cleanup(j.Close)
	env := append([]string{
		"HOIST_JENKINS_URL=" + j.URL(),
		"HOIST_JENKINS_USER=" + jenkinssim.DefaultUser,
		"HOIST_JENKINS_TOKEN=" + jenkinssim.DefaultToken,
		"HOIST_JENKINS_REDACT_PATTERNS=password=\\S+",
	}, extraEnv...)
	h := startWith(t, release.Ports{}, simOpts, env...)
	h.secrets = append(h.secrets, jenkinssim.DefaultToken)
	return h, j
}

func lineText(build, line int) string {
	if line == 58 {
		return "export password=hunter2"
	}
	return fmt.Sprintf("build %d line %d: compiling", build, line)
}

func (h *hoist) threadOf(card string) []string {
	var texts []string
	for _, m := range h.slack.Messages() {
		if m.ThreadTS == card {
			texts = append(texts, m.Text+unescapeJSON(m.Blocks))
		}
	}
	return texts
}

func TestBuildThroughJenkins(t *testing.T) {
	h, j := startWithJenkins(t, jenkinssim.Job{Lines: 60, Duration: 1500 * time.Millisecond, LineText: lineText})
	st := h.openStore()
	if a := h.command(developer, "/deploy", "api feature-x"); !strings.Contains(a.reply.Text, "Release #1 requested") {
		t.Fatalf("deploy: %+v", a.reply)
	}
	r := h.waitRelease(st, 1, release.Succeeded)
	if !strings.Contains(r.StateReason, "|#1> success") {
		t.Errorf("reason = %q", r.StateReason)
	}
	builds := j.Builds("api/preview")
	if len(builds) != 1 || builds[0].Params["RELEASE_ID"] != "1" || builds[0].Params["REF"] != "feature-x" || builds[0].Params["REQUESTED_BY"] != developer {
		t.Fatalf("builds = %+v", builds)
	}
	defer func() {
		if t.Failed() {
			for _, m := range h.threadOf(r.MessageTS) {
				t.Logf("thread: %s", m)
			}
		}
	}()
	h.eventually(t, "the final live message", func() bool {
		for _, text := range h.threadOf(r.MessageTS) {
			if strings.Contains(text, "SUCCESS") && strings.Contains(text, "line 59") && strings.Contains(text, "Finished: SUCCESS") {
				return true
			}
		}
		return false
	})
	for _, text := range h.threadOf(r.MessageTS) {
		if strings.Contains(text, "hunter2") {
			t.Errorf("the live message shows a secret: %s", text)
		}
	}
	var upload *slackFile
	h.eventually(t, "the uploaded log", func() bool {
		upload = h.uploaded()
		return upload != nil
	})
	if upload.threadTS != r.MessageTS || !strings.Contains(upload.content, "line 59") || strings.Contains(upload.content, "hunter2") || !strings.Contains(upload.content, "[REDACTED]") {
		t.Errorf("uploaded log: thread %q, content %q", upload.threadTS, upload.content)
	}
	kept, _ := st.Log(context.Background(), 1)
	if got := j.LogBytesServed(); got != int64(len(kept)) || len(kept) != builds[0].LogBytes {
		t.Errorf("Jenkins served %d log bytes; the log has %d (kept %d): it must be read once", got, builds[0].LogBytes, len(kept))
	}
}

type slackFile struct{ content, threadTS, name string }

func (h *hoist) uploaded() *slackFile {
	for _, f := range h.slack.Files() {
		if f.Complete {
			return &slackFile{content: string(f.Content), threadTS: f.ThreadTS, name: f.Name}
		}
	}
	return nil
}

func TestRestartInTheMiddleOfABuild(t *testing.T) {
	h, j := startWithJenkins(t, jenkinssim.Job{Lines: 100, Duration: 3 * time.Second, LineText: lineText})
	st := h.openStore()
	h.command(developer, "/deploy", "api feature-x")
	h.eventually(t, "the build to be half read", func() bool {
		b, err := st.GetBuild(context.Background(), 1)
		return err == nil && b.Number == 1 && b.LogOffset > 0
	})
	h.stop()
	before, _ := st.GetBuild(context.Background(), 1)
	time.Sleep(300 * time.Millisecond)
	h.run()
	h.waitRelease(st, 1, release.Succeeded)
	if n := len(j.Builds("api/preview")); n != 1 {
		t.Fatalf("builds = %d; want exactly 1 across the restart", n)
	}
	kept, _ := st.Log(context.Background(), 1)
	// A read in flight when Hoist stops may be read again: at most 5% more.
	size := j.Builds("api/preview")[0].LogBytes
	if len(kept) != size || float64(j.LogBytesServed()) > 1.05*float64(size) {
		t.Errorf("log kept %d bytes, Jenkins served %d, log is %d (offset at restart %d)", len(kept), j.LogBytesServed(), size, before.LogOffset)
	}
}

func TestJenkinsFailures(t *testing.T) {
	t.Run("failing build", func(t *testing.T) {
		h, _ := startWithJenkins(t, jenkinssim.Job{Lines: 10, Duration: 200 * time.Millisecond, Result: jenkinssim.ResultFailure})
		st := h.openStore()
		h.command(developer, "/deploy", "api feature-x")
		r := h.waitRelease(st, 1, release.Failed)
		if !strings.HasSuffix(r.StateReason, "|#1> failure") {
			t.Errorf("reason = %q", r.StateReason)
		}
	})
	t.Run("cancelled in Jenkins' queue", func(t *testing.T) {
		h, j := startWithJenkins(t, jenkinssim.Job{Lines: 10, QueueWait: 5 * time.Second})
		st := h.openStore()
		h.command(developer, "/deploy", "api feature-x")
		var b release.Build
		h.eventually(t, "the queue item", func() bool {
			var err error
			b, err = st.GetBuild(context.Background(), 1)
			return err == nil && b.QueueID != 0
		})
		j.CancelQueued(b.QueueID)
		r := h.waitRelease(st, 1, release.Failed)
		if !strings.Contains(r.StateReason, "never started") || !strings.Contains(r.StateReason, "cancelled") {
			t.Errorf("reason = %q", r.StateReason)
		}
		h.waitThreadText(t, r.MessageTS, "never started")
	})
	t.Run("aborted by Hoist's cancel", func(t *testing.T) {
		h, j := startWithJenkins(t, jenkinssim.Job{Lines: 100, Duration: 10 * time.Second})
		st := h.openStore()
		h.command(developer, "/deploy", "api feature-x")
		h.eventually(t, "the build to run", func() bool {
			b, err := st.GetBuild(context.Background(), 1)
			return err == nil && b.Number != 0
		})
		if a := h.command(developer, "/hoist", "cancel 1"); a.reply.Text != "Release #1 cancelled." {
			t.Fatalf("cancel: %+v", a.reply)
		}
		h.eventually(t, "the build to be aborted in Jenkins", func() bool {
			bs := j.Builds("api/preview")
			return len(bs) == 1 && bs[0].Result == jenkinssim.ResultAborted
		})
		r, _ := st.GetRelease(context.Background(), 1)
		h.waitThreadText(t, r.MessageTS, "ABORTED")
	})
	t.Run("jenkins down", func(t *testing.T) {
		h, j := startWithJenkins(t, jenkinssim.Job{Lines: 10})
		st := h.openStore()
		j.SetDown(true)
		h.command(developer, "/deploy", "api feature-x")
		r := h.waitRelease(st, 1, release.Failed)
		if !strings.Contains(r.StateReason, "jenkins unreachable") {
			t.Errorf("reason = %q", r.StateReason)
		}
		h.waitThreadText(t, r.MessageTS, "jenkins unreachable")
	})
	t.Run("wrong credentials", func(t *testing.T) {
		h, _ := startWithJenkins(t, jenkinssim.Job{Lines: 10}, "HOIST_JENKINS_TOKEN=wrong-token")
		st := h.openStore()
		h.command(developer, "/deploy", "api feature-x")
		r := h.waitRelease(st, 1, release.Failed)
		if !strings.Contains(r.StateReason, "check jenkins.user and jenkins.token") {
			t.Errorf("reason = %q", r.StateReason)
		}
	})
}

func (h *hoist) waitThreadText(t *testing.T, card, want string) {
	t.Helper()
	h.eventually(t, fmt.Sprintf("%q in the thread", want), func() bool {
		for _, text := range h.threadOf(card) {
			if strings.Contains(text, want) {
				return true
			}
		}
		return false
	})
}

// TestSlackRateLimitStorm runs builds while Slack answers most updates
// with 429: the builds finish, and every live message ends showing its
// result.
func TestSlackRateLimitStorm(t *testing.T) {
	h, j := startWithJenkinsAndSlack(t, jenkinssim.Job{Lines: 40, Duration: 2 * time.Second, LineText: lineText},
		nil, "HOIST_SLACK_UPDATE_BUDGET_PER_MINUTE=600")
	st := h.openStore()
	for range 6 {
		h.slack.RateLimitNext("chat.update", 1)
	}
	for _, branch := range []string{"storm-a", "storm-b", "storm-c"} {
		h.command(developer, "/deploy", "api "+branch)
	}
	for id := release.ID(1); id <= 3; id++ {
		h.waitRelease(st, id, release.Succeeded)
	}
	if n := len(j.Builds("api/preview")); n != 3 {
		t.Fatalf("builds = %d", n)
	}
	limited := 0
	for _, c := range h.slack.Calls("chat.update") {
		if c.Status == 429 {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("Slack never answered 429: the storm did not happen")
	}
	h.eventually(t, "every live message to show its result", func() bool {
		finals := 0
		for _, m := range h.slack.Messages() {
			if m.ThreadTS != "" && strings.Contains(unescapeJSON(m.Blocks), "SUCCESS") {
				finals++
			}
		}
		return finals == 3
	})
}
