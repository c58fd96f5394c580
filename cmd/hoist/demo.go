package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbot/hoist/internal/demo"
)

// newDemoCommand is `hoist demo`: the playground, Hoist with simulated
// Slack, Jenkins and GitHub and a local or simulated cluster, behind a page
// that looks like a Slack channel.
func newDemoCommand(stdout, stderr io.Writer) *cobra.Command {
	var listen, cluster string
	var buildTime time.Duration
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Try Hoist in a browser: a local Slack channel, Jenkins, GitHub, Kubernetes and Hoist on this machine",
		Long: `Runs Hoist on a temporary SQLite store against a simulated Slack workspace,
Jenkins and GitHub, and a Kubernetes cluster, all on loopback, and serves a
page that looks like a Slack channel. Type /deploy demo master there, and approve it as
the admin. Nothing reaches the internet, and nothing is kept when the demo
stops.

--cluster chooses the Kubernetes side: local runs a real control plane from
the binaries ` + "`make k8s-bins`" + ` builds; sim simulates a cluster whose
Deployments roll out over a few seconds; auto (the default) is local when the
binaries are built, sim otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("config") {
				fmt.Fprintln(stderr, "hoist demo runs on its own configuration, with simulators; --config is for hoist serve")
				return errors.New("--config does not apply to hoist demo")
			}
			logFormat, _ := cmd.Flags().GetString("log-format")
			logger := newLogger(stderr, logFormat)
			if !verbose {
				logger = slog.New(levelAtLeast{logger.Handler(), slog.LevelWarn})
			}
			err := demo.Run(cmd.Context(), demo.Options{
				Listen:    listen,
				Logger:    logger,
				BuildTime: buildTime,
				Cluster:   cluster,
				Notice:    func(text string) { fmt.Fprintln(stdout, text) },
				Ready: func(url string) {
					fmt.Fprintf(stdout, "Hoist demo: open %s in a browser. Ctrl-C stops it.\n", url)
				},
			})
			if err != nil {
				logger.Error("demo stopped", "err", err)
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", demo.DefaultListen, "address of the demo page, host:port")
	cmd.Flags().DurationVar(&buildTime, "build-time", demo.DefaultBuildTime, "how long each simulated Jenkins build runs")
	cmd.Flags().StringVar(&cluster, "cluster", demo.ClusterAuto, "the Kubernetes side: auto, local (a real control plane) or sim (a simulated cluster)")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "log what Hoist does, not only warnings and errors")
	return cmd
}

// levelAtLeast passes on the records of level min and above.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(attrs), h.min}
}

func (h levelAtLeast) WithGroup(name string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(name), h.min}
}
