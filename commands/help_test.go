package commands

import (
	"strings"
	"testing"
)

func TestHelpListsEveryVerb(t *testing.T) {
	help := Help("")
	for _, s := range Specs() {
		line := "`/hoist " + string(s.Verb)
		if !strings.Contains(help, line) || !strings.Contains(help, s.Summary) {
			t.Errorf("help does not list %s with its summary", s.Verb)
		}
	}
	for _, shortcut := range []string{"`/deploy`", "`/env`", "`/promote`", "`/rollback`", "`/hoist help COMMAND`"} {
		if !strings.Contains(help, shortcut) {
			t.Errorf("help does not mention %s", shortcut)
		}
	}
	if got := strings.Count(help, "\n") + 1; got != len(Specs())+3 {
		t.Errorf("help has %d lines, want a title, one per command and two of hints", got)
	}
}

func TestHelpOnOneVerb(t *testing.T) {
	for _, topic := range []string{"deploy", "DEPLOY", " /deploy ", "hoist deploy"} {
		help := Help(topic)
		for _, want := range []string{
			"Usage: `/hoist deploy APP REF [to ENV]`",
			"Deploy a branch, tag or commit of an app.",
			"Example: `/hoist deploy api main to staging`",
		} {
			if !strings.Contains(help, want) {
				t.Errorf("Help(%q) = %q, missing %q", topic, help, want)
			}
		}
	}
	for _, s := range Specs() {
		help := Help(string(s.Verb))
		if !strings.Contains(help, Usage(s.Verb)) || !strings.Contains(help, "Example: `/hoist "+s.Example+"`") {
			t.Errorf("Help(%q) = %q", s.Verb, help)
		}
	}
}

func TestHelpOnGroup(t *testing.T) {
	help := Help("env")
	for _, v := range []Verb{VerbEnvUp, VerbEnvDown, VerbEnvList} {
		if !strings.Contains(help, "`/hoist "+string(v)) {
			t.Errorf("Help(env) does not list %s: %q", v, help)
		}
	}
	if strings.Contains(help, "/hoist deploy") {
		t.Errorf("Help(env) lists deploy: %q", help)
	}
}

func TestHelpUnknownTopic(t *testing.T) {
	for topic, want := range map[string]string{
		"dpeloy":  "Did you mean `deploy`?",
		"env upp": "Did you mean `env up`?",
		"envv":    "Did you mean `env`?",
		"aprove":  "Did you mean `approve`?",
		"zzz":     "There is no help on `zzz`.",
		"<b>":     "There is no help on `&lt;b&gt;`.",
	} {
		help := Help(topic)
		if !strings.Contains(help, want) || !strings.Contains(help, "`/hoist help`") {
			t.Errorf("Help(%q) = %q, want %q and a pointer to help", topic, help, want)
		}
	}
}

func TestHelpIsSafeMrkdwn(t *testing.T) {
	for _, topic := range append(builtin.topics(), "") {
		if help := Help(topic); strings.ContainsAny(help, "<>&") {
			t.Errorf("Help(%q) contains a character Slack needs escaped: %q", topic, help)
		}
	}
}
