package commands

import (
	"fmt"
	"strings"
)

// Spec describes one command: its grammar and its help.
type Spec struct {
	// Verb is the command's name, e.g. "deploy" or "env up".
	Verb Verb
	// Args is the usage of the command's arguments and also its grammar,
	// e.g. "APP REF [to ENV]". It is made of placeholders (APP, REF, BRANCH,
	// ENV, FROM, TO, ID, COMMAND, reason...), lower-case keywords that must
	// be typed as they are (to), and [optional] groups, which may nest and
	// must end their sequence. A keyword must be followed by a placeholder.
	Args string
	// Summary is a one-line description for the command list.
	Summary string
	// Details is an optional longer description for the command's own help.
	Details string
	// Example is a complete, valid use of the command, without the slash.
	Example string
}

// table is a compiled set of Specs: it parses and renders help.
type table struct {
	specs  []*compiled
	byVerb map[Verb]*compiled
	// words are the first words of the verbs, in display order, each once:
	// "deploy", "env", "promote", ...
	words []string
	// groups maps a verb's first word to its sub-verbs, for multi-word verbs:
	// "env" → "up", "down", "list".
	groups map[string][]string
}

// compiled is a Spec with its parsed grammar.
type compiled struct {
	Spec
	pattern  []node
	keywords map[string]bool
}

// newTable checks specs and compiles them. It refuses empty, malformed or
// duplicate verbs, a verb that is also a group ("env" beside "env up"),
// malformed Args, and Examples that do not parse as their own verb.
func newTable(specs []Spec) (*table, error) {
	t := &table{byVerb: map[Verb]*compiled{}, groups: map[string][]string{}}
	singles := map[string]bool{}
	for _, s := range specs {
		c, err := compile(s)
		if err != nil {
			return nil, err
		}
		if _, dup := t.byVerb[s.Verb]; dup {
			return nil, fmt.Errorf("duplicate verb %q", s.Verb)
		}
		first, sub, grouped := strings.Cut(string(s.Verb), " ")
		if grouped && singles[first] || !grouped && t.groups[first] != nil {
			return nil, fmt.Errorf("verb %q clashes with the %q commands", s.Verb, first)
		}
		if grouped {
			t.groups[first] = append(t.groups[first], sub)
		} else {
			singles[first] = true
		}
		if !grouped || len(t.groups[first]) == 1 {
			t.words = append(t.words, first)
		}
		t.specs = append(t.specs, c)
		t.byVerb[s.Verb] = c
	}
	for _, c := range t.specs {
		if err := t.checkExample(c); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// mustTable is newTable for tables known to be right.
func mustTable(specs []Spec) *table {
	t, err := newTable(specs)
	if err != nil {
		panic("commands: " + err.Error())
	}
	return t
}

// compile checks a Spec's verb and compiles its Args.
func compile(s Spec) (*compiled, error) {
	if !validVerb(s.Verb) {
		return nil, fmt.Errorf("verb %q is not one or two lower-case words", s.Verb)
	}
	pattern, err := compilePattern(s.Args)
	if err != nil {
		return nil, fmt.Errorf("verb %q: args %q: %w", s.Verb, s.Args, err)
	}
	c := &compiled{Spec: s, pattern: pattern, keywords: map[string]bool{}}
	walk(pattern, func(n node) {
		if n.kind == keywordNode {
			c.keywords[n.word] = true
		}
	})
	return c, nil
}

// validVerb reports whether v is one or two words of lower-case letters.
func validVerb(v Verb) bool {
	words := strings.Split(string(v), " ")
	if len(words) > 2 {
		return false
	}
	for _, w := range words {
		if !isKeyword(w) {
			return false
		}
	}
	return true
}

// checkExample makes sure c's Example parses as c's verb.
func (t *table) checkExample(c *compiled) error {
	r := t.parse(c.Example)
	if r.Command == nil || r.Command.Verb != c.Verb {
		return fmt.Errorf("verb %q: example %q does not parse as %q: %q", c.Verb, c.Example, c.Verb, r.Reply)
	}
	return nil
}

// topics lists everything help accepts: each group, then each verb.
func (t *table) topics() []string {
	var topics []string
	for _, w := range t.words {
		if t.groups[w] != nil {
			topics = append(topics, w)
		}
	}
	for _, c := range t.specs {
		topics = append(topics, string(c.Verb))
	}
	return topics
}

// usage renders v's usage line.
func (t *table) usage(v Verb) string {
	c, ok := t.byVerb[v]
	if !ok {
		return "Type `/hoist help` to see the commands."
	}
	return "Usage: " + c.synopsis()
}

// synopsis is the command as help shows it, in backticks.
func (c *compiled) synopsis() string {
	if c.Args == "" {
		return "`/hoist " + string(c.Verb) + "`"
	}
	return "`/hoist " + string(c.Verb) + " " + c.Args + "`"
}
