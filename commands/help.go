package commands

import (
	"fmt"
	"strings"
)

// help renders the help for a topic; see Help.
func (t *table) help(topic string) string {
	topic, problem := t.lookupTopic(topic)
	switch {
	case problem != "":
		return problem + " Type `/hoist help` to see the commands."
	case topic == "":
		return t.helpAll()
	}
	if subs := t.groups[topic]; subs != nil {
		return t.helpGroup(topic, subs)
	}
	return t.helpVerb(t.byVerb[Verb(topic)])
}

// helpAll lists every command, one line each.
func (t *table) helpAll() string {
	var b strings.Builder
	b.WriteString("*Hoist commands*\n")
	for _, c := range t.specs {
		b.WriteString(c.line() + "\n")
	}
	b.WriteString("Shortcuts: `/deploy`, `/env`, `/promote` and `/rollback` stand for `/hoist deploy` and so on.\n")
	b.WriteString("Type `/hoist help COMMAND` for more on one command, e.g. `/hoist help deploy`.")
	return b.String()
}

// helpGroup lists the commands of a group such as "env".
func (t *table) helpGroup(group string, subs []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*The `%s` commands*\n", group)
	for _, sub := range subs {
		b.WriteString(t.byVerb[Verb(group+" "+sub)].line() + "\n")
	}
	fmt.Fprintf(&b, "Type `/hoist help %s %s` for more on one of them.", group, subs[0])
	return b.String()
}

// helpVerb describes one command: usage, description and example.
func (t *table) helpVerb(c *compiled) string {
	text := t.usage(c.Verb) + "\n" + c.Summary
	if c.Details != "" {
		text += " " + c.Details
	}
	return text + "\nExample: `/hoist " + c.Example + "`"
}

// line is c's entry in a command list.
func (c *compiled) line() string {
	return c.synopsis() + " – " + c.Summary
}

// lookupTopic normalises a help topic ("Env  UP", "/deploy") and checks it
// names a verb or a group, or is empty (all commands); else it says so.
func (t *table) lookupTopic(topic string) (normal, problem string) {
	topic = strings.TrimPrefix(strings.ToLower(strings.Join(fields(topic), " ")), "/")
	if topic == "hoist" {
		topic = ""
	}
	topic = strings.TrimPrefix(topic, "hoist ")
	if topic == "" || t.groups[topic] != nil || t.byVerb[Verb(topic)] != nil {
		return topic, ""
	}
	return "", fmt.Sprintf("There is no help on %s.%s", code(topic), didYouMean(suggest(topic, t.topics())))
}
