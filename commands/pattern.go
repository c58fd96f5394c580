package commands

import (
	"errors"
	"fmt"
	"strings"
)

// nodeKind says what a node of a compiled Args pattern is.
type nodeKind int

const (
	keywordNode  nodeKind = iota // a word typed as is, e.g. "to"
	slotNode                     // a placeholder, e.g. "APP"
	optionalNode                 // an [optional] group
)

// node is one element of a compiled Args pattern.
type node struct {
	kind  nodeKind
	word  string // the keyword or the placeholder's name
	group []node // an optional group's contents
}

// compilePattern parses an Args string such as "APP [FROM [to TO]]".
func compilePattern(args string) ([]node, error) {
	p := &patternParser{words: strings.Fields(strings.NewReplacer("[", " [ ", "]", " ] ").Replace(args))}
	nodes, err := p.sequence()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.words) {
		return nil, errors.New("unmatched \"]\"")
	}
	if err := checkShape(nodes); err != nil {
		return nil, err
	}
	return nodes, checkSlotsOnce(nodes)
}

// patternParser reads the words of an Args string.
type patternParser struct {
	words []string
	pos   int
}

// sequence reads nodes up to the end or to a "]", which it leaves unread.
func (p *patternParser) sequence() ([]node, error) {
	var nodes []node
	for p.pos < len(p.words) {
		w := p.words[p.pos]
		switch {
		case w == "]":
			return nodes, nil
		case w == "[":
			p.pos++
			group, err := p.sequence()
			if err != nil {
				return nil, err
			}
			if p.pos == len(p.words) {
				return nil, errors.New("unclosed \"[\"")
			}
			if len(group) == 0 {
				return nil, errors.New("empty \"[]\"")
			}
			nodes = append(nodes, node{kind: optionalNode, group: group})
		case slots[w].fill != nil:
			nodes = append(nodes, node{kind: slotNode, word: w})
		case isKeyword(w):
			nodes = append(nodes, node{kind: keywordNode, word: w})
		default:
			return nil, fmt.Errorf("%q is neither a placeholder nor a lower-case keyword", w)
		}
		p.pos++
	}
	return nodes, nil
}

// checkShape makes sure every sequence can be matched left to right without
// looking back: optional groups and rest-of-line placeholders come last, and
// each keyword is followed by a placeholder.
func checkShape(nodes []node) error {
	for i, n := range nodes {
		last := i == len(nodes)-1
		switch {
		case n.kind == optionalNode && !last:
			return errors.New("an optional group must end its sequence")
		case n.kind == slotNode && slots[n.word].rest && !last:
			return fmt.Errorf("%s takes the rest of the line, so it must come last", n.word)
		case n.kind == keywordNode && (last || nodes[i+1].kind != slotNode):
			return fmt.Errorf("keyword %q must be followed by a placeholder", n.word)
		}
		if n.kind == optionalNode {
			if err := checkShape(n.group); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkSlotsOnce makes sure no placeholder appears twice, as each fills its
// own field.
func checkSlotsOnce(nodes []node) error {
	seen := map[string]bool{}
	var err error
	walk(nodes, func(n node) {
		if n.kind == slotNode && seen[n.word] && err == nil {
			err = fmt.Errorf("placeholder %s appears twice", n.word)
		}
		seen[n.word] = true
	})
	return err
}

// walk calls f on every node, depth first.
func walk(nodes []node, f func(node)) {
	for _, n := range nodes {
		f(n)
		walk(n.group, f)
	}
}

// isKeyword reports whether w is a non-empty word of lower-case ASCII letters.
func isKeyword(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}
