package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	gh "github.com/google/go-github/v93/github"

	"github.com/hoistbot/hoist/internal/release"
)

// MaxWebhookBody bounds a webhook delivery Hoist reads. GitHub caps
// payloads at 25 MB, but the events Hoist acts on are far smaller.
const MaxWebhookBody = 5 << 20

// retireTimeout bounds the work a delivery does: a few store writes.
const retireTimeout = 5 * time.Second

// Retirer takes down the ephemeral environment of an app's branch, as
// `env down` by Hoist itself. It returns an error wrapping
// release.ErrNotFound when the branch has no environment.
type Retirer interface {
	RetireEnvironment(ctx context.Context, app, branch, reason string) (release.Release, error)
}

// WebhookConfig says which deliveries a Webhook trusts and acts on.
type WebhookConfig struct {
	// Secret is the webhook's secret, which signs every delivery
	// (X-Hub-Signature-256).
	Secret string
	// Apps maps each app to its repository, "owner/name".
	Apps map[string]string
}

// Webhook handles GitHub's webhook deliveries (POST /github/webhook). It
// verifies X-Hub-Signature-256 before anything else, and takes down a
// branch's ephemeral environment when the branch is deleted ("delete") or
// its pull request closed ("pull_request", action "closed"). Deliveries
// for repositories of no app, and other events, are acknowledged and
// ignored.
type Webhook struct {
	secret  []byte
	apps    map[string][]string // lower-case repository → apps
	retirer Retirer
	log     *slog.Logger
}

// NewWebhook returns the handler of GitHub's deliveries.
func NewWebhook(cfg WebhookConfig, retirer Retirer, logger *slog.Logger) (*Webhook, error) {
	if cfg.Secret == "" {
		return nil, errors.New("github.webhook_secret is empty: without it no delivery can be verified")
	}
	if retirer == nil {
		return nil, errors.New("webhook: nothing to take environments down with")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	apps := map[string][]string{}
	for app, repo := range cfg.Apps {
		key := strings.ToLower(repo)
		apps[key] = append(apps[key], app)
	}
	for _, names := range apps {
		slices.Sort(names)
	}
	return &Webhook{secret: []byte(cfg.Secret), apps: apps, retirer: retirer, log: logger}, nil
}

// ServeHTTP verifies and handles one delivery.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "use POST", http.StatusMethodNotAllowed)
		return
	}
	log := h.log.With("delivery", gh.DeliveryID(r), "event", gh.WebHookType(r))
	payload, status, err := h.verify(w, r)
	if err != nil {
		log.WarnContext(r.Context(), "github webhook delivery refused", "status", status, "problem", err.Error())
		http.Error(w, err.Error(), status)
		return
	}
	text, err := h.handle(r.Context(), log, gh.WebHookType(r), payload)
	if err != nil {
		log.ErrorContext(r.Context(), "handle github webhook delivery", "err", err)
		http.Error(w, "Hoist could not handle this delivery; see its logs", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, text+"\n")
}

// verify reads the delivery, within MaxWebhookBody, and checks its
// signature. It returns the JSON payload, or the status to answer and why.
func (h *Webhook) verify(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	signature := r.Header.Get(gh.SHA256SignatureHeader)
	if signature == "" {
		return nil, http.StatusUnauthorized, errors.New("missing X-Hub-Signature-256: give the webhook a secret, github.webhook_secret")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("delivery larger than %d bytes", MaxWebhookBody)
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("read delivery: %w", err)
	}
	if err := gh.ValidateSignature(signature, body, h.secret); err != nil || !strings.HasPrefix(signature, "sha256=") {
		return nil, http.StatusUnauthorized, errors.New("X-Hub-Signature-256 does not match: the webhook's secret must be github.webhook_secret")
	}
	contentType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, http.StatusUnsupportedMediaType, errors.New("the webhook's content type must be application/json")
	}
	payload, err := gh.ValidatePayloadFromBody(contentType, bytes.NewReader(body), signature, h.secret)
	if err != nil {
		return nil, http.StatusUnsupportedMediaType, errors.New("the webhook's content type must be application/json")
	}
	return payload, http.StatusOK, nil
}

// handle acts on a verified delivery and says what it did.
func (h *Webhook) handle(ctx context.Context, log *slog.Logger, event string, payload []byte) (string, error) {
	if event == "ping" {
		return "pong", nil
	}
	parsed, err := gh.ParseWebHook(event, payload)
	if err != nil {
		return fmt.Sprintf("event %q ignored", event), nil //nolint:nilerr // an event Hoist does not know is not an error
	}
	var repo, branch, reason string
	switch e := parsed.(type) {
	case *gh.DeleteEvent:
		if e.GetRefType() != "branch" {
			return "only deleted branches matter; ignored", nil
		}
		repo, branch = e.GetRepo().GetFullName(), e.GetRef()
		reason = fmt.Sprintf("branch `%s` was deleted on GitHub", branch)
	case *gh.PullRequestEvent:
		pr := e.GetPullRequest()
		if e.GetAction() != "closed" {
			return fmt.Sprintf("pull request %s; ignored", e.GetAction()), nil
		}
		repo, branch = e.GetRepo().GetFullName(), pr.GetHead().GetRef()
		if !strings.EqualFold(pr.GetHead().GetRepo().GetFullName(), repo) {
			return "the branch of a fork has no environment here; ignored", nil
		}
		verb := "closed"
		if pr.GetMerged() {
			verb = "merged"
		}
		reason = fmt.Sprintf("pull request #%d of `%s` was %s on GitHub", pr.GetNumber(), branch, verb)
	default:
		return fmt.Sprintf("event %q ignored", event), nil
	}
	apps := h.apps[strings.ToLower(repo)]
	if len(apps) == 0 || branch == "" {
		return "repository of no app; ignored", nil
	}
	log = log.With("repo", repo, "branch", branch)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), retireTimeout)
	defer cancel()
	var done []string
	for _, app := range apps {
		r, err := h.retirer.RetireEnvironment(rctx, app, branch, reason)
		if errors.Is(err, release.ErrNotFound) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("take down %s's environment for %s: %w", app, branch, err)
		}
		log.InfoContext(ctx, "taking down an environment whose branch is gone", "app", app, "release", r.ID)
		done = append(done, fmt.Sprintf("release #%d takes down %s's environment", r.ID, app))
	}
	if len(done) == 0 {
		return "no environment for this branch; nothing to do", nil
	}
	return strings.Join(done, "; "), nil
}
