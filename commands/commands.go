// Package commands is Hoist's slash-command grammar: it turns the text people
// type after /hoist (or a shortcut such as /deploy) into a Command, or into a
// reply that explains what was wrong and how to write it instead.
//
// The package is pure: no I/O, no mutable state. One table of Specs drives
// both the parser and the help text, so they cannot disagree.
//
// Replies are Slack mrkdwn. Anything the user typed is shown inside a code
// span with &, < and > escaped, so a reply never contains a raw < or >.
// Command fields, in contrast, hold the decoded text as typed; escape them
// before echoing them to Slack.
package commands

import (
	"slices"
	"strings"
)

// Verb names a command, with its sub-verb for the env commands.
type Verb string

// The verbs, in the order help lists them.
const (
	VerbDeploy   Verb = "deploy"
	VerbEnvUp    Verb = "env up"
	VerbEnvDown  Verb = "env down"
	VerbEnvList  Verb = "env list"
	VerbPromote  Verb = "promote"
	VerbRollback Verb = "rollback"
	VerbStatus   Verb = "status"
	VerbHistory  Verb = "history"
	VerbLock     Verb = "lock"
	VerbUnlock   Verb = "unlock"
	VerbApprove  Verb = "approve"
	VerbDeny     Verb = "deny"
	VerbCancel   Verb = "cancel"
	VerbHelp     Verb = "help"
)

// Command is a parsed, well-formed request. Fields a verb does not use stay
// empty. Whether the app, environment or release exists is not checked here.
type Command struct {
	Verb Verb
	// App is the app name as typed.
	App string
	// Ref is the branch, tag or commit SHA to deploy, as typed; it passes
	// ValidRef.
	Ref string
	// Branch is the branch of env up and env down; it passes ValidRef.
	Branch string
	// Env is the environment of deploy ("to ENV"; empty for the app's
	// default), rollback, history (empty for all), lock and unlock.
	Env string
	// From is promote's source environment; empty to follow the pipeline.
	From string
	// To is promote's target environment ("to TO"); empty to follow the
	// pipeline.
	To string
	// ID is the release of approve, deny and cancel; always > 0 for them.
	ID int64
	// Reason is the free text of lock and deny, words joined by single
	// spaces; possibly empty, at most MaxReasonRunes runes.
	Reason string
	// Topic is help's subject, normalised to lower case and single spaces:
	// a verb ("deploy", "env up") or a group ("env"); empty for all commands.
	// Answer it with Help(Topic).
	Topic string
}

// Result is the outcome of parsing: exactly one of Command (a request to
// carry out), Reply (text to show the user: help, usage or what was wrong)
// and Ignore (the input is not for Hoist) is set.
type Result struct {
	Command *Command
	Reply   string
	Ignore  bool
}

// MaxReasonRunes is the longest reason lock and deny accept.
const MaxReasonRunes = 500

// shortcuts maps each slash command Hoist answers to the words it stands for
// in front of the text.
var shortcuts = map[string]string{
	"/hoist":    "",
	"/deploy":   "deploy",
	"/env":      "env",
	"/promote":  "promote",
	"/rollback": "rollback",
}

// builtinSpecs is the grammar, in display order.
var builtinSpecs = []Spec{
	{
		Verb: VerbDeploy, Args: "APP REF [to ENV]",
		Summary: "Deploy a branch, tag or commit of an app.",
		Details: "REF is a branch or tag name, or a commit SHA. Without `to ENV`, the app's default environment is used.",
		Example: "deploy api main to staging",
	},
	{
		Verb: VerbEnvUp, Args: "APP BRANCH",
		Summary: "Start a preview environment for a branch.",
		Example: "env up api feature/login",
	},
	{
		Verb: VerbEnvDown, Args: "APP BRANCH",
		Summary: "Tear down a branch's preview environment.",
		Example: "env down api feature/login",
	},
	{
		Verb: VerbEnvList, Args: "[APP]",
		Summary: "List preview environments, of one app or of all.",
		Example: "env list api",
	},
	{
		Verb: VerbPromote, Args: "APP [FROM [to TO]]",
		Summary: "Promote what runs in one environment to the next.",
		Details: "Without FROM or `to TO`, Hoist follows the app's pipeline.",
		Example: "promote api staging to production",
	},
	{
		Verb: VerbRollback, Args: "APP ENV",
		Summary: "Roll an environment back to its previous release.",
		Example: "rollback api production",
	},
	{
		Verb: VerbStatus, Args: "[APP]",
		Summary: "Show what is deployed where, for one app or for all.",
		Example: "status api",
	},
	{
		Verb: VerbHistory, Args: "APP [ENV]",
		Summary: "Show an app's recent releases.",
		Example: "history api production",
	},
	{
		Verb: VerbLock, Args: "ENV [reason...]",
		Summary: "Lock an environment against deploys.",
		Example: "lock production release freeze until Monday",
	},
	{
		Verb: VerbUnlock, Args: "ENV",
		Summary: "Unlock an environment.",
		Example: "unlock production",
	},
	{
		Verb: VerbApprove, Args: "ID",
		Summary: "Approve a release that waits for approval.",
		Details: "ID is the release number, with or without `#`.",
		Example: "approve #42",
	},
	{
		Verb: VerbDeny, Args: "ID [reason...]",
		Summary: "Deny a release that waits for approval.",
		Details: "ID is the release number, with or without `#`.",
		Example: "deny 42 tests are red",
	},
	{
		Verb: VerbCancel, Args: "ID",
		Summary: "Cancel a release that has not finished.",
		Details: "ID is the release number, with or without `#`.",
		Example: "cancel 42",
	},
	{
		Verb: VerbHelp, Args: "[COMMAND]",
		Summary: "Show this help, or help on one command.",
		Example: "help deploy",
	},
}

// builtin is the table built from builtinSpecs. Building it checks the specs;
// a mistake in them panics when the package loads, which every test catches.
var builtin = mustTable(builtinSpecs)

// Parse parses the text Slack sends after /hoist: raw, with &, < and >
// still escaped as &amp;, &lt; and &gt;. Empty text replies with the help.
// Parse never returns Ignore.
func Parse(text string) Result {
	return builtin.parse(text)
}

// ParseSlash parses the text of a slash command. slash is "/hoist" or one of
// the shortcuts "/deploy", "/env", "/promote" and "/rollback", which stand
// for "/hoist deploy" and so on. Any other slash command is Ignored.
func ParseSlash(slash, text string) Result {
	prefix, ok := shortcuts[strings.ToLower(strings.TrimSpace(slash))]
	if !ok {
		return Result{Ignore: true}
	}
	return Parse(prefix + " " + text)
}

// Usage returns v's usage line, e.g. "Usage: `/hoist deploy APP REF [to ENV]`".
// For an unknown verb it points to /hoist help instead.
func Usage(v Verb) string {
	return builtin.usage(v)
}

// Help returns help text. With an empty topic it lists every command, one
// line each; with a verb ("deploy", "env up") it shows that command's usage,
// description and example; with a group ("env") the group's commands.
// Topics are case-insensitive and may start with a slash ("/deploy"). An
// unknown topic gets a "did you mean" reply.
func Help(topic string) string {
	return builtin.help(topic)
}

// Specs returns the command table in display order. The slice is a copy.
func Specs() []Spec {
	return slices.Clone(builtinSpecs)
}
