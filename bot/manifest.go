package bot

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hoistbot/hoist/commands"
	"github.com/hoistbot/hoist/internal/config"
)

// slashCommands are the slash commands Hoist answers: /hoist, and the
// shortcuts that stand for its first words.
var slashCommands = []string{"/hoist", "/deploy", "/env", "/promote", "/rollback"}

// botScopes are the bot token scopes Hoist needs, each with the Web API
// methods that need it. Hoist also calls chat.getPermalink and auth.test,
// and answers through response URLs, none of which needs a scope. It
// asks for no chat:write.public: it joins a public channel before posting
// there, and a private one needs an invitation whatever the scopes.
var botScopes = []string{
	"commands",        // the slash commands above
	"chat:write",      // chat.postMessage, chat.update: cards, threads, announcements, live builds and rollouts
	"channels:join",   // conversations.join: an app's public channel that Hoist is not in yet
	"files:write",     // files.getUploadURLExternal, files.completeUploadExternal: build logs
	"usergroups:read", // usergroups.users.list: the members of rbac.admin_groups
}

// appManifest is the part of Slack's app manifest schema Hoist fills in.
// Booleans that matter are written out even when false.
type appManifest struct {
	Display  manifestDisplay  `yaml:"display_information"`
	Features manifestFeatures `yaml:"features"`
	OAuth    manifestOAuth    `yaml:"oauth_config"`
	Settings manifestSettings `yaml:"settings"`
}

type manifestDisplay struct {
	Name            string `yaml:"name"`
	Description     string `yaml:"description"`
	BackgroundColor string `yaml:"background_color"`
}

type manifestFeatures struct {
	BotUser       manifestBotUser        `yaml:"bot_user"`
	SlashCommands []manifestSlashCommand `yaml:"slash_commands"`
}

type manifestBotUser struct {
	DisplayName  string `yaml:"display_name"`
	AlwaysOnline bool   `yaml:"always_online"`
}

type manifestSlashCommand struct {
	Command      string `yaml:"command"`
	URL          string `yaml:"url,omitempty"`
	Description  string `yaml:"description"`
	UsageHint    string `yaml:"usage_hint"`
	ShouldEscape bool   `yaml:"should_escape"`
}

type manifestOAuth struct {
	Scopes struct {
		Bot []string `yaml:"bot"`
	} `yaml:"scopes"`
}

type manifestSettings struct {
	EventSubscriptions *manifestEvents     `yaml:"event_subscriptions,omitempty"`
	Interactivity      manifestInteraction `yaml:"interactivity"`
	OrgDeployEnabled   bool                `yaml:"org_deploy_enabled"`
	SocketModeEnabled  bool                `yaml:"socket_mode_enabled"`
	// Token rotation stays off: a rotating bot token expires every 12
	// hours, and Hoist has no refresh flow.
	TokenRotationEnabled bool `yaml:"token_rotation_enabled"`
}

type manifestEvents struct {
	RequestURL string `yaml:"request_url"`
}

type manifestInteraction struct {
	IsEnabled  bool   `yaml:"is_enabled"`
	RequestURL string `yaml:"request_url,omitempty"`
}

// manifestHeader starts the manifest with how to use it.
const manifestHeader = `# Slack app manifest for Hoist, from ` + "`hoist slack manifest`" + `.
# Create the app at https://api.slack.com/apps: "Create New App" →
# "From an app manifest", pick the workspace, paste this.
`

// Manifest renders the Slack app manifest for cfg, as YAML that Slack's
// "Create New App → From an app manifest" accepts: Hoist's bot user, its
// slash commands (described from the command table), the bot scopes it
// uses, and either Socket Mode (slack.mode socket) or the request URLs
// under server.public_url (slack.mode http), which must then be https.
func Manifest(cfg *config.Config) ([]byte, error) {
	m := appManifest{
		Display: manifestDisplay{
			Name:            "Hoist",
			Description:     "GitOps releases from Slack: deploy, promote and roll back, with approvals.",
			BackgroundColor: "#1d3557",
		},
		Features: manifestFeatures{BotUser: manifestBotUser{DisplayName: "Hoist", AlwaysOnline: true}},
		Settings: manifestSettings{Interactivity: manifestInteraction{IsEnabled: true}},
	}
	m.OAuth.Scopes.Bot = slices.Clone(botScopes)
	var base string
	switch cfg.Slack.Mode {
	case "socket":
		m.Settings.SocketModeEnabled = true
	case "http":
		var err error
		if base, err = requestBase(cfg.Server.PublicURL); err != nil {
			return nil, err
		}
		m.Settings.EventSubscriptions = &manifestEvents{RequestURL: base + "/slack/events"}
		m.Settings.Interactivity.RequestURL = base + "/slack/interactions"
	default:
		return nil, fmt.Errorf("slack.mode: must be \"http\" or \"socket\"; got %q", cfg.Slack.Mode)
	}
	for _, slash := range slashCommands {
		sc := slashManifest(slash)
		if base != "" {
			sc.URL = base + "/slack/commands"
		}
		m.Features.SlashCommands = append(m.Features.SlashCommands, sc)
	}
	var out bytes.Buffer
	out.WriteString(manifestHeader)
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("render manifest: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render manifest: %w", err)
	}
	return out.Bytes(), nil
}

// requestBase checks server.public_url for http mode and returns it
// without a trailing slash.
func requestBase(publicURL string) (string, error) {
	if publicURL == "" {
		return "", errors.New("server.public_url: required in http mode, where Slack sends commands, clicks and events to Hoist: set it (or HOIST_SERVER_PUBLIC_URL) to Hoist's public https address, e.g. \"https://hoist.example.com\", or use slack.mode: socket, which needs none")
	}
	u, err := url.Parse(publicURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("server.public_url: Slack sends requests only to an https URL without query, e.g. \"https://hoist.example.com\"")
	}
	u.User = nil
	return strings.TrimSuffix(u.String(), "/"), nil
}

// slashManifest describes a slash command from the command table: a
// shortcut gets its command's summary and arguments, or, for a group such
// as /env, its sub-commands; /hoist lists every first word.
func slashManifest(slash string) manifestSlashCommand {
	word := strings.TrimPrefix(slash, "/")
	specs := commands.Specs()
	if slash == "/hoist" {
		var words []string
		for _, s := range specs {
			first, _, _ := strings.Cut(string(s.Verb), " ")
			if !slices.Contains(words, first) {
				words = append(words, first)
			}
		}
		return manifestSlashCommand{Command: slash,
			Description: "Release with Hoist: " + strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1] + ".",
			UsageHint:   "COMMAND [ARGS] (try: help)"}
	}
	var summaries, hints []string
	for _, s := range specs {
		switch {
		case string(s.Verb) == word:
			return manifestSlashCommand{Command: slash, Description: s.Summary, UsageHint: s.Args}
		case strings.HasPrefix(string(s.Verb), word+" "):
			sub := strings.TrimPrefix(string(s.Verb), word+" ")
			summaries = append(summaries, s.Summary)
			hints = append(hints, strings.TrimSpace(sub+" "+s.Args))
		}
	}
	return manifestSlashCommand{Command: slash, Description: strings.Join(summaries, " "), UsageHint: strings.Join(hints, " | ")}
}
