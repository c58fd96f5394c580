package commands

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	for _, tc := range validCases {
		f.Add(tc.text)
	}
	for _, tc := range invalidCases {
		f.Add(tc.text)
	}
	for _, s := range Specs() {
		f.Add(s.Example)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkResult(t, "Parse", text, Parse(text))
		for slash := range shortcuts {
			checkResult(t, slash, text, ParseSlash(slash, text))
		}
	})
}

// checkResult checks the invariants of every Result.
func checkResult(t *testing.T, how, text string, r Result) {
	t.Helper()
	outcomes := 0
	for _, set := range []bool{r.Command != nil, r.Reply != "", r.Ignore} {
		if set {
			outcomes++
		}
	}
	if outcomes != 1 {
		t.Fatalf("%s(%q) = %+v: %d outcomes, want 1", how, text, r, outcomes)
	}
	if r.Ignore {
		t.Fatalf("%s(%q) ignored known input", how, text)
	}
	if r.Reply != "" {
		checkReply(t, how, text, r.Reply)
		return
	}
	if problem := commandProblem(r.Command); problem != "" {
		t.Fatalf("%s(%q) = %+v: %s", how, text, *r.Command, problem)
	}
}

// checkReply checks a reply is valid UTF-8 and safe to post as mrkdwn.
func checkReply(t *testing.T, how, text, reply string) {
	t.Helper()
	if !utf8.ValidString(reply) {
		t.Fatalf("%s(%q): reply is not valid UTF-8: %q", how, text, reply)
	}
	if strings.ContainsAny(reply, "<>") {
		t.Fatalf("%s(%q): reply has an unescaped < or >: %q", how, text, reply)
	}
	if strings.Count(reply, "`")%2 != 0 {
		t.Fatalf("%s(%q): reply has unbalanced backticks: %q", how, text, reply)
	}
}

// commandProblem re-validates a parsed command independently of the parser.
func commandProblem(c *Command) string {
	spec, ok := builtin.byVerb[c.Verb]
	if !ok {
		return "unknown verb"
	}
	uses := func(placeholder string) bool {
		for _, w := range strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(spec.Args)) {
			if w == placeholder {
				return true
			}
		}
		return false
	}
	for _, f := range []struct {
		placeholder, value string
		valid              func(string) bool
	}{
		{"APP", c.App, validName},
		{"ENV", c.Env, validName},
		{"FROM", c.From, validName},
		{"TO", c.To, validName},
		{"REF", c.Ref, func(s string) bool { return ValidRef(s) == nil }},
		{"BRANCH", c.Branch, func(s string) bool { return ValidRef(s) == nil }},
		{"reason...", c.Reason, validReason},
		{"COMMAND", c.Topic, func(s string) bool { return !strings.Contains(Help(s), "There is no help") }},
	} {
		switch {
		case f.value != "" && !uses(f.placeholder):
			return "field for " + f.placeholder + " set by a verb without it"
		case f.value != "" && !f.valid(f.value):
			return "invalid " + f.placeholder
		case f.value == "" && uses(f.placeholder) && !optional(spec.Args, f.placeholder):
			return "required " + f.placeholder + " is empty"
		}
	}
	if uses("ID") != (c.ID > 0) || c.ID < 0 {
		return "bad ID"
	}
	if c.To != "" && c.From == "" {
		return "TO without FROM"
	}
	return ""
}

// optional reports whether placeholder is inside brackets in args.
func optional(args, placeholder string) bool {
	i := strings.Index(args, placeholder)
	return i >= 0 && strings.Contains(args[:i], "[")
}

// validReason: single spaces between words, no space at the ends, not too long.
func validReason(s string) bool {
	return utf8.RuneCountInString(s) <= MaxReasonRunes &&
		strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ") == s
}

func FuzzValidRef(f *testing.F) {
	for _, ref := range validRefs {
		f.Add(ref)
	}
	for _, tc := range invalidRefs {
		f.Add(tc.ref)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		err := ValidRef(ref)
		if err != nil {
			if !startsLower(err.Error()) {
				t.Fatalf("ValidRef(%q) = %q: not lower case", ref, err)
			}
			return
		}
		if why := refRules(ref); why != "" {
			t.Fatalf("ValidRef(%q) = nil, but it %s", ref, why)
		}
		checkDeployRoundTrip(t, ref)
	})
}

// refRules restates git's ref-name rules another way, for cross-checking.
func refRules(ref string) string {
	if ref == "" || ref == "@" || len(ref) > maxRefLen || !utf8.ValidString(ref) || ref[0] == '-' {
		return "breaks a whole-name rule"
	}
	for _, bad := range []string{"..", "@{", "//", " ", "~", "^", ":", "?", "*", "[", `\`} {
		if strings.Contains(ref, bad) {
			return "contains " + bad
		}
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f {
			return "contains a control character"
		}
	}
	if strings.HasSuffix(ref, ".") {
		return "ends with ."
	}
	for _, part := range strings.Split(ref, "/") {
		if part == "" || part[0] == '.' || strings.HasSuffix(part, ".lock") {
			return "has a bad part " + part
		}
	}
	return ""
}

// checkDeployRoundTrip: a valid ref that survives tokenising deploys as is.
func checkDeployRoundTrip(t *testing.T, ref string) {
	t.Helper()
	if strings.ContainsFunc(ref, unicode.IsSpace) || strings.Contains(ref, "&") || strings.EqualFold(ref, "to") {
		return
	}
	r := Parse("deploy api " + ref + " to prod")
	if r.Command == nil || r.Command.Ref != ref {
		t.Fatalf("deploy of valid ref %q: got %+v", ref, r)
	}
}
