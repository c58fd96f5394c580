package config

import (
	"fmt"
	"strings"
)

// placeholders are the names a namespace or jenkins_job template may use.
var placeholders = []string{"{app}", "{env}", "{branch}"}

// ExpandTemplate replaces {app}, {env} and {branch} in tmpl. branch must
// already be slugged (see Slug) where the result needs to be a DNS label.
func ExpandTemplate(tmpl, app, env, branch string) string {
	return strings.NewReplacer("{app}", app, "{env}", env, "{branch}", branch).Replace(tmpl)
}

// CheckTemplate reports unbalanced braces and placeholders other than
// {app}, {env} and {branch}.
func CheckTemplate(tmpl string) error {
	rest := tmpl
	for rest != "" {
		open := strings.IndexAny(rest, "{}")
		if open < 0 {
			return nil
		}
		if rest[open] == '}' {
			return fmt.Errorf("unbalanced braces in %q: \"}\" without \"{\"", tmpl)
		}
		end := strings.IndexAny(rest[open+1:], "{}")
		if end < 0 || rest[open+1+end] == '{' {
			return fmt.Errorf("unbalanced braces in %q: \"{\" without \"}\"", tmpl)
		}
		ph := rest[open : open+end+2]
		known := false
		for _, p := range placeholders {
			known = known || p == ph
		}
		if !known {
			return fmt.Errorf("unknown placeholder %q in %q; allowed: %s", ph, tmpl, strings.Join(placeholders, " "))
		}
		rest = rest[open+end+2:]
	}
	return nil
}

// NamespaceFor returns the Kubernetes namespace of app in this environment
// (named env) for branch: the namespace template expanded with the slugged
// branch and, when the result is too long for a DNS label, cut with a hash
// suffix by Slug. For a valid configuration the result is always a valid
// namespace name.
func (e Environment) NamespaceFor(app, env, branch string) string {
	ns := ExpandTemplate(e.Namespace, app, env, Slug(branch))
	if IsDNSLabel(ns) {
		return ns
	}
	return Slug(ns)
}
