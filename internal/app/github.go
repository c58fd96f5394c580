package app

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/hoistbot/hoist/integrations/github"
	"github.com/hoistbot/hoist/internal/config"
)

// connectGitHub returns the SCM port over the GitHub the configuration
// names (github.base_url, github.token), after saying at start-up whether
// GitHub answers and each app's repository can be read. Hoist starts
// either way: releases fail with the reason while GitHub is away.
func connectGitHub(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*github.Client, error) {
	client, err := github.New(github.Config{BaseURL: cfg.GitHub.BaseURL, Token: cfg.GitHub.Token.Reveal()}, logger)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	remaining, limit, err := client.Check(cctx)
	if err != nil {
		logger.Error("github does not answer; releases fail to resolve their refs until it does", "problem", err.Error())
		return client, nil
	}
	logger.Info("github answers", "url", client.URL(), "rate_limit_remaining", remaining, "rate_limit", limit)
	for _, name := range slices.Sorted(maps.Keys(cfg.Apps)) {
		if err := client.CheckRepo(cctx, cfg.Apps[name].Repo); err != nil {
			logger.Error("an app's repository cannot be read; its releases fail until this is fixed", "app", name, "problem", err.Error())
		}
	}
	return client, nil
}

// withGitHubWebhook serves GitHub's webhook at POST /github/webhook beside
// the Slack front door, when github.webhook_secret is set; without it that
// path answers 404 like any other.
func withGitHubWebhook(cfg *config.Config, front http.Handler, retirer github.Retirer, logger *slog.Logger) (http.Handler, error) {
	if cfg.GitHub.WebhookSecret == "" {
		return front, nil
	}
	repos := map[string]string{}
	for name, a := range cfg.Apps {
		repos[name] = a.Repo
	}
	hook, err := github.NewWebhook(github.WebhookConfig{Secret: cfg.GitHub.WebhookSecret.Reveal(), Apps: repos}, retirer, logger.With("component", "github_webhook"))
	if err != nil {
		return nil, fmt.Errorf("github webhook: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /github/webhook", hook)
	mux.Handle("/", front)
	return mux, nil
}
