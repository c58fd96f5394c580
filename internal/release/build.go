package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hoistbot/hoist/internal/config"
)

// RoleBuildLog names the live build message in a release's thread.
const RoleBuildLog = "build_log"

// RoleLogFile marks that the build's whole log was uploaded to the thread.
const RoleLogFile = "log_file"

// tailLines is how many of the log's last lines the live message shows.
const tailLines = 25

// build runs the release's pipeline: it triggers the environment's job
// once, follows its queue item to a build, streams the console log into the
// store and the thread, and ends the stage with the build's result. Every
// step resumes from what the store remembers, so a restart follows the
// same build from the same offset.
func (w *Worker) build(ctx context.Context, r Release) (Release, error) {
	if w.ports.Pipeline == nil {
		return w.failBuild(ctx, r, "no build server is connected to Hoist any more (set jenkins.url), so this build cannot be followed")
	}
	b, err := w.store.GetBuild(ctx, r.ID)
	if errors.Is(err, ErrNotFound) {
		b, err = w.newBuild(r)
		if err == nil {
			err = w.openDeployment(ctx, r)
		}
		if err != nil {
			return w.failBuild(ctx, r, err.Error())
		}
	} else if err != nil {
		return r, fmt.Errorf("load build: %w", err)
	}
	p := w.ports.Pipeline
	if b.QueueID == 0 && b.Number == 0 {
		// Hoist stores that it asks for the build before it asks: if it
		// stops before storing the answer, the next drive looks for the
		// build instead of queueing a second one.
		found := false
		if !b.TriggeredAt.IsZero() {
			var f FoundBuild
			f, found, err = p.FindBuild(ctx, b.Job, r.ID)
			if errors.Is(err, ErrUnavailable) && ctx.Err() == nil {
				// The build may be queued: look again on the next sweep,
				// as for a build known to be queued; never trigger blindly.
				w.logger.WarnContext(ctx, "build server unavailable; looking for the build again later", "release", r.ID, "err", err)
				return r, fmt.Errorf("look for the build of %s: %w", b.Job, err)
			}
			if err != nil {
				return w.buildError(ctx, r, b, "look for the build of "+b.Job, err)
			}
			if found {
				w.logger.InfoContext(ctx, "following the build queued before Hoist stopped", "release", r.ID,
					"job", b.Job, "queue_item", f.QueueID, "build", f.Number)
				b.QueueID, b.Number, b.URL = f.QueueID, f.Number, f.URL
			}
		}
		if !found {
			b.TriggeredAt = w.now()
			if err := w.keepBuild(ctx, b); err != nil {
				return r, err
			}
			kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			b.QueueID, err = p.Trigger(kctx, BuildRequest{Job: b.Job, Params: w.buildParams(ctx, r)})
			cancel()
			if err != nil {
				return w.buildError(ctx, r, b, "trigger "+b.Job, err)
			}
		}
		if err := w.keepBuild(ctx, b); err != nil {
			return r, err
		}
	}
	if b.Number == 0 {
		b.Number, b.URL, err = p.WaitForBuild(ctx, b.Job, b.QueueID)
		if errors.Is(err, ErrNotBuilt) {
			return w.failBuild(ctx, r, fmt.Sprintf("%s never started: %v", b.Job, err))
		}
		if err != nil {
			return w.buildError(ctx, r, b, "wait for "+b.Job, err)
		}
		if err := w.keepBuild(ctx, b); err != nil {
			return r, err
		}
	}
	b, err = w.store.GetBuild(ctx, r.ID)
	if err != nil {
		return r, fmt.Errorf("load build: %w", err)
	}
	w.deploymentRunning(ctx, r, b.URL)
	status, err := w.follow(ctx, r, b)
	if err != nil {
		return w.buildError(ctx, r, b, fmt.Sprintf("follow %s #%d", b.Job, b.Number), err)
	}
	summary := fmt.Sprintf("build <%s|#%d> %s", status.URL, b.Number, strings.ToLower(status.Result))
	if status.Result != "SUCCESS" {
		return w.move(ctx, r, Failed, summary)
	}
	if w.envs[r.Env].Cluster == "" || w.apps[r.App].Deployment == "" {
		return w.move(ctx, r, Succeeded, summary)
	}
	return w.move(ctx, r, RollingOut, summary)
}

// keepBuild stores what Hoist knows of the build, even when Hoist is
// stopping meanwhile: once Jenkins has queued or started the build, a
// restart must follow that build rather than trigger another.
func (w *Worker) keepBuild(ctx context.Context, b Build) error {
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.store.PutBuild(kctx, b); err != nil {
		return fmt.Errorf("record build: %w", err)
	}
	return nil
}

// newBuild names the job a release runs, from its environment's template.
func (w *Worker) newBuild(r Release) (Build, error) {
	tmpl := w.envs[r.Env].JenkinsJob
	if tmpl == "" {
		return Build{}, fmt.Errorf("environments.%s.jenkins_job is not set, so Hoist does not know which pipeline to run", r.Env)
	}
	return Build{ReleaseID: r.ID, Job: config.ExpandTemplate(tmpl, r.App, r.Env, config.Slug(r.Ref))}, nil
}

// buildParams are the parameters every pipeline gets.
func (w *Worker) buildParams(ctx context.Context, r Release) map[string]string {
	namespace := w.namespace(ctx, r)
	return map[string]string{
		"APP":          r.App,
		"REF":          r.Ref,
		"COMMIT":       r.Commit,
		"ENVIRONMENT":  r.Env,
		"NAMESPACE":    namespace,
		ParamReleaseID: r.ID.String(),
		"REQUESTED_BY": r.RequestedBy,
	}
}

// follow streams a running build's log until the build has ended and its
// log is whole, keeping every byte in the store and refreshing the live
// message in the thread; then it uploads the log and shows the result.
func (w *Worker) follow(ctx context.Context, r Release, b Build) (BuildStatus, error) {
	p := w.ports.Pipeline
	card := MessageRef{Channel: r.MessageChannel, TS: r.MessageTS}
	tail, err := w.storedTail(ctx, r.ID)
	if err != nil {
		return BuildStatus{}, err
	}
	live, err := w.liveMessage(ctx, r, b)
	if err != nil {
		w.logger.WarnContext(ctx, "post live build message", "release", r.ID, "err", err)
	}
	for {
		if cur, err := w.store.GetRelease(ctx, r.ID); err == nil && cur.State != Building {
			// Cancelled (here or on another replica) or ended otherwise: the
			// caller stops the build when it was cancelled.
			return BuildStatus{}, fmt.Errorf("release is %s: %w", StateText(cur.State), errLeftBuilding)
		}
		chunk, err := p.ReadLog(ctx, b.Job, b.Number, b.LogOffset)
		if err != nil {
			return BuildStatus{}, err
		}
		if chunk.Next != b.LogOffset || len(chunk.Data) > 0 {
			// Bytes read are kept even when Hoist is stopping meanwhile, so
			// that the next start does not read them from Jenkins again.
			kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			err := w.store.AppendLog(kctx, r.ID, b.LogOffset, chunk.Data, chunk.Next)
			cancel()
			if errors.Is(err, ErrConflict) {
				return BuildStatus{}, fmt.Errorf("keep log: another worker follows this build: %w", errLeftBuilding)
			}
			if err != nil {
				return BuildStatus{}, fmt.Errorf("keep log: %w", err)
			}
			b.LogOffset = chunk.Next
			tail = appendTail(tail, chunk.Data)
		}
		status, err := p.Status(ctx, b.Job, b.Number)
		if err != nil {
			return BuildStatus{}, err
		}
		if status.URL == "" {
			status.URL = b.URL
		}
		done := !status.Building && status.Result != "" && !chunk.More
		if live.TS != "" && w.ports.BuildChat != nil {
			view := BuildView{Release: r.ID, Job: b.Job, Number: b.Number, URL: status.URL, Tail: w.shownTail(tail),
				Started: status.Started, Estimated: status.Estimated, Now: w.now()}
			if done {
				view.Result = status.Result
			}
			if err := w.ports.BuildChat.UpdateBuild(ctx, live, view); err != nil {
				w.logger.WarnContext(ctx, "refresh live build message", "release", r.ID, "err", err)
			}
		}
		if done {
			w.uploadLog(ctx, r, b, card)
			return status, nil
		}
		if !chunk.More || len(chunk.Data) == 0 {
			select {
			case <-ctx.Done():
				return BuildStatus{}, ctx.Err()
			case <-time.After(w.logPoll):
			}
		}
	}
}

// liveMessage returns the live build message, posting it the first time.
func (w *Worker) liveMessage(ctx context.Context, r Release, b Build) (MessageRef, error) {
	if w.ports.BuildChat == nil {
		return MessageRef{}, nil
	}
	msgs, err := w.store.Messages(ctx, r.ID)
	if err != nil {
		return MessageRef{}, err
	}
	if ref, ok := msgs[RoleBuildLog]; ok {
		return ref, nil
	}
	card := MessageRef{Channel: r.MessageChannel, TS: r.MessageTS}
	ref, err := w.ports.BuildChat.PostBuild(ctx, card, BuildView{Release: r.ID, Job: b.Job, Number: b.Number, URL: b.URL, Estimated: -1, Started: w.now(), Now: w.now()})
	if err != nil {
		return MessageRef{}, err
	}
	if err := w.store.PutMessage(ctx, r.ID, RoleBuildLog, ref); err != nil {
		return MessageRef{}, err
	}
	return ref, nil
}

// uploadLog puts the whole log, as kept in the store and redacted, in the
// release's thread.
func (w *Worker) uploadLog(ctx context.Context, r Release, b Build, card MessageRef) {
	if w.ports.BuildChat == nil {
		return
	}
	if msgs, err := w.store.Messages(ctx, r.ID); err == nil {
		if _, done := msgs[RoleLogFile]; done {
			return // uploaded before a restart
		}
	}
	log, err := w.store.Log(ctx, r.ID)
	if err == nil {
		name := fmt.Sprintf("release-%d-%s-%d.log", r.ID, strings.ReplaceAll(b.Job, "/", "-"), b.Number)
		err = w.ports.BuildChat.UploadLog(ctx, card, name, w.redact(log))
	}
	if err == nil {
		err = w.store.PutMessage(ctx, r.ID, RoleLogFile, card)
	}
	if err != nil {
		w.logger.WarnContext(ctx, "upload build log", "release", r.ID, "err", err)
	}
}

// shownTail is the tail as the live message may show it: redacted, and
// without a line Jenkins has not finished, which could hold half a secret
// that no pattern recognises yet.
func (w *Worker) shownTail(tail []string) []string {
	shown := make([]string, 0, len(tail))
	for _, line := range tail {
		if !strings.HasSuffix(line, "\n") {
			continue
		}
		shown = append(shown, string(w.redact([]byte(line))))
	}
	return shown
}

// reshowBuild sends the final view of a finished release's live build
// message again, from what the store kept and the result Jenkins reports.
func (w *Worker) reshowBuild(ctx context.Context, r Release) error {
	if w.ports.BuildChat == nil || w.ports.Pipeline == nil {
		return nil
	}
	msgs, err := w.store.Messages(ctx, r.ID)
	if err != nil {
		return err
	}
	live, ok := msgs[RoleBuildLog]
	if !ok {
		return nil
	}
	b, err := w.store.GetBuild(ctx, r.ID)
	if err != nil {
		return err
	}
	status, err := w.ports.Pipeline.Status(ctx, b.Job, b.Number)
	if err != nil || status.Result == "" {
		return err
	}
	tail, err := w.storedTail(ctx, r.ID)
	if err != nil {
		return err
	}
	if status.URL == "" {
		status.URL = b.URL
	}
	return w.ports.BuildChat.UpdateBuild(ctx, live, BuildView{Release: r.ID, Job: b.Job, Number: b.Number, URL: status.URL,
		Tail: w.shownTail(tail), Started: status.Started, Estimated: status.Estimated, Now: w.now(), Result: status.Result})
}

// storedTail is the last lines of the log kept so far, for a build that
// is followed again after a restart.
func (w *Worker) storedTail(ctx context.Context, id ID) ([]string, error) {
	log, err := w.store.Log(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load kept log: %w", err)
	}
	return appendTail(nil, log), nil
}

// appendTail adds the lines in data to tail and keeps the last tailLines.
// A line Jenkins has not finished yet is shown as it is and completed by
// the next chunk.
func appendTail(tail []string, data []byte) []string {
	if len(data) == 0 {
		return tail
	}
	text := string(bytes.ToValidUTF8(data, []byte("�")))
	if n := len(tail); n > 0 && !strings.HasSuffix(tail[n-1], "\n") {
		text = tail[n-1] + text
		tail = tail[:n-1]
	}
	for text != "" {
		line, rest, found := strings.Cut(text, "\n")
		if found {
			line += "\n"
		}
		tail = append(tail, line)
		text = rest
	}
	if len(tail) > tailLines {
		tail = append([]string(nil), tail[len(tail)-tailLines:]...)
	}
	return tail
}

// errLeftBuilding: the release is no longer this drive's to follow.
var errLeftBuilding = errors.New("no longer building")

// buildError ends the build stage after an error from the build server,
// unless:
//   - the release was cancelled meanwhile: the build is stopped;
//   - Hoist is stopping, or another worker follows the build: it is
//     resumed later;
//   - the build server is down for now and the build was already queued:
//     the next sweep follows it again from the stored offset.
func (w *Worker) buildError(ctx context.Context, r Release, b Build, doing string, err error) (Release, error) {
	if ctx.Err() != nil || errors.Is(err, errLeftBuilding) {
		w.stopIfCancelled(r, b)
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		return r, fmt.Errorf("%s: %w", doing, err)
	}
	if errors.Is(err, ErrUnavailable) && b.QueueID != 0 {
		w.logger.WarnContext(ctx, "build server unavailable; following the build again later", "release", r.ID, "err", err)
		return r, fmt.Errorf("%s: %w", doing, err)
	}
	return w.failBuild(ctx, r, fmt.Sprintf("%s: %v", doing, err))
}

// failBuild ends the release as failed and says why in its thread.
func (w *Worker) failBuild(ctx context.Context, r Release, reason string) (Release, error) {
	card := MessageRef{Channel: r.MessageChannel, TS: r.MessageTS}
	if err := w.ports.Chat.PostThread(ctx, card, "⚠️ "+reason); err != nil {
		w.logger.WarnContext(ctx, "explain failed build", "release", r.ID, "err", err)
	}
	return w.move(ctx, r, Failed, reason)
}

// stopIfCancelled stops the build of a release that was cancelled while
// it was being followed: the queue item when it had not started, the
// build when it had.
func (w *Worker) stopIfCancelled(r Release, b Build) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur, err := w.store.GetRelease(ctx, r.ID)
	if err != nil || cur.State != Cancelled {
		return
	}
	if latest, err := w.store.GetBuild(ctx, r.ID); err == nil {
		b = latest
	}
	if b.Number == 0 && b.QueueID == 0 && !b.TriggeredAt.IsZero() {
		// Hoist asked for a build but did not keep its queue item.
		f, ok, err := w.ports.Pipeline.FindBuild(ctx, b.Job, r.ID)
		if err != nil {
			w.logger.ErrorContext(ctx, "cannot look for the build of a cancelled release; it may still run: stop it in Jenkins",
				"release", r.ID, "job", b.Job, "err", err)
			return
		}
		if ok {
			b.QueueID, b.Number = f.QueueID, f.Number
		}
	}
	switch {
	case b.Number != 0:
		err = w.ports.Pipeline.Stop(ctx, b.Job, b.Number)
	case b.QueueID != 0:
		err = w.ports.Pipeline.CancelQueued(ctx, b.QueueID)
	default:
		return
	}
	if err != nil {
		w.logger.ErrorContext(ctx, "stop the build of a cancelled release", "release", r.ID, "err", err)
		return
	}
	w.logger.InfoContext(ctx, "stopped the build of a cancelled release", "release", r.ID, "job", b.Job, "build", b.Number)
	if b.Number != 0 {
		w.showAborted(ctx, cur)
	}
}

// showAborted waits a little for Jenkins to end a stopped build, so that
// its live message shows ABORTED rather than running on.
func (w *Worker) showAborted(ctx context.Context, r Release) {
	for range 10 {
		if err := w.reshowBuild(ctx, r); err != nil || w.buildEnded(ctx, r) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.logPoll):
		}
	}
}

// buildEnded reports whether the build server says the release's build
// has a result.
func (w *Worker) buildEnded(ctx context.Context, r Release) bool {
	b, err := w.store.GetBuild(ctx, r.ID)
	if err != nil || b.Number == 0 {
		return true
	}
	status, err := w.ports.Pipeline.Status(ctx, b.Job, b.Number)
	return err != nil || status.Result != ""
}
