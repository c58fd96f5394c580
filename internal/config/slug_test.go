package config

import (
	"strings"
	"testing"
)

func TestSlug(t *testing.T) {
	tests := []struct{ in, want string }{
		{"master", "master"},
		{"feature/Login_v2", "feature-login-v2"},
		{"Feature--A", "feature-a"},
		{"--hotfix//urgent--", "hotfix-urgent"},
		{"release/1.2.3", "release-1-2-3"},
		{"dependabot/npm_and_yarn/lodash-4.17.21", "dependabot-npm-and-yarn-lodash-4-17-21"},
		{"ümlaut-ß", "mlaut"},
		{"abc123", "abc123"},
		{strings.Repeat("a", 63), strings.Repeat("a", 63)},
	}
	for _, tt := range tests {
		if got := Slug(tt.in); got != tt.want {
			t.Errorf("Slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSlugEmpty(t *testing.T) {
	for _, in := range []string{"", "///", "ü", "-"} {
		got := Slug(in)
		if !IsDNSLabel(got) || !strings.HasPrefix(got, "x") || len(got) != 7 {
			t.Errorf("Slug(%q) = %q, want x + 6 hex digits", in, got)
		}
	}
	if Slug("///") == Slug("...") {
		t.Error("different empty-slug branches share a slug")
	}
}

func TestSlugLong(t *testing.T) {
	prefix := "feature/" + strings.Repeat("very-long-branch-name-", 4)
	a, b := Slug(prefix+"alpha"), Slug(prefix+"beta")
	for _, s := range []string{a, b} {
		if len(s) > 63 || !IsDNSLabel(s) {
			t.Errorf("Slug = %q (%d chars), want a DNS label of at most 63", s, len(s))
		}
		if !strings.HasPrefix(s, "feature-very-long-branch-name-") {
			t.Errorf("Slug = %q, want the branch's prefix kept", s)
		}
	}
	if a == b {
		t.Errorf("two long branches sharing a prefix share a slug: %q", a)
	}
	if Slug(prefix+"alpha") != a {
		t.Error("Slug is not deterministic")
	}
	// A cut that lands on a '-' must not leave "--".
	s := Slug(strings.Repeat("a", 55) + "/" + strings.Repeat("b", 20))
	if strings.Contains(s, "--") || !IsDNSLabel(s) || len(s) > 63 {
		t.Errorf("Slug = %q", s)
	}
	if got := Slug(strings.Repeat("a", 64)); len(got) != 63 {
		t.Errorf("Slug of 64 chars = %q (%d)", got, len(got))
	}
}

func FuzzSlug(f *testing.F) {
	for _, seed := range []string{"", "master", "feature/Login_v2", strings.Repeat("x/", 60), "ü", "-a-", "A" + strings.Repeat("-", 70) + "b"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, branch string) {
		s := Slug(branch)
		if !IsDNSLabel(s) {
			t.Fatalf("Slug(%q) = %q, not a DNS-1123 label", branch, s)
		}
		if Slug(branch) != s {
			t.Fatalf("Slug(%q) is not deterministic", branch)
		}
	})
}

func TestIsDNSLabel(t *testing.T) {
	for s, want := range map[string]bool{
		"a": true, "a-b": true, "0": true, strings.Repeat("a", 63): true,
		"": false, "-a": false, "a-": false, "A": false, "a_b": false, "a.b": false, strings.Repeat("a", 64): false,
	} {
		if got := IsDNSLabel(s); got != want {
			t.Errorf("IsDNSLabel(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestExpandTemplate(t *testing.T) {
	tests := []struct{ tmpl, want string }{
		{"{app}-production", "api-production"},
		{"{app}-{branch}", "api-feature-x"},
		{"{app}/{env}/{branch}", "api/test/feature-x"},
		{"{app}{app}", "apiapi"},
		{"static", "static"},
		{"{other}", "{other}"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ExpandTemplate(tt.tmpl, "api", "test", "feature-x"); got != tt.want {
			t.Errorf("ExpandTemplate(%q) = %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	tests := []struct{ tmpl, err string }{
		{"{app}-{env}-{branch}", ""},
		{"static", ""},
		{"", ""},
		{"{app}-{foo}", `unknown placeholder "{foo}" in "{app}-{foo}"; allowed: {app} {env} {branch}`},
		{"{APP}", `unknown placeholder "{APP}"`},
		{"{}", `unknown placeholder "{}"`},
		{"{app", `unbalanced braces in "{app": "{" without "}"`},
		{"{app{env}}", `unbalanced braces in "{app{env}}": "{" without "}"`},
		{"app}", `unbalanced braces in "app}": "}" without "{"`},
		{"{app}}", `"}" without "{"`},
	}
	for _, tt := range tests {
		err := CheckTemplate(tt.tmpl)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("CheckTemplate(%q) = %v, want nil", tt.tmpl, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("CheckTemplate(%q) = %v, want …%s…", tt.tmpl, err, tt.err)
		}
	}
}

func TestNamespaceFor(t *testing.T) {
	e := Environment{Namespace: "{app}-{branch}"}
	if got := e.NamespaceFor("api", "test", "feature/Login"); got != "api-feature-login" {
		t.Errorf("NamespaceFor = %q", got)
	}
	long := e.NamespaceFor("api", "test", "feature/"+strings.Repeat("x", 70))
	if !IsDNSLabel(long) {
		t.Errorf("NamespaceFor(long) = %q (%d chars), not a DNS label", long, len(long))
	}
	if a, b := e.NamespaceFor("api", "test", strings.Repeat("y", 70)+"1"), e.NamespaceFor("api", "test", strings.Repeat("y", 70)+"2"); a == b {
		t.Errorf("long branches share a namespace: %q", a)
	}
	if got := (Environment{Namespace: "{app}-{env}"}).NamespaceFor("api", "staging", "latest"); got != "api-staging" {
		t.Errorf("NamespaceFor = %q", got)
	}
}
