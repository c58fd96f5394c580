package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/config"
)

// newSlackCommand returns `hoist slack`, whose `manifest` prints the Slack
// app manifest for the configuration that load reads.
func newSlackCommand(stdout, stderr io.Writer, load func() (*config.Config, error)) *cobra.Command {
	manifest := &cobra.Command{
		Use:   "manifest",
		Short: "Print the Slack app manifest for this configuration, to paste into \"Create New App → From an app manifest\"",
		Long: "Print the Slack app manifest (YAML) for this configuration: Hoist's bot user, slash commands and bot scopes, and\n" +
			"Socket Mode (slack.mode: socket) or the request URLs under server.public_url (slack.mode: http).\n" +
			"Tokens are not needed yet: Slack gives them once the app is created.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				fmt.Fprintln(stderr, err)
				return err
			}
			out, err := bot.Manifest(cfg)
			if err != nil {
				fmt.Fprintln(stderr, err)
				return err
			}
			_, err = stdout.Write(out)
			return err
		},
	}
	slack := &cobra.Command{Use: "slack", Short: "Connect Hoist to Slack"}
	slack.AddCommand(manifest)
	return slack
}
