// Package metrics owns Hoist's Prometheus metrics, on a registry of its
// own, and records them at the edges: HTTP middleware for Slack's
// requests, a RoundTripper for Slack's Web API, decorators of the store
// and of the Pipeline, SCM and Cluster ports, and a collector that counts
// releases in the store when Prometheus scrapes.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Kinds of Slack request, the kind label of the Slack request metrics.
const (
	KindCommand     = "command"
	KindInteraction = "interaction"
	KindEvent       = "event"
)

// Outcomes of a Slack request, the outcome label of
// hoist_slack_requests_total.
const (
	OutcomeOK           = "ok"
	OutcomeBadRequest   = "bad_request"
	OutcomeUnauthorized = "unauthorized" // bad, stale or replayed signature
	OutcomeRefused      = "refused"      // another team
	OutcomeTooLarge     = "too_large"
	OutcomeError        = "error"
)

// Metrics is every metric Hoist exports, registered on its own registry.
type Metrics struct {
	reg    *prometheus.Registry
	logger *slog.Logger

	slackRequests    *prometheus.CounterVec
	ackSeconds       *prometheus.HistogramVec
	slackAPICalls    *prometheus.CounterVec
	slackRateLimited *prometheus.CounterVec
	approvals        *prometheus.CounterVec
	portErrors       *prometheus.CounterVec
	storeSeconds     *prometheus.HistogramVec
}

// New registers Hoist's metrics, and the Go runtime's and the process's,
// on a new registry. Releases, when not nil, is counted at every scrape
// (hoist_releases), with a zero for each state of each of envs.
func New(releases ReleaseCounter, envs []string, logger *slog.Logger) *Metrics {
	m := &Metrics{
		reg:    prometheus.NewRegistry(),
		logger: logger,
		slackRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hoist_slack_requests_total",
			Help: "Requests from Slack, by kind (command, interaction, event) and outcome (ok, bad_request, unauthorized, refused, too_large, error).",
		}, []string{"kind", "outcome"}),
		ackSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hoist_slack_ack_duration_seconds",
			Help:    "Time from a Slack request's arrival to its acknowledgement written, by kind. Slack gives up after 3 s.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 3, 5},
		}, []string{"kind"}),
		slackAPICalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hoist_slack_api_calls_total",
			Help: "Calls to Slack's Web API, by method and HTTP status code (\"error\" when no answer came).",
		}, []string{"method", "code"}),
		slackRateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hoist_slack_api_rate_limited_total",
			Help: "Calls to Slack's Web API answered 429 Too Many Requests, by method.",
		}, []string{"method"}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hoist_approvals_total",
			Help: "Approval outcomes: releases approved, denied or expired, and votes refused (not an admin, self-approval, too late).",
		}, []string{"outcome"}),
		portErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hoist_integration_errors_total",
			Help: "Errors of Jenkins, GitHub and Kubernetes, by system, operation and whether they were transient (retried later).",
		}, []string{"system", "operation", "transient"}),
		storeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hoist_store_operation_duration_seconds",
			Help:    "Time taken by the store's operations, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
	}
	m.reg.MustRegister(m.slackRequests, m.ackSeconds, m.slackAPICalls, m.slackRateLimited, m.approvals, m.portErrors, m.storeSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Each outcome is reported from the start, at 0, so that rates and
	// alerts have a series to work on before the first approval.
	for _, outcome := range []string{"approved", "denied", "expired", "refused"} {
		m.approvals.WithLabelValues(outcome)
	}
	if releases != nil {
		m.reg.MustRegister(newReleaseCollector(releases, envs))
	}
	return m
}

// Handler serves the metrics in Prometheus' text format (GET /metrics).
// A metric that cannot be gathered (the store does not answer) is left
// out and logged; the others are served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.logger},
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// errorLog passes promhttp's gathering errors to slog.
type errorLog struct{ logger *slog.Logger }

func (l errorLog) Println(v ...any) {
	l.logger.Warn("gather metrics", "err", fmt.Sprint(v...))
}
