package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// promote is the GitOps step of an approved promotion, before its build:
// TO's branch must point at the promoted commit. When it does not contain
// it yet, Hoist merges a pull request from FROM's branch into TO's branch
// (or, with github.fast_forward_only, moves TO's branch to the commit).
// FROM's branch must still point at the commit, so that nothing else is
// promoted with it. Every step can be run again after a restart.
//
// It returns the release still approved when the build may follow, or
// failed with the reason; an error when GitHub cannot be asked now (the
// next sweep tries again).
func (w *Worker) promote(ctx context.Context, r Release) (Release, error) {
	if w.ports.Pipeline == nil {
		return r, nil // advance says there is nothing to build with
	}
	from, to := w.envs[r.FromEnv].Branch, w.envs[r.Env].Branch
	switch {
	case r.Commit == "":
		return w.failBuild(ctx, r, "this promotion names no commit, so there is nothing exact to promote; nothing was deployed")
	case w.ports.SCM == nil:
		return w.failBuild(ctx, r, fmt.Sprintf("Hoist is not connected to GitHub (set github.token), so it cannot move `%s` to `%s`; nothing was deployed",
			to, ShortSHA(r.Commit)))
	case isPattern(to):
		return w.failBuild(ctx, r, fmt.Sprintf("*%s* takes the branches `%s`, not one branch, so Hoist cannot tell which branch to move: give environments.%s.branch one branch name; nothing was deployed",
			r.Env, to, r.Env))
	case isPattern(from):
		return w.failBuild(ctx, r, fmt.Sprintf("*%s* takes the branches `%s`, not one branch, so Hoist cannot tell which branch to merge from: give environments.%s.branch one branch name; nothing was deployed",
			r.FromEnv, from, r.FromEnv))
	}
	sctx, cancel := context.WithTimeout(ctx, scmTimeout)
	defer cancel()
	repo := w.apps[r.App].Repo
	rel, err := w.ports.SCM.Compare(sctx, repo, to, r.Commit)
	if err != nil {
		return w.promotionError(ctx, r, fmt.Sprintf("compare `%s` with `%s`", to, ShortSHA(r.Commit)), err)
	}
	switch rel {
	case Identical:
		w.promotionNote(ctx, r, fmt.Sprintf("`%s` already points at %s: nothing to merge.", to, commitLink(r)))
		return r, nil
	case Behind:
		w.promotionNote(ctx, r, fmt.Sprintf("`%s` already contains %s: nothing to merge.", to, commitLink(r)))
		return r, nil
	}
	head, err := w.ports.SCM.BranchHead(sctx, repo, from)
	if err != nil {
		return w.promotionError(ctx, r, fmt.Sprintf("read the head of `%s`", from), err)
	}
	if head != r.Commit {
		return w.failBuild(ctx, r, fmt.Sprintf("`%s` now points at `%s`, not at `%s`, which *%s* runs: merging it would promote commits that were not tested there. "+
			"Deploy `%s` to *%s* first, then promote again; nothing was deployed", from, ShortSHA(head), ShortSHA(r.Commit), r.FromEnv, from, r.FromEnv))
	}
	if w.github.FastForwardOnly {
		return w.fastForward(sctx, r, repo, from, to, rel)
	}
	return w.mergePromotion(sctx, r, repo, from, to)
}

// fastForward moves TO's branch to the promoted commit itself.
func (w *Worker) fastForward(ctx context.Context, r Release, repo, from, to string, rel Relation) (Release, error) {
	if rel == Diverged {
		return w.failBuild(ctx, r, fmt.Sprintf("`%s` has commits that `%s` lacks, so it cannot be fast-forwarded to it (github.fast_forward_only is set). "+
			"Merge `%s` into `%s`, deploy that to *%s*, then promote again; nothing was deployed", to, ShortSHA(r.Commit), to, from, r.FromEnv))
	}
	if err := w.ports.SCM.FastForward(ctx, repo, to, r.Commit); err != nil && !w.contains(ctx, repo, to, r.Commit) {
		return w.promotionError(ctx, r, fmt.Sprintf("fast-forward `%s` to `%s`", to, ShortSHA(r.Commit)), err)
	}
	w.promotionNote(ctx, r, fmt.Sprintf("Moved `%s` to %s (fast-forward).", to, commitLink(r)))
	return r, nil
}

// mergePromotion merges a pull request from FROM's branch into TO's
// branch: the open one, or one Hoist opens. When GitHub refuses the merge
// a pull request Hoist opened is closed again.
func (w *Worker) mergePromotion(ctx context.Context, r Release, repo, from, to string) (Release, error) {
	pr, err := w.ports.SCM.FindPullRequest(ctx, repo, from, to)
	if errors.Is(err, ErrNotFound) {
		pr, err = w.ports.SCM.OpenPullRequest(ctx, repo, w.promotionPullRequest(ctx, r, from, to))
	}
	if err != nil {
		return w.promotionError(ctx, r, fmt.Sprintf("open a pull request from `%s` into `%s`", from, to), err)
	}
	method := MergeMethod(w.github.MergeMethod)
	if method == "" {
		method = "merge"
	}
	merged, err := w.ports.SCM.MergePullRequest(ctx, repo, pr.Number, r.Commit, method)
	if err != nil {
		if w.contains(ctx, repo, to, r.Commit) {
			return r, nil // merged meanwhile, by another Hoist or a person
		}
		if ctx.Err() != nil || errors.Is(err, ErrUnavailable) {
			return w.promotionError(ctx, r, fmt.Sprintf("merge <%s|pull request #%d>", pr.URL, pr.Number), err)
		}
		if strings.Contains(pr.Body, promotionMarker(r.ID)) {
			if cerr := w.ports.SCM.ClosePullRequest(ctx, repo, pr.Number); cerr != nil {
				w.logger.WarnContext(ctx, "close a promotion pull request GitHub would not merge", "release", r.ID, "pull", pr.Number, "err", cerr)
			}
		}
		return w.failBuild(ctx, r, fmt.Sprintf("GitHub refused to merge <%s|pull request #%d> into `%s`: %v; nothing was deployed", pr.URL, pr.Number, to, err))
	}
	w.promotionNote(ctx, r, fmt.Sprintf("Merged <%s|pull request #%d> into `%s` (%s): it now points at `%s`. Building %s.",
		pr.URL, pr.Number, to, method, ShortSHA(merged), commitLink(r)))
	return r, nil
}

// promotionPullRequest is the pull request a promotion opens: its title
// and body name the release and the commit, and link to the release's
// thread.
func (w *Worker) promotionPullRequest(ctx context.Context, r Release, from, to string) PullRequest {
	title := fmt.Sprintf("Promote %s %s from %s to %s (Hoist release #%d)", r.App, ShortSHA(r.Commit), r.FromEnv, r.Env, r.ID)
	var b strings.Builder
	fmt.Fprintf(&b, "Hoist release #%d promotes %s", r.ID, r.Commit)
	if r.CommitTitle != "" {
		fmt.Fprintf(&b, " (%s)", r.CommitTitle)
	}
	fmt.Fprintf(&b, ", which runs in %s, to %s, by merging `%s` into `%s`.\n", r.FromEnv, r.Env, from, to)
	if r.MessageTS != "" {
		link, err := w.ports.Chat.Permalink(ctx, MessageRef{Channel: r.MessageChannel, TS: r.MessageTS})
		if err == nil {
			fmt.Fprintf(&b, "\nApproved in Slack: %s\n", link)
		}
	}
	fmt.Fprintf(&b, "\nHoist merges this pull request itself; please do not push to `%s` meanwhile.\n\n%s\n", from, promotionMarker(r.ID))
	return PullRequest{Head: from, Base: to, Title: title, Body: b.String()}
}

// promotionMarker marks the pull requests a release opened.
func promotionMarker(id ID) string { return fmt.Sprintf("<!-- hoist-release: %d -->", id) }

// contains reports whether branch contains sha now; false when GitHub
// cannot say.
func (w *Worker) contains(ctx context.Context, repo, branch, sha string) bool {
	rel, err := w.ports.SCM.Compare(ctx, repo, branch, sha)
	return err == nil && (rel == Identical || rel == Behind)
}

// promotionError waits for GitHub when it is away (the next sweep tries
// again, and every step can be repeated), and otherwise ends the release.
func (w *Worker) promotionError(ctx context.Context, r Release, doing string, err error) (Release, error) {
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if errors.Is(err, ErrUnavailable) {
		return r, fmt.Errorf("promote: %s: %w", doing, err)
	}
	return w.failBuild(ctx, r, fmt.Sprintf("%s: %v; nothing was deployed", doing, err))
}

// promotionNote says in the release's thread what the promotion did.
func (w *Worker) promotionNote(ctx context.Context, r Release, text string) {
	card := MessageRef{Channel: r.MessageChannel, TS: r.MessageTS}
	if err := w.ports.Chat.PostThread(ctx, card, text); err != nil {
		w.logger.WarnContext(ctx, "note a promotion step", "release", r.ID, "err", err)
	}
}

// commitLink is the short SHA of the release's commit, linked to it when
// its page is known.
func commitLink(r Release) string {
	if r.CommitURL == "" {
		return "`" + ShortSHA(r.Commit) + "`"
	}
	return fmt.Sprintf("<%s|%s>", r.CommitURL, ShortSHA(r.Commit))
}

// isPattern reports whether an environment's branch is a glob rather than
// one branch.
func isPattern(branch string) bool { return strings.ContainsAny(branch, "*?[") }
