package release

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hoistbot/hoist/internal/config"
)

// DeploymentRecord is what Hoist remembers of a release's deployment on
// the source host, so that a restart posts each state once.
type DeploymentRecord struct {
	Release ID
	// ID is the source host's deployment ID.
	ID int64
	// Environment is the environment's name on the source host.
	Environment string
	// State is the last state posted; empty until the first is.
	State DeploymentState
}

// deploymentTimeout bounds each call about a deployment: they show what
// runs where, and must not hold a release up for long.
const deploymentTimeout = 30 * time.Second

// maxDeploymentDescription is GitHub's limit on a status description.
const maxDeploymentDescription = 140

// deploymentEnvironment names the environment of a release on the source
// host: the environment's name, and for an ephemeral one its branch too
// ("test/feature-x"), since each branch has an environment of its own.
func deploymentEnvironment(env string, e config.Environment, branch string) string {
	if e.Ephemeral {
		return env + "/" + branch
	}
	return env
}

// isProduction reports whether an environment is production for the
// source host: protected, not ephemeral, and promoting to no other.
func isProduction(e config.Environment) bool {
	return e.Protected && !e.Ephemeral && e.PromotesTo == ""
}

// openDeployment records a deployment of the release's commit on the
// source host, in state queued, before its build is triggered. It fails
// only when the deployment is a gate (github.required_contexts) that was
// not passed; otherwise a failure is logged and the release goes on.
func (w *Worker) openDeployment(ctx context.Context, r Release) error {
	if w.ports.SCM == nil || r.Commit == "" {
		return nil
	}
	log := w.logger.With("release", r.ID)
	if _, err := w.store.GetDeployment(ctx, r.ID); !errors.Is(err, ErrNotFound) {
		if err != nil {
			log.WarnContext(ctx, "load deployment", "err", err)
		}
		return nil
	}
	env := w.envs[r.Env]
	d := NewDeployment{
		Release:          r.ID,
		SHA:              r.Commit,
		Environment:      deploymentEnvironment(r.Env, env, r.Ref),
		Description:      deploymentDescription("Hoist release #%d of %s", r.ID, r.Ref),
		Transient:        env.Ephemeral,
		Production:       isProduction(env),
		RequiredContexts: w.github.RequiredContexts,
	}
	dctx, cancel := context.WithTimeout(ctx, deploymentTimeout)
	id, err := w.ports.SCM.CreateDeployment(dctx, w.apps[r.App].Repo, d)
	cancel()
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil && len(d.RequiredContexts) > 0:
		return fmt.Errorf("GitHub did not accept a deployment of `%s`, so the checks it requires (%s) are not known to have passed: %w",
			ShortSHA(r.Commit), strings.Join(d.RequiredContexts, ", "), err)
	case err != nil:
		log.WarnContext(ctx, "record a deployment on GitHub; the release goes on without it", "err", err)
		return nil
	}
	rec := DeploymentRecord{Release: r.ID, ID: id, Environment: d.Environment}
	if err := w.store.PutDeployment(ctx, rec); err != nil {
		log.WarnContext(ctx, "record deployment", "deployment", id, "err", err)
		return nil
	}
	w.setDeploymentState(ctx, r, rec, DeploymentQueued, "")
	return nil
}

// deploymentRunning shows the release's deployment in progress, linking
// to its build.
func (w *Worker) deploymentRunning(ctx context.Context, r Release, logURL string) {
	if w.ports.SCM == nil {
		return
	}
	rec, err := w.store.GetDeployment(ctx, r.ID)
	if err != nil || rec.State != DeploymentQueued && rec.State != "" {
		return
	}
	w.setDeploymentState(ctx, r, rec, DeploymentInProgress, logURL)
}

// syncDeployment posts the outcome of a finished release on its
// deployment: success; failure when its build or rollout failed; error
// when it ended otherwise (cancelled, or stopped before it built). A
// finished teardown marks the branch's deployments inactive.
func (w *Worker) syncDeployment(ctx context.Context, r Release) {
	if w.ports.SCM == nil || !r.State.Terminal() {
		return
	}
	if r.Kind == KindEnvDown {
		if r.State == Succeeded {
			w.retireDeployments(ctx, r)
		}
		return
	}
	rec, err := w.store.GetDeployment(ctx, r.ID)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			w.logger.WarnContext(ctx, "load deployment", "release", r.ID, "err", err)
		}
		return
	}
	var state DeploymentState
	switch {
	case rec.State != DeploymentQueued && rec.State != DeploymentInProgress && rec.State != "":
		return // posted already
	case r.State == Succeeded:
		state = DeploymentSuccess
	case r.State == Failed && rec.State == DeploymentInProgress:
		state = DeploymentFailure
	default:
		state = DeploymentError
	}
	w.setDeploymentState(ctx, r, rec, state, w.buildURL(ctx, r.ID))
}

// retireDeployments marks inactive the deployments of the environment a
// teardown took down that still show as live.
func (w *Worker) retireDeployments(ctx context.Context, down Release) {
	earlier, err := w.store.ListReleases(ctx, Filter{App: down.App, Env: down.Env, Limit: 200})
	if err != nil {
		w.logger.WarnContext(ctx, "list the releases of a torn down environment", "release", down.ID, "err", err)
		return
	}
	for _, r := range earlier {
		if r.Ref != down.Ref || r.Kind == KindEnvDown || r.ID > down.ID {
			continue
		}
		rec, err := w.store.GetDeployment(ctx, r.ID)
		if err != nil || rec.State != DeploymentSuccess {
			continue
		}
		desc := deploymentDescription("taken down by Hoist release #%d", down.ID)
		w.postDeploymentStatus(ctx, r, rec, DeploymentStatus{State: DeploymentInactive, Description: desc})
	}
}

// setDeploymentState posts a state of the release's deployment, with a
// description made from the release and the environment's URL.
func (w *Worker) setDeploymentState(ctx context.Context, r Release, rec DeploymentRecord, state DeploymentState, logURL string) {
	var desc string
	switch state {
	case DeploymentQueued:
		desc = deploymentDescription("Hoist release #%d: waiting for its build", r.ID)
	case DeploymentInProgress:
		desc = deploymentDescription("Hoist release #%d: building and rolling out", r.ID)
	case DeploymentSuccess:
		desc = deploymentDescription("Hoist release #%d succeeded", r.ID)
	default:
		desc = deploymentDescription("Hoist release #%d %s: %s", r.ID, StateText(r.State), plainText(r.StateReason))
	}
	w.postDeploymentStatus(ctx, r, rec, DeploymentStatus{State: state, Description: desc, LogURL: logURL, EnvironmentURL: w.environmentURL(r)})
}

func (w *Worker) postDeploymentStatus(ctx context.Context, r Release, rec DeploymentRecord, s DeploymentStatus) {
	log := w.logger.With("release", rec.Release, "deployment", rec.ID, "state", s.State)
	dctx, cancel := context.WithTimeout(ctx, deploymentTimeout)
	err := w.ports.SCM.SetDeploymentStatus(dctx, w.apps[r.App].Repo, rec.ID, s)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			log.WarnContext(ctx, "post a deployment status on GitHub", "err", err)
		}
		return
	}
	rec.State = s.State
	if err := w.store.PutDeployment(ctx, rec); err != nil {
		log.WarnContext(ctx, "record deployment status", "err", err)
	}
}

// environmentURL is where people reach the app in the release's
// environment, from the environment's url template; empty without one.
func (w *Worker) environmentURL(r Release) string {
	tmpl := w.envs[r.Env].URL
	if tmpl == "" {
		return ""
	}
	return config.ExpandTemplate(tmpl, r.App, r.Env, config.Slug(r.Ref))
}

// buildURL is the page of the release's build, when it has one.
func (w *Worker) buildURL(ctx context.Context, id ID) string {
	b, err := w.store.GetBuild(ctx, id)
	if err != nil {
		return ""
	}
	return b.URL
}

// deploymentDescription formats a status description within GitHub's
// limit.
func deploymentDescription(format string, args ...any) string {
	s := fmt.Sprintf(format, args...)
	if utf8.RuneCountInString(s) <= maxDeploymentDescription {
		return s
	}
	runes := []rune(s)
	return string(runes[:maxDeploymentDescription-1]) + "…"
}

// slackLink matches a Slack link, <url|label> or <url>.
var slackLink = regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`)

// plainText turns a state reason, written in Slack mrkdwn, into plain
// text: links become their labels, and code and bold marks go.
func plainText(s string) string {
	s = slackLink.ReplaceAllStringFunc(s, func(m string) string {
		parts := slackLink.FindStringSubmatch(m)
		if parts[2] != "" {
			return parts[2]
		}
		return parts[1]
	})
	s = strings.NewReplacer("`", "", "*", "", "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
	return strings.TrimSpace(s)
}
