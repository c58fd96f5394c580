package commands

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// slot is what a placeholder accepts and where it puts it.
type slot struct {
	// rest: the placeholder takes the rest of the line, possibly empty.
	rest bool
	// fill checks v and stores it in c, or says what is wrong with it.
	fill func(t *table, c *Command, v string) (problem string)
}

// slots are the placeholders Args may use.
var slots = map[string]slot{
	"APP":       {fill: nameSlot("app", func(c *Command) *string { return &c.App })},
	"ENV":       {fill: nameSlot("environment", func(c *Command) *string { return &c.Env })},
	"FROM":      {fill: nameSlot("environment", func(c *Command) *string { return &c.From })},
	"TO":        {fill: nameSlot("environment", func(c *Command) *string { return &c.To })},
	"REF":       {fill: refSlot("git ref", func(c *Command) *string { return &c.Ref })},
	"BRANCH":    {fill: refSlot("git branch", func(c *Command) *string { return &c.Branch })},
	"ID":        {fill: fillID},
	"reason...": {rest: true, fill: fillReason},
	"COMMAND":   {rest: true, fill: fillTopic},
}

// maxNameLen is the longest app or environment name.
const maxNameLen = 63

// nameSlot accepts an app or environment name.
func nameSlot(what string, field func(*Command) *string) func(*table, *Command, string) string {
	return func(_ *table, c *Command, v string) string {
		if !validName(v) {
			return fmt.Sprintf("%s is not a valid %s name: use letters, digits, `.`, `_` and `-`, start with a letter or digit, and keep it to %d characters.",
				code(v), what, maxNameLen)
		}
		*field(c) = v
		return ""
	}
}

// validName reports whether s matches [A-Za-z0-9][A-Za-z0-9._-]{0,62}.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		if !alnum && (i == 0 || b != '.' && b != '_' && b != '-') {
			return false
		}
	}
	return true
}

// refSlot accepts a git ref name.
func refSlot(what string, field func(*Command) *string) func(*table, *Command, string) string {
	return func(_ *table, c *Command, v string) string {
		if why := refProblem(v); why != "" {
			return fmt.Sprintf("%s is not a valid %s name: it %s.", code(v), what, why)
		}
		*field(c) = v
		return ""
	}
}

// fillID accepts a release ID: a positive number, optionally after a '#'.
func fillID(_ *table, c *Command, v string) string {
	id, ok := parseID(v)
	if !ok {
		return fmt.Sprintf("%s is not a release ID: use its positive number, like `42` or `#42`.", code(v))
	}
	c.ID = id
	return ""
}

// parseID reads "42" or "#42"; only ASCII digits, and the result must be > 0.
func parseID(v string) (int64, bool) {
	digits := strings.TrimPrefix(v, "#")
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	return id, err == nil && id > 0
}

// fillReason accepts the free text of lock and deny.
func fillReason(_ *table, c *Command, v string) string {
	if n := utf8.RuneCountInString(v); n > MaxReasonRunes {
		return fmt.Sprintf("The reason is too long: %d characters, at most %d please.", n, MaxReasonRunes)
	}
	c.Reason = v
	return ""
}

// fillTopic accepts help's topic: a verb or a group.
func fillTopic(t *table, c *Command, v string) string {
	topic, problem := t.lookupTopic(v)
	if problem != "" {
		return problem
	}
	c.Topic = topic
	return ""
}
