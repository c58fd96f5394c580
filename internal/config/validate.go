package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hoistbot/hoist/internal/redact"
)

// Problem is one thing wrong with a configuration, naming the key it is
// about. Its Message never contains the value of a secret.
type Problem struct {
	Key     string // dotted key, e.g. "environments.staging.promotes_to"
	Message string
}

// String renders the problem as "key: message".
func (p Problem) String() string {
	if p.Key == "" {
		return p.Message
	}
	return p.Key + ": " + p.Message
}

// Problems is a list of problems that can be returned as one error.
type Problems []Problem

// Error lists the problems, one a line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	noun := "problems"
	if len(ps) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("invalid configuration (%d %s):\n%s", len(ps), noun, strings.Join(lines, "\n"))
}

// Validate checks the whole configuration and returns every problem at
// once, sorted by key then message; none means the configuration is usable.
// It includes the problems Load found (unknown keys, values of the wrong
// type), and leaves out further problems with a key those already cover.
func (c *Config) Validate() []Problem {
	v := &validator{}
	c.validateServer(v)
	c.validateSlack(v)
	c.validateRBAC(v)
	if c.Approvals.Timeout <= 0 {
		v.add("approvals.timeout", "must be greater than zero, e.g. \"30m\"")
	}
	c.validateStore(v)
	v.url("jenkins.url", c.Jenkins.URL, false)
	c.validateGitHub(v)
	c.validateEnvironments(v)
	c.validateApps(v)

	var out []Problem
	out = append(out, c.problems...)
	for _, p := range v.problems {
		if !coveredBy(p.Key, c.problems) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Message < out[j].Message
	})
	return slices.Compact(out)
}

// coveredBy reports whether a load problem is about key or a key above it.
func coveredBy(key string, loadProblems []Problem) bool {
	for _, p := range loadProblems {
		if key == p.Key || strings.HasPrefix(key, p.Key+".") {
			return true
		}
	}
	return false
}

type validator struct{ problems []Problem }

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

// url checks an optional absolute http(s) URL. Messages show the URL
// without its password, or not at all when it does not parse.
func (v *validator) url(key, raw string, trailingSlash bool) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "must be an absolute http(s) URL, such as \"https://example.com/\"")
		return
	}
	if trailingSlash && !strings.HasSuffix(u.Path, "/") {
		v.add(key, "must end with \"/\": %q", u.Redacted()+"/")
	}
}

func (c *Config) validateServer(v *validator) {
	if c.Server.Listen == "" {
		v.add("server.listen", "required: host:port, e.g. \"127.0.0.1:8080\" or \":8080\"")
	} else if _, port, err := net.SplitHostPort(c.Server.Listen); err != nil || !validPort(port) {
		v.add("server.listen", "must be host:port, e.g. \"127.0.0.1:8080\" or \":8080\"; got %q", c.Server.Listen)
	}
	v.url("server.public_url", c.Server.PublicURL, false)
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

func (c *Config) validateSlack(v *validator) {
	s := c.Slack
	switch s.Mode {
	case "http":
		if s.SigningSecret == "" {
			v.add("slack.signing_secret", "required in http mode (set HOIST_SLACK_SIGNING_SECRET)")
		}
	case "socket":
		if s.AppToken == "" {
			v.add("slack.app_token", "required in socket mode: an app-level token starting with \"xapp-\" (set HOIST_SLACK_APP_TOKEN)")
		}
	default:
		v.add("slack.mode", "must be \"http\" or \"socket\"; got %q", s.Mode)
	}
	if s.BotToken == "" {
		v.add("slack.bot_token", "required: a bot token starting with \"xoxb-\" (set HOIST_SLACK_BOT_TOKEN)")
	} else {
		checkToken(v, "slack.bot_token", s.BotToken, "xoxb-", "a bot token")
	}
	if s.AppToken != "" {
		checkToken(v, "slack.app_token", s.AppToken, "xapp-", "an app-level token")
	}
	if strings.ContainsAny(s.SigningSecret.Reveal(), " \t\r\n") {
		v.add("slack.signing_secret", "contains white space (a trailing newline from a secret file?)")
	}
	if s.APIURL == "" {
		v.add("slack.api_url", "required, e.g. \"https://slack.com/api/\"")
	}
	v.url("slack.api_url", s.APIURL, true)
}

// slackTokenKinds names Slack token prefixes, so that a token in the wrong
// place can be explained without showing it.
var slackTokenKinds = []struct{ prefix, kind string }{
	{"xoxb-", "a bot token, which belongs in slack.bot_token"},
	{"xapp-", "an app-level token, which belongs in slack.app_token"},
	{"xoxp-", "a user token"},
	{"xoxe.", "a rotating token"},
	{"xoxe-", "a refresh token"},
	{"xoxa-", "a workspace app token"},
	{"xoxs-", "a session token"},
}

// checkToken checks a Slack token's prefix. The message may name a known
// prefix, never any other part of the token.
func checkToken(v *validator, key string, token Secret, prefix, what string) {
	t := token.Reveal()
	if strings.ContainsAny(t, " \t\r\n") {
		v.add(key, "contains white space (a trailing newline from a secret file?)")
		t = strings.TrimSpace(t)
	}
	if strings.HasPrefix(t, prefix) {
		return
	}
	msg := fmt.Sprintf("must be %s, starting with %q", what, prefix)
	for _, k := range slackTokenKinds {
		if strings.HasPrefix(t, k.prefix) {
			msg += fmt.Sprintf("; this one starts with %q: %s", k.prefix, k.kind)
			break
		}
	}
	v.add(key, "%s", msg)
}

var (
	slackUserID  = regexp.MustCompile(`^[UW][A-Z0-9]+$`)
	slackGroupID = regexp.MustCompile(`^S[A-Z0-9]+$`)
)

func (c *Config) validateRBAC(v *validator) {
	for _, u := range c.RBAC.Admins {
		if !slackUserID.MatchString(u) {
			v.add("rbac.admins", "%q is not a Slack user ID (like \"U012AB3CD\"; find it in the user's profile)", u)
		}
	}
	for _, g := range c.RBAC.AdminGroups {
		if !slackGroupID.MatchString(g) {
			v.add("rbac.admin_groups", "%q is not a Slack user group ID (like \"S012AB3CD\")", g)
		}
	}
	if c.Slack.UpdateBudgetPerMinute < 1 {
		v.add("slack.update_budget_per_minute", "must be at least 1; got %d", c.Slack.UpdateBudgetPerMinute)
	}
	for i, p := range c.Jenkins.RedactPatterns {
		if _, err := redact.New([]string{p}); err != nil {
			v.add(fmt.Sprintf("jenkins.redact_patterns[%d]", i), "%v", err)
		}
	}
	if c.RBAC.RequiredApprovals < 1 {
		v.add("rbac.required_approvals", "must be at least 1; got %d", c.RBAC.RequiredApprovals)
	}
}

func (c *Config) validateStore(v *validator) {
	switch c.Store.Driver {
	case "sqlite", "postgres":
	default:
		v.add("store.driver", "must be \"sqlite\" or \"postgres\"; got %q", c.Store.Driver)
	}
	if c.Store.DSN == "" {
		v.add("store.dsn", "required: a file path for sqlite, a connection URL for postgres")
	}
	if c.Store.LeaseTTL < 3*time.Second {
		v.add("store.lease_ttl", "must be at least \"3s\": replicas renew their leases every third of it")
	}
}

// dnsLabel is an RFC 1123 label, as Kubernetes namespaces must be.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// IsDNSLabel reports whether s is a valid RFC 1123 label (what Kubernetes
// requires of namespace names): at most 63 lower-case letters, digits and
// '-', starting and ending with a letter or digit.
func IsDNSLabel(s string) bool { return len(s) <= 63 && dnsLabel.MatchString(s) }

const nameRule = "names must be lower-case letters, digits and \"-\", starting and ending with a letter or digit"

func (c *Config) validateEnvironments(v *validator) {
	if len(c.Environments) == 0 {
		v.add("environments", "at least one environment is required")
		return
	}
	envNames := slices.Sorted(maps.Keys(c.Environments))
	clusterNames := slices.Sorted(maps.Keys(c.Clusters))
	claims := map[string][]string{} // branch → environments claiming it
	for _, name := range envNames {
		e := c.Environments[name]
		key := "environments." + name
		if !IsDNSLabel(name) {
			v.add(key, "%s", nameRule)
		}

		if e.Branch == "" {
			v.add(key+".branch", "required: a branch name, a glob such as \"release/*\", or \"*\" for every other branch")
		} else {
			if _, err := path.Match(e.Branch, ""); err != nil {
				v.add(key+".branch", "invalid glob %q: %v", e.Branch, err)
			}
			claims[e.Branch] = append(claims[e.Branch], name)
		}

		// An environment without a cluster is one whose pipeline deploys
		// by itself: its releases end after the build.
		if e.Cluster != "" && !hasKey(c.Clusters, e.Cluster) {
			v.add(key+".cluster", "unknown cluster %q; known: %s", e.Cluster, known(clusterNames))
		}

		needsNamespace := e.Cluster != "" || e.Ephemeral
		if e.Namespace == "" {
			if needsNamespace {
				v.add(key+".namespace", "required, e.g. \"{app}-%s\"", name)
			}
		} else if err := CheckTemplate(e.Namespace); err != nil {
			v.add(key+".namespace", "%v", err)
		} else {
			c.checkNamespace(v, name, e)
		}
		if e.JenkinsJob != "" {
			if err := CheckTemplate(e.JenkinsJob); err != nil {
				v.add(key+".jenkins_job", "%v", err)
			}
		}
		checkEnvironmentURL(v, key+".url", e.URL)

		switch {
		case e.Ephemeral && e.TTL <= 0:
			v.add(key+".ttl", "an ephemeral environment needs a ttl greater than zero, e.g. \"72h\"")
		case !e.Ephemeral && e.TTL != 0:
			v.add(key+".ttl", "only ephemeral environments expire; set ephemeral: true or remove ttl")
		}

		switch {
		case e.RolloutTimeout < 0:
			v.add(key+".rollout_timeout", "must be a duration greater than zero, e.g. \"10m\", or \"\" for the default")
		case e.RolloutTimeout > 0 && e.Cluster == "":
			v.add(key+".rollout_timeout", "only environments with a cluster have a rollout to follow; set cluster or remove rollout_timeout")
		}

		switch {
		case e.PromotesTo == "":
		case e.PromotesTo == name:
			v.add(key+".promotes_to", "an environment cannot promote to itself")
		case !hasKey(c.Environments, e.PromotesTo):
			v.add(key+".promotes_to", "unknown environment %q; known: %s", e.PromotesTo, known(envNames))
		}
	}
	for branch, names := range claims {
		if len(names) < 2 {
			continue
		}
		for _, name := range names {
			others := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == name })
			v.add("environments."+name+".branch", "branch %q is also claimed by %s", branch, strings.Join(others, ", "))
		}
	}
	c.checkPromotionCycles(v, envNames)
}

// checkNamespace expands a (syntactically valid) namespace template for
// every app and reports the first result that is not a DNS label. {branch}
// stands for a short sample branch when the environment takes a glob.
func (c *Config) checkNamespace(v *validator, name string, e Environment) {
	key := "environments." + name + ".namespace"
	glob := e.Branch == "" || strings.ContainsAny(e.Branch, "*?[")
	if e.Ephemeral && glob && !strings.Contains(e.Namespace, "{branch}") {
		v.add(key, "an ephemeral environment for many branches needs {branch} in its namespace, or every branch shares one")
	}
	branch := "branch"
	if !glob {
		branch = Slug(e.Branch)
	}
	for _, app := range slices.Sorted(maps.Keys(c.Apps)) {
		if ns := ExpandTemplate(e.Namespace, app, name, branch); !IsDNSLabel(ns) {
			v.add(key, "expands to %q for app %q, which is not a valid namespace (at most 63 lower-case letters, digits and \"-\")", ns, app)
			return
		}
	}
}

// checkPromotionCycles reports each promotion cycle once, on its
// alphabetically first environment.
func (c *Config) checkPromotionCycles(v *validator, envNames []string) {
	for _, start := range envNames {
		chain := []string{start}
		for cur := c.Environments[start].PromotesTo; cur != "" && hasKey(c.Environments, cur); cur = c.Environments[cur].PromotesTo {
			if cur == start {
				if len(chain) > 1 && slices.Min(chain) == start {
					v.add("environments."+start+".promotes_to", "promotion cycle: %s → %s", strings.Join(chain, " → "), start)
				}
				break
			}
			if slices.Contains(chain, cur) {
				break // a cycle that does not include start
			}
			chain = append(chain, cur)
		}
	}
}

func (c *Config) validateGitHub(v *validator) {
	g := c.GitHub
	v.url("github.base_url", g.BaseURL, true)
	if !slices.Contains(MergeMethods(), g.MergeMethod) {
		v.add("github.merge_method", "must be one of %s; got %q", strings.Join(MergeMethods(), ", "), g.MergeMethod)
	}
	if strings.ContainsAny(g.Token.Reveal(), " \t\r\n") {
		v.add("github.token", "contains white space (a trailing newline from a secret file?)")
	}
	if strings.ContainsAny(g.WebhookSecret.Reveal(), " \t\r\n") {
		v.add("github.webhook_secret", "contains white space (a trailing newline from a secret file?)")
	}
	for _, ctx := range g.RequiredContexts {
		if strings.TrimSpace(ctx) == "" {
			v.add("github.required_contexts", "holds an empty name; list status check names such as \"ci/test\"")
		}
	}
}

// checkEnvironmentURL checks an environment's url template: known
// placeholders, and an absolute http(s) URL once expanded.
func checkEnvironmentURL(v *validator, key, tmpl string) {
	if tmpl == "" {
		return
	}
	if err := CheckTemplate(tmpl); err != nil {
		v.add(key, "%v", err)
		return
	}
	u, err := url.Parse(ExpandTemplate(tmpl, "app", "env", "branch"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "must be an absolute http(s) URL, such as \"https://{app}-{branch}.preview.example.com/\"")
	}
}

// ownerName is a GitHub "owner/name".
var ownerName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+$`)

// dnsSubdomain is an RFC 1123 subdomain, as Kubernetes object names must be.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (c *Config) validateApps(v *validator) {
	if len(c.Apps) == 0 {
		v.add("apps", "at least one app is required")
		return
	}
	for _, name := range slices.Sorted(maps.Keys(c.Apps)) {
		a := c.Apps[name]
		key := "apps." + name
		if !IsDNSLabel(name) {
			v.add(key, "%s", nameRule)
		}
		switch {
		case a.Repo == "":
			v.add(key+".repo", "required: the GitHub repository as \"owner/name\"")
		case !ownerName.MatchString(a.Repo):
			v.add(key+".repo", "must be \"owner/name\", e.g. \"acme/api\"; got %q", a.Repo)
		}
		if a.Deployment != "" && (len(a.Deployment) > 253 || !dnsSubdomain.MatchString(a.Deployment)) {
			v.add(key+".deployment", "%q is not a valid Kubernetes name (lower-case letters, digits, \"-\" and \".\")", a.Deployment)
		}
	}
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

func known(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
