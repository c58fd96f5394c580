package bot

import (
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/hoistbot/hoist/commands"
	"github.com/hoistbot/hoist/internal/config"
)

func manifestConfig(mode, publicURL string) *config.Config {
	return &config.Config{Slack: config.Slack{Mode: mode}, Server: config.Server{PublicURL: publicURL}}
}

func TestManifestGolden(t *testing.T) {
	for _, tc := range []struct{ name, mode, publicURL string }{
		{"socket", "socket", ""},
		{"http", "http", "https://hoist.example.com/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Manifest(manifestConfig(tc.mode, tc.publicURL))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "manifest_"+tc.name+".golden.yaml"), got)
		})
	}
}

// TestManifestMatchesHoist checks the manifest against what Hoist does:
// every slash command in it is one Hoist answers, with a description and
// a usage hint; the request URLs are the paths Hoist serves; no switch
// that matters is left to Slack's default.
func TestManifestMatchesHoist(t *testing.T) {
	for _, mode := range []string{"http", "socket"} {
		t.Run(mode, func(t *testing.T) {
			raw, err := Manifest(manifestConfig(mode, "https://ops.example.com/hoist"))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := yaml.Unmarshal(raw, &m); err != nil {
				t.Fatalf("not YAML: %v", err)
			}
			settings := m["settings"].(map[string]any)
			for _, key := range []string{"org_deploy_enabled", "token_rotation_enabled", "socket_mode_enabled"} {
				if _, ok := settings[key]; !ok {
					t.Errorf("settings.%s is left out", key)
				}
			}
			if settings["org_deploy_enabled"] != false || settings["token_rotation_enabled"] != false || settings["socket_mode_enabled"] != (mode == "socket") {
				t.Errorf("settings = %v", settings)
			}
			var slashes []manifestSlashCommand
			node, _ := yaml.Marshal(m["features"].(map[string]any)["slash_commands"])
			if err := yaml.Unmarshal(node, &slashes); err != nil {
				t.Fatal(err)
			}
			if len(slashes) != 5 {
				t.Errorf("%d slash commands", len(slashes))
			}
			for _, sc := range slashes {
				if commands.ParseSlash(sc.Command, "help").Ignore {
					t.Errorf("%s is in the manifest, but Hoist does not answer it", sc.Command)
				}
				if sc.Description == "" || sc.UsageHint == "" || len(sc.Description) > 2000 || len(sc.UsageHint) > 1000 {
					t.Errorf("%s: description %q, usage hint %q", sc.Command, sc.Description, sc.UsageHint)
				}
				if want := map[bool]string{true: "https://ops.example.com/hoist/slack/commands", false: ""}[mode == "http"]; sc.URL != want {
					t.Errorf("%s: url %q; want %q", sc.Command, sc.URL, want)
				}
			}
			interactivity := settings["interactivity"].(map[string]any)
			if interactivity["is_enabled"] != true {
				t.Errorf("interactivity = %v", interactivity)
			}
			if mode == "http" && (interactivity["request_url"] != "https://ops.example.com/hoist/slack/interactions" ||
				settings["event_subscriptions"].(map[string]any)["request_url"] != "https://ops.example.com/hoist/slack/events") {
				t.Errorf("request URLs: %v", settings)
			}
		})
	}
}

func TestManifestSlashCommandsComeFromTheTable(t *testing.T) {
	tests := map[string]manifestSlashCommand{
		"/deploy":   {Command: "/deploy", Description: "Deploy a branch, tag or commit of an app.", UsageHint: "APP REF [to ENV]"},
		"/rollback": {Command: "/rollback", Description: "Roll an environment back to its previous release.", UsageHint: "APP ENV"},
		"/env": {Command: "/env", Description: "Start a preview environment for a branch. Tear down a branch's preview environment. List preview environments, of one app or of all.",
			UsageHint: "up APP BRANCH | down APP BRANCH | list [APP]"},
	}
	for slash, want := range tests {
		if got := slashManifest(slash); got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", slash, got, want)
		}
	}
}

func TestManifestRefusesWhatSlackCannotUse(t *testing.T) {
	tests := []struct{ mode, publicURL, want string }{
		{"http", "", "server.public_url: required in http mode"},
		{"http", "http://hoist.example.com", "server.public_url: Slack sends requests only to an https URL"},
		{"http", "https://hoist.example.com/?x=1", "server.public_url: Slack sends requests only to an https URL"},
		{"webhook", "", `slack.mode: must be "http" or "socket"; got "webhook"`},
	}
	for _, tt := range tests {
		_, err := Manifest(manifestConfig(tt.mode, tt.publicURL))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("mode %s, public_url %q: %v; want %q", tt.mode, tt.publicURL, err, tt.want)
		}
	}
}
