// Command builds measures how Hoist shows concurrent builds in Slack: it
// runs Hoist in process against the Slack and Jenkins simulators on
// loopback, deploys N branches at once whose builds each print L lines
// over D, and reports the Slack calls made, the 429s received, the lag
// between a line's arrival in Jenkins and its appearance in Slack, the
// longest wait of a live message between refreshes, and the Jenkins log
// bytes fetched per byte of log. `make bench` runs it for 1 and 50 builds
// among its other figures.
//
//	go run ./bench/builds -builds 1 -lines 5000 -duration 1m
//	go run ./bench/builds -builds 50 -lines 5000 -duration 1m
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/hoistbot/hoist/bench/internal/streaming"
)

func main() {
	var o streaming.Options
	flag.IntVar(&o.Builds, "builds", 1, "concurrent builds")
	flag.IntVar(&o.Lines, "lines", 5000, "console lines each build prints")
	flag.DurationVar(&o.Duration, "duration", time.Minute, "how long each build prints for")
	flag.IntVar(&o.Budget, "budget", 50, "slack.update_budget_per_minute")
	flag.IntVar(&o.Tier, "tier", 50, "chat.update calls a minute the Slack simulator allows before answering 429")
	verbose := flag.Bool("v", false, "print every wait between refreshes longer than the bound")
	flag.Parse()
	if *verbose {
		o.Trace = os.Stdout
	}
	r, err := streaming.Run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	r.Print(os.Stdout)
}
