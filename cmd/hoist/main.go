// Command hoist is the Hoist release bot: `hoist serve` runs it,
// `hoist config validate` checks a configuration, `hoist slack manifest`
// prints the Slack app manifest, `hoist version` says which build this is.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbot/hoist/bot"
	"github.com/hoistbot/hoist/internal/app"
	"github.com/hoistbot/hoist/internal/config"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(os.Stdout, os.Stderr, os.Environ()).ExecuteContext(ctx)
	stop()
	if err != nil {
		os.Exit(1)
	}
}

// serveGCPercent is the garbage collector's target of hoist serve unless
// GOGC says otherwise. Hoist's heap is small (tens of MB with a thousand
// releases in flight), so at Go's default of 100 it is collected dozens
// of times a second under load, and those collections show in the tail of
// acknowledgement latency; collecting a third as often roughly halves it
// (see the README's performance figures).
const serveGCPercent = 300

// podOf reads the pod Hoist runs in from the downward API variables the
// Helm chart sets; outside a Kubernetes pod it is zero.
func podOf(environ []string) app.Pod {
	if lookup(environ, "KUBERNETES_SERVICE_HOST") == "" {
		return app.Pod{}
	}
	name := lookup(environ, "HOIST_POD_NAME")
	if name == "" {
		name = lookup(environ, "HOSTNAME")
	}
	return app.Pod{Namespace: lookup(environ, "HOIST_POD_NAMESPACE"), Name: name, LeaderLease: lookup(environ, "HOIST_LEADER_LEASE")}
}

func newRootCommand(stdout, stderr io.Writer, environ []string) *cobra.Command {
	root := &cobra.Command{
		Use:           "hoist",
		Short:         "Hoist: GitOps releases from Slack, with approvals",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	var configPath, logFormat string
	root.PersistentFlags().StringVar(&configPath, "config", "", "configuration file (default: $HOIST_CONFIG, else the embedded example)")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "", "log format: json or text (default: text on a terminal, json otherwise)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if logFormat != "" && logFormat != "json" && logFormat != "text" {
			fmt.Fprintf(stderr, "--log-format %q: use json or text\n", logFormat)
			return fmt.Errorf("unknown log format %q", logFormat)
		}
		return nil
	}

	load := func() (*config.Config, error) {
		path := configPath
		if path == "" {
			path = lookup(environ, "HOIST_CONFIG")
		}
		return config.Load(path, environ)
	}

	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run Hoist: the Slack endpoints and the release workers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := newLogger(stderr, logFormat)
			cfg, err := load()
			if err != nil {
				logger.Error("load configuration", "err", err)
				return err
			}
			if problems := cfg.Validate(); len(problems) > 0 {
				for _, p := range problems {
					logger.Error("invalid configuration", "problem", p.String())
				}
				return fmt.Errorf("configuration has %d problems", len(problems))
			}
			for _, key := range cfg.Placeholders() {
				logger.Warn("configuration holds the example's placeholder: Slack cannot reach Hoist until it is replaced", "key", key, "env", config.EnvVar(key))
			}
			if lookup(environ, "GOGC") == "" {
				debug.SetGCPercent(serveGCPercent)
			}
			if err := app.Run(cmd.Context(), cfg, app.Options{Logger: logger, Pod: podOf(environ)}); err != nil {
				logger.Error("hoist stopped", "err", err)
				return err
			}
			return nil
		},
	}

	var offline bool
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration and list every problem in it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				fmt.Fprintln(stderr, err)
				return err
			}
			problems := cfg.Validate()
			for _, p := range problems {
				fmt.Fprintln(stderr, p.String())
			}
			if len(problems) > 0 {
				fmt.Fprintf(stderr, "%d problems\n", len(problems))
				return fmt.Errorf("configuration has %d problems", len(problems))
			}
			if len(cfg.RBAC.AdminGroups) > 0 && !offline {
				ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
				defer cancel()
				if err := bot.NewUserGroups(app.NewSlackClient(cfg)).Check(ctx, cfg.RBAC.AdminGroups); err != nil {
					fmt.Fprintln(stderr, err)
					fmt.Fprintln(stderr, "(checked against Slack; --offline skips this)")
					return fmt.Errorf("check admin groups: %w", err)
				}
			}
			fmt.Fprintln(stdout, "configuration is valid")
			return nil
		},
	}
	validate.Flags().BoolVar(&offline, "offline", false, "do not ask Slack whether rbac.admin_groups can be read")
	configCmd := &cobra.Command{Use: "config", Short: "Work with Hoist's configuration"}
	configCmd.AddCommand(validate)

	versionCmd := &cobra.Command{
		Use:   "version",
		Short: "Print Hoist's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(stdout, "hoist", version)
		},
	}
	root.AddCommand(serve, configCmd, versionCmd)
	root.AddCommand(newDemoCommand(stdout, stderr))
	root.AddCommand(newSlackCommand(stdout, stderr, load))
	return root
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

func lookup(environ []string, key string) string {
	for _, kv := range environ {
		if len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '=' {
			return kv[len(key)+1:]
		}
	}
	return ""
}
