package commands

import (
	"fmt"
	"strings"
)

// parse turns raw Slack text into a Result.
func (t *table) parse(text string) Result {
	words := tokenize(text)
	if len(words) == 0 {
		return Result{Reply: t.help("")}
	}
	c, args, reply := t.lookupVerb(words)
	if c == nil {
		return Result{Reply: reply}
	}
	cmd, problem := t.match(c, args)
	if problem != "" {
		return Result{Reply: problem + "\n" + t.usage(c.Verb)}
	}
	return Result{Command: cmd}
}

// lookupVerb finds the spec named by the first word or two, returning it
// with the remaining words, or else a reply saying what is wrong.
func (t *table) lookupVerb(words []string) (c *compiled, args []string, reply string) {
	first := strings.ToLower(words[0])
	subs := t.groups[first]
	if subs == nil {
		if c := t.byVerb[Verb(first)]; c != nil {
			return c, words[1:], ""
		}
		return nil, nil, fmt.Sprintf("Unknown command %s.%s Type `/hoist help` to see the commands.",
			code(words[0]), didYouMean(suggest(first, t.words)))
	}
	if len(words) == 1 {
		return nil, nil, t.missingSubVerb(first, subs)
	}
	sub := strings.ToLower(words[1])
	if c := t.byVerb[Verb(first+" "+sub)]; c != nil {
		return c, words[2:], ""
	}
	reply = fmt.Sprintf("Unknown `%s` command %s.", first, code(words[1]))
	if s := suggest(sub, subs); s != "" {
		reply += didYouMean(first + " " + s)
	}
	return nil, nil, reply + " Type `/hoist help " + first + "` to see the `" + first + "` commands."
}

// missingSubVerb replies to a group word typed alone, such as "env".
func (t *table) missingSubVerb(group string, subs []string) string {
	verbs := make([]string, len(subs))
	usages := make([]string, len(subs))
	for i, sub := range subs {
		verbs[i] = "`" + group + " " + sub + "`"
		usages[i] = t.usage(Verb(group + " " + sub))
	}
	return fmt.Sprintf("`%s` needs a sub-command: %s.\n%s", group, orList(verbs), strings.Join(usages, "\n"))
}

// match fills a Command from args by c's pattern, or says what is wrong.
func (t *table) match(c *compiled, args []string) (*Command, string) {
	m := &matcher{t: t, spec: c, args: args, cmd: Command{Verb: c.Verb}}
	if problem := m.sequence(c.pattern); problem != "" {
		return nil, problem
	}
	if m.pos < len(args) {
		return nil, fmt.Sprintf("Too many arguments: %s was not expected.", code(strings.Join(args[m.pos:], " ")))
	}
	return &m.cmd, ""
}

// matcher walks a pattern over the argument words.
type matcher struct {
	t    *table
	spec *compiled
	args []string
	pos  int
	cmd  Command
}

// sequence matches nodes in order.
func (m *matcher) sequence(nodes []node) string {
	after := "" // the keyword just matched, if any
	for i, n := range nodes {
		var problem string
		switch n.kind {
		case keywordNode:
			problem = m.keyword(n.word)
		case slotNode:
			problem = m.slot(nodes[i:], after)
		case optionalNode:
			problem = m.optional(n.group)
		}
		if problem != "" {
			return problem
		}
		after = ""
		if n.kind == keywordNode {
			after = n.word
		}
	}
	return ""
}

// keyword matches a required keyword.
func (m *matcher) keyword(kw string) string {
	if m.pos == len(m.args) {
		return fmt.Sprintf("Missing `%s`.", kw)
	}
	if !strings.EqualFold(m.args[m.pos], kw) {
		return m.expected(kw)
	}
	m.pos++
	return ""
}

// optional matches an optional group if there are words left for it.
func (m *matcher) optional(group []node) string {
	if m.pos == len(m.args) {
		return ""
	}
	if first := group[0]; first.kind == keywordNode && !strings.EqualFold(m.args[m.pos], first.word) {
		return m.expected(first.word)
	}
	return m.sequence(group)
}

// slot matches the placeholder nodes[0]; nodes are the rest of its sequence,
// to name everything missing at once.
func (m *matcher) slot(nodes []node, after string) string {
	name := nodes[0].word
	s := slots[name]
	if s.rest {
		v := strings.Join(m.args[m.pos:], " ")
		m.pos = len(m.args)
		return s.fill(m.t, &m.cmd, v)
	}
	if m.pos == len(m.args) {
		if after != "" {
			return fmt.Sprintf("Missing %s after `%s`.", name, after)
		}
		return "Missing " + andList(requiredSlots(nodes)) + "."
	}
	v := m.args[m.pos]
	if kw := strings.ToLower(v); m.spec.keywords[kw] {
		return fmt.Sprintf("Missing %s before `%s`.", name, kw)
	}
	m.pos++
	return s.fill(m.t, &m.cmd, v)
}

// expected says that keyword kw should come before the current word and, if
// inserting it would make the command valid, shows the corrected command.
func (m *matcher) expected(kw string) string {
	problem := fmt.Sprintf("Expected `%s` before %s.", kw, code(m.args[m.pos]))
	fixed := append(append(append([]string{}, m.args[:m.pos]...), kw), m.args[m.pos:]...)
	if _, p := m.t.match(m.spec, fixed); p == "" {
		problem += " Did you mean " + code("/hoist "+string(m.spec.Verb)+" "+strings.Join(fixed, " ")) + "?"
	}
	return problem
}

// requiredSlots lists the placeholders of nodes outside optional groups.
func requiredSlots(nodes []node) []string {
	var names []string
	for _, n := range nodes {
		if n.kind == slotNode {
			names = append(names, n.word)
		}
	}
	return names
}
