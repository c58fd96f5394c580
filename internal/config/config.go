// Package config reads Hoist's configuration once, from a YAML file and
// HOIST_* environment variables, and validates it whole.
package config

import (
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Config is Hoist's whole configuration. Key names are a stable interface:
// users and tests depend on them.
type Config struct {
	Server       Server                 `mapstructure:"server"`
	Slack        Slack                  `mapstructure:"slack"`
	RBAC         RBAC                   `mapstructure:"rbac"`
	Approvals    Approvals              `mapstructure:"approvals"`
	Store        Store                  `mapstructure:"store"`
	Jenkins      Jenkins                `mapstructure:"jenkins"`
	GitHub       GitHub                 `mapstructure:"github"`
	Clusters     map[string]Cluster     `mapstructure:"clusters"`
	Environments map[string]Environment `mapstructure:"environments"`
	Apps         map[string]App         `mapstructure:"apps"`

	// problems found while loading (unknown keys, values of the wrong
	// type); Validate reports them with its own.
	problems []Problem
}

// Server is Hoist's own HTTP listener.
type Server struct {
	Listen    string `mapstructure:"listen"`
	PublicURL string `mapstructure:"public_url"`
}

// Slack says how Hoist talks to Slack.
type Slack struct {
	Mode            string   `mapstructure:"mode"` // "http" or "socket"
	BotToken        Secret   `mapstructure:"bot_token"`
	AppToken        Secret   `mapstructure:"app_token"`
	SigningSecret   Secret   `mapstructure:"signing_secret"`
	APIURL          string   `mapstructure:"api_url"`
	TeamID          string   `mapstructure:"team_id"`
	AllowedChannels []string `mapstructure:"allowed_channels"`
	NotifyChannel   string   `mapstructure:"notify_channel"`
	// UpdateBudgetPerMinute is how many chat.update calls a minute Hoist
	// allows itself across the workspace (Slack's Tier 3 is about 50).
	UpdateBudgetPerMinute int `mapstructure:"update_budget_per_minute"`
}

// RBAC says who is an admin and how approvals are counted.
type RBAC struct {
	Admins            []string `mapstructure:"admins"`
	AdminGroups       []string `mapstructure:"admin_groups"`
	AllowSelfApproval bool     `mapstructure:"allow_self_approval"`
	RequiredApprovals int      `mapstructure:"required_approvals"`
}

// Approvals configures the approval flow.
type Approvals struct {
	Timeout time.Duration `mapstructure:"timeout"`
}

// Store selects the database.
type Store struct {
	Driver string `mapstructure:"driver"` // "sqlite" or "postgres"
	DSN    Secret `mapstructure:"dsn"`
	// LeaseTTL is how long a replica's hold on the release it drives
	// lasts unrenewed: another replica takes over a dead one's releases
	// after it.
	LeaseTTL time.Duration `mapstructure:"lease_ttl"`
}

// Jenkins locates the CI server.
type Jenkins struct {
	URL   string `mapstructure:"url"`
	User  string `mapstructure:"user"`
	Token Secret `mapstructure:"token"`
	// RedactPatterns are regular expressions whose matches are replaced
	// in build logs before they are uploaded to Slack.
	RedactPatterns []string `mapstructure:"redact_patterns"`
}

// GitHub locates the SCM API and says how releases show there and how a
// promotion moves a branch.
type GitHub struct {
	BaseURL string `mapstructure:"base_url"`
	Token   Secret `mapstructure:"token"`
	// WebhookSecret verifies the X-Hub-Signature-256 of GitHub's webhook
	// deliveries; empty turns the webhook off.
	WebhookSecret Secret `mapstructure:"webhook_secret"`
	// MergeMethod is how a promotion's pull request is merged: "merge",
	// "squash" or "rebase".
	MergeMethod string `mapstructure:"merge_method"`
	// FastForwardOnly makes a promotion move the target branch to the
	// promoted commit itself, and refuse when that is not a fast-forward.
	FastForwardOnly bool `mapstructure:"fast_forward_only"`
	// RequiredContexts are the commit status checks that must have passed
	// on a commit before GitHub accepts a deployment of it; empty: none.
	RequiredContexts []string `mapstructure:"required_contexts"`
}

// MergeMethods lists the values github.merge_method takes.
func MergeMethods() []string { return []string{"merge", "squash", "rebase"} }

// Cluster is one Kubernetes cluster; an empty Kubeconfig means in-cluster.
type Cluster struct {
	Kubeconfig string `mapstructure:"kubeconfig"`
	Context    string `mapstructure:"context"`
}

// Environment is a deploy target that branches map to.
type Environment struct {
	Branch           string        `mapstructure:"branch"` // exact name or glob; "*" = every other branch
	Cluster          string        `mapstructure:"cluster"`
	Namespace        string        `mapstructure:"namespace"`   // template: {app} {env} {branch}
	JenkinsJob       string        `mapstructure:"jenkins_job"` // template: {app} {env} {branch}
	Protected        bool          `mapstructure:"protected"`
	Ephemeral        bool          `mapstructure:"ephemeral"`
	TTL              time.Duration `mapstructure:"ttl"`
	PromotesTo       string        `mapstructure:"promotes_to"`
	ApprovalsChannel string        `mapstructure:"approvals_channel"`
	// URL is where people reach the app in this environment (template:
	// {app} {env} {branch}), shown on GitHub's deployments; "" for none.
	URL string `mapstructure:"url"`
	// RolloutTimeout bounds how long Hoist follows a rollout after the
	// build; zero means DefaultRolloutTimeout.
	RolloutTimeout time.Duration `mapstructure:"rollout_timeout"`
}

// DefaultRolloutTimeout is how long a rollout may take when an environment
// does not say.
const DefaultRolloutTimeout = 10 * time.Minute

// RolloutDeadline is how long Hoist follows a rollout in this environment.
func (e Environment) RolloutDeadline() time.Duration {
	if e.RolloutTimeout > 0 {
		return e.RolloutTimeout
	}
	return DefaultRolloutTimeout
}

// App is one deployable application.
type App struct {
	Repo       string `mapstructure:"repo"` // "owner/name"
	Deployment string `mapstructure:"deployment"`
	Channel    string `mapstructure:"channel"`
}

// Secret is a configuration value that must never be printed. Its String
// and formatting methods hide it; Reveal returns it for the one place that
// needs it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalText hides the value from encoders (JSON, YAML, slog).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Format hides the value from every fmt verb, including %d and %x.
func (s Secret) Format(f fmt.State, verb rune) {
	out := s.String()
	if verb == 'q' {
		out = strconv.Quote(out)
	}
	_, _ = f.Write([]byte(out))
}

// LogValue hides the value from log/slog handlers.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Placeholder values of the example configuration, which work for a local
// run but must be replaced before Slack can reach Hoist.
const (
	PlaceholderBotToken      = "xoxb-replace-me" //nolint:gosec // a placeholder, not a credential
	PlaceholderAppToken      = "xapp-replace-me" //nolint:gosec // a placeholder, not a credential
	PlaceholderSigningSecret = "replace-me"
)

// Placeholders lists the keys that still hold the example's placeholders,
// among those slack.mode uses: the app token in socket mode, the signing
// secret in http mode.
func (c *Config) Placeholders() []string {
	var keys []string
	if c.Slack.BotToken == PlaceholderBotToken {
		keys = append(keys, "slack.bot_token")
	}
	if c.Slack.Mode == "socket" && c.Slack.AppToken == PlaceholderAppToken {
		keys = append(keys, "slack.app_token")
	}
	if c.Slack.Mode != "socket" && c.Slack.SigningSecret == PlaceholderSigningSecret {
		keys = append(keys, "slack.signing_secret")
	}
	return keys
}
