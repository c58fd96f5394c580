package commands

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// validCase is input that must parse to exactly want.
type validCase struct {
	slash string // "" means Parse; else ParseSlash(slash, text)
	text  string
	want  Command
}

var validCases = []validCase{
	// deploy
	{"", "deploy api main", Command{Verb: VerbDeploy, App: "api", Ref: "main"}},
	{"", "deploy api main to staging", Command{Verb: VerbDeploy, App: "api", Ref: "main", Env: "staging"}},
	{"", "DEPLOY Api Feature/X-1 TO Staging", Command{Verb: VerbDeploy, App: "Api", Ref: "Feature/X-1", Env: "Staging"}},
	{"", "  deploy\tapi \u00a0 v1.2.3\u00a0to  prod-eu  ", Command{Verb: VerbDeploy, App: "api", Ref: "v1.2.3", Env: "prod-eu"}},
	{"", "deploy api 0123456789abcdef0123456789abcdef01234567", Command{Verb: VerbDeploy, App: "api", Ref: "0123456789abcdef0123456789abcdef01234567"}},
	{"", "deploy api deadbee", Command{Verb: VerbDeploy, App: "api", Ref: "deadbee"}},
	{"", "deploy web release/2026.11 to staging", Command{Verb: VerbDeploy, App: "web", Ref: "release/2026.11", Env: "staging"}},
	{"", "deploy api fix&amp;test", Command{Verb: VerbDeploy, App: "api", Ref: "fix&test"}},
	{"", "deploy my_app.v2 main", Command{Verb: VerbDeploy, App: "my_app.v2", Ref: "main"}},
	{"/deploy", "api main to staging", Command{Verb: VerbDeploy, App: "api", Ref: "main", Env: "staging"}},
	{"/DEPLOY ", "api main", Command{Verb: VerbDeploy, App: "api", Ref: "main"}},
	{"/hoist", "deploy api main", Command{Verb: VerbDeploy, App: "api", Ref: "main"}},
	// env
	{"", "env up api feature/login", Command{Verb: VerbEnvUp, App: "api", Branch: "feature/login"}},
	{"", "Env UP api feature/login", Command{Verb: VerbEnvUp, App: "api", Branch: "feature/login"}},
	{"", "env down api feature/login", Command{Verb: VerbEnvDown, App: "api", Branch: "feature/login"}},
	{"", "env list", Command{Verb: VerbEnvList}},
	{"", "env list api", Command{Verb: VerbEnvList, App: "api"}},
	{"/env", "up api feat-1", Command{Verb: VerbEnvUp, App: "api", Branch: "feat-1"}},
	{"/env", "list", Command{Verb: VerbEnvList}},
	{"/env", "down web x", Command{Verb: VerbEnvDown, App: "web", Branch: "x"}},
	// promote
	{"", "promote api", Command{Verb: VerbPromote, App: "api"}},
	{"", "promote api staging", Command{Verb: VerbPromote, App: "api", From: "staging"}},
	{"", "promote api staging to production", Command{Verb: VerbPromote, App: "api", From: "staging", To: "production"}},
	{"/promote", "api staging to production", Command{Verb: VerbPromote, App: "api", From: "staging", To: "production"}},
	// rollback
	{"", "rollback api production", Command{Verb: VerbRollback, App: "api", Env: "production"}},
	{"/rollback", "api production", Command{Verb: VerbRollback, App: "api", Env: "production"}},
	// status, history
	{"", "status", Command{Verb: VerbStatus}},
	{"", "status api", Command{Verb: VerbStatus, App: "api"}},
	{"", "history api", Command{Verb: VerbHistory, App: "api"}},
	{"", "history api production", Command{Verb: VerbHistory, App: "api", Env: "production"}},
	// lock, unlock
	{"", "lock production", Command{Verb: VerbLock, Env: "production"}},
	{"", "lock production   release  freeze\tuntil\u00a0Monday ", Command{Verb: VerbLock, Env: "production", Reason: "release freeze until Monday"}},
	{"", "lock production &lt;b&gt; to &amp;", Command{Verb: VerbLock, Env: "production", Reason: "<b> to &"}},
	{"", "lock production &amp;lt;", Command{Verb: VerbLock, Env: "production", Reason: "&lt;"}},
	{"", "lock production " + strings.Repeat("é", MaxReasonRunes), Command{Verb: VerbLock, Env: "production", Reason: strings.Repeat("é", MaxReasonRunes)}},
	{"", "unlock production", Command{Verb: VerbUnlock, Env: "production"}},
	// approve, deny, cancel
	{"", "approve 42", Command{Verb: VerbApprove, ID: 42}},
	{"", "approve #42", Command{Verb: VerbApprove, ID: 42}},
	{"", "Approve #007", Command{Verb: VerbApprove, ID: 7}},
	{"", "approve 9223372036854775807", Command{Verb: VerbApprove, ID: 9223372036854775807}},
	{"", "deny 42", Command{Verb: VerbDeny, ID: 42}},
	{"", "deny #42 tests are   red", Command{Verb: VerbDeny, ID: 42, Reason: "tests are red"}},
	{"", "cancel #1", Command{Verb: VerbCancel, ID: 1}},
	// help
	{"", "help", Command{Verb: VerbHelp}},
	{"", "HELP Deploy", Command{Verb: VerbHelp, Topic: "deploy"}},
	{"", "help env", Command{Verb: VerbHelp, Topic: "env"}},
	{"", "help env  UP", Command{Verb: VerbHelp, Topic: "env up"}},
	{"", "help /deploy", Command{Verb: VerbHelp, Topic: "deploy"}},
	{"", "help /hoist lock", Command{Verb: VerbHelp, Topic: "lock"}},
	{"", "help hoist", Command{Verb: VerbHelp}},
}

// invalidCase is input that must be answered with a Reply containing every
// one of want.
type invalidCase struct {
	slash string
	text  string
	want  []string
}

const (
	deployUsage  = "Usage: `/hoist deploy APP REF [to ENV]`"
	promoteUsage = "Usage: `/hoist promote APP [FROM [to TO]]`"
	envUpUsage   = "Usage: `/hoist env up APP BRANCH`"
	approveUsage = "Usage: `/hoist approve ID`"
)

var invalidCases = []invalidCase{
	// unknown verbs
	{"", "dpeloy api main", []string{"Unknown command `dpeloy`.", "Did you mean `deploy`?", "`/hoist help`"}},
	{"", "DEPLYO", []string{"Did you mean `deploy`?"}},
	{"", "dep api main", []string{"Did you mean `deploy`?"}},
	{"", "rollbak api prod", []string{"Did you mean `rollback`?"}},
	{"", "unlok prod", []string{"Did you mean `unlock`?"}},
	{"", "aprove 42", []string{"Did you mean `approve`?"}},
	{"", "envv up api x", []string{"Did you mean `env`?"}},
	{"", "xyzzy", []string{"Unknown command `xyzzy`.", "`/hoist help`"}},
	{"", "ship it", []string{"Unknown command `ship`."}},
	{"", "&lt;!channel&gt;", []string{"Unknown command `&lt;!channel&gt;`."}},
	{"", "de`ploy", []string{"Unknown command `de'ploy`."}},
	{"/deploy", "deploy", []string{"Missing REF.", deployUsage}},
	// env sub-verbs
	{"", "env", []string{"`env` needs a sub-command: `env up`, `env down` or `env list`.", envUpUsage, "Usage: `/hoist env list [APP]`"}},
	{"/env", "", []string{"`env` needs a sub-command"}},
	{"", "env upp api x", []string{"Unknown `env` command `upp`.", "Did you mean `env up`?"}},
	{"", "env dwn api x", []string{"Did you mean `env down`?"}},
	{"", "env start api x", []string{"Unknown `env` command `start`.", "`/hoist help env`"}},
	// arity and keywords
	{"", "deploy", []string{"Missing APP and REF.", deployUsage}},
	{"/deploy", "", []string{"Missing APP and REF.", deployUsage}},
	{"", "deploy api", []string{"Missing REF.", deployUsage}},
	{"", "deploy api main staging", []string{"Expected `to` before `staging`.", "Did you mean `/hoist deploy api main to staging`?", deployUsage}},
	{"", "deploy api main to", []string{"Missing ENV after `to`.", deployUsage}},
	{"", "deploy api to staging", []string{"Missing REF before `to`.", deployUsage}},
	{"", "deploy api main to staging now", []string{"Too many arguments: `now` was not expected.", deployUsage}},
	{"", "deploy api main staging now", []string{"Expected `to` before `staging`.", deployUsage}},
	{"", "promote api staging production", []string{"Expected `to` before `production`.", "Did you mean `/hoist promote api staging to production`?", promoteUsage}},
	{"", "promote api to production", []string{"Missing FROM before `to`.", promoteUsage}},
	{"", "promote api staging to", []string{"Missing TO after `to`.", promoteUsage}},
	{"", "promote", []string{"Missing APP.", promoteUsage}},
	{"", "rollback api", []string{"Missing ENV.", "Usage: `/hoist rollback APP ENV`"}},
	{"", "rollback api prod now", []string{"Too many arguments"}},
	{"", "env up api", []string{"Missing BRANCH.", envUpUsage}},
	{"", "env list api web", []string{"Too many arguments: `web`"}},
	{"", "status api web", []string{"Too many arguments", "Usage: `/hoist status [APP]`"}},
	{"", "history", []string{"Missing APP.", "Usage: `/hoist history APP [ENV]`"}},
	{"", "unlock", []string{"Missing ENV.", "Usage: `/hoist unlock ENV`"}},
	{"", "unlock prod now", []string{"Too many arguments"}},
	{"", "lock", []string{"Missing ENV.", "Usage: `/hoist lock ENV [reason...]`"}},
	// refs
	{"", "deploy api a..b", []string{"`a..b` is not a valid git ref name: it contains \"..\".", deployUsage}},
	{"", "deploy api feature/", []string{"not a valid git ref name", `ends with "/"`, deployUsage}},
	{"", "deploy api -rf", []string{`starts with "-"`}},
	{"", "deploy api a~1", []string{`contains "~"`}},
	{"", "deploy api @", []string{"not a valid git ref name"}},
	{"", "deploy api x.lock", []string{`ends with ".lock"`}},
	{"", "env up api .hidden", []string{"`.hidden` is not a valid git branch name", envUpUsage}},
	{"", "env down api a:b", []string{"not a valid git branch name", `contains ":"`}},
	// names
	{"", "deploy a/b main", []string{"`a/b` is not a valid app name", deployUsage}},
	{"", "deploy -api main", []string{"not a valid app name"}},
	{"", "deploy " + strings.Repeat("a", 64) + " main", []string{"not a valid app name"}},
	{"", "deploy api main to prod/eu", []string{"`prod/eu` is not a valid environment name"}},
	{"", "lock &lt;prod&gt;", []string{"`&lt;prod&gt;` is not a valid environment name"}},
	{"", "promote api st@ging", []string{"not a valid environment name"}},
	// ids
	{"", "approve", []string{"Missing ID.", approveUsage}},
	{"", "approve abc", []string{"`abc` is not a release ID", approveUsage}},
	{"", "approve 0", []string{"`0` is not a release ID"}},
	{"", "approve #0", []string{"is not a release ID"}},
	{"", "approve -42", []string{"`-42` is not a release ID"}},
	{"", "approve +42", []string{"is not a release ID"}},
	{"", "approve #", []string{"is not a release ID"}},
	{"", "approve ##42", []string{"is not a release ID"}},
	{"", "approve 42x", []string{"is not a release ID"}},
	{"", "approve 9223372036854775808", []string{"is not a release ID"}},
	{"", "approve 42 43", []string{"Too many arguments: `43`"}},
	{"", "deny", []string{"Missing ID.", "Usage: `/hoist deny ID [reason...]`"}},
	{"", "cancel x", []string{"is not a release ID", "Usage: `/hoist cancel ID`"}},
	// reasons
	{"", "lock prod " + strings.Repeat("x", MaxReasonRunes+1), []string{"The reason is too long: 501 characters, at most 500"}},
	{"", "deny 4 " + strings.Repeat("ab ", 200), []string{"The reason is too long"}},
	// help
	{"", "help dpeloy", []string{"There is no help on `dpeloy`.", "Did you mean `deploy`?", "Usage: `/hoist help [COMMAND]`"}},
	{"", "help env upp", []string{"Did you mean `env up`?"}},
	{"", "help nothing-like-it", []string{"There is no help on `nothing-like-it`."}},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validCases {
		r := parseCase(tc.slash, tc.text)
		if r.Command == nil || r.Reply != "" || r.Ignore {
			t.Errorf("%q %q: got %+v, want a command", tc.slash, tc.text, r)
			continue
		}
		if !reflect.DeepEqual(*r.Command, tc.want) {
			t.Errorf("%q %q:\n got %+v\nwant %+v", tc.slash, tc.text, *r.Command, tc.want)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range invalidCases {
		r := parseCase(tc.slash, tc.text)
		if r.Command != nil || r.Reply == "" || r.Ignore {
			t.Errorf("%q %q: got %+v, want a reply", tc.slash, tc.text, r)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(r.Reply, w) {
				t.Errorf("%q %q: reply %q does not contain %q", tc.slash, tc.text, r.Reply, w)
			}
		}
	}
}

func TestParseEmptyShowsHelp(t *testing.T) {
	for _, text := range []string{"", "   ", "\t\u00a0\n"} {
		for _, r := range []Result{Parse(text), ParseSlash("/hoist", text)} {
			if r.Reply != Help("") || r.Command != nil || r.Ignore {
				t.Errorf("%q: got %+v, want the help", text, r)
			}
		}
	}
}

func TestParseSlashUnknownIgnored(t *testing.T) {
	for _, slash := range []string{"", "/hoister", "/giphy", "deploy", "/help"} {
		for _, text := range []string{"", "deploy api main"} {
			if r := ParseSlash(slash, text); !r.Ignore || r.Command != nil || r.Reply != "" {
				t.Errorf("ParseSlash(%q, %q) = %+v, want Ignore", slash, text, r)
			}
		}
	}
}

func TestShortcutsAreTableWords(t *testing.T) {
	for slash, word := range shortcuts {
		if word == "" {
			continue
		}
		if "/"+word != slash || !slices.Contains(builtin.words, word) {
			t.Errorf("shortcut %s → %q is not a command word", slash, word)
		}
	}
}

func TestUsage(t *testing.T) {
	if got := Usage(VerbDeploy); got != deployUsage {
		t.Errorf("Usage(deploy) = %q, want %q", got, deployUsage)
	}
	if got := Usage(VerbEnvList); got != "Usage: `/hoist env list [APP]`" {
		t.Errorf("Usage(env list) = %q", got)
	}
	if got := Usage("nope"); !strings.Contains(got, "`/hoist help`") {
		t.Errorf("Usage(nope) = %q, want a pointer to help", got)
	}
}

func TestSuggest(t *testing.T) {
	words := builtin.words
	for word, want := range map[string]string{
		"dpeloy": "deploy", "deplyo": "deploy", "deploi": "deploy", "de": "deploy",
		"den": "deny", "lok": "lock", "st": "status", "his": "history", "canel": "cancel",
		"x": "", "a": "", "up": "", "zzzzzz": "", "": "",
	} {
		if got := suggest(word, words); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"deploy", "deploy", 0}, {"dpeloy", "deploy", 1}, {"deploy", "deplo", 1},
		{"deny", "dent", 1}, {"lock", "unlock", 2}, {"abc", "xyz", 3}, {"a", "abcdefg", 3},
		{"é", "e", 1},
	} {
		if got := distance(tc.a, tc.b); got != tc.want {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// parseCase runs Parse, or ParseSlash if slash is set.
func parseCase(slash, text string) Result {
	if slash == "" {
		return Parse(text)
	}
	return ParseSlash(slash, text)
}
