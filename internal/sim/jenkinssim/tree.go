package jenkinssim

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// treeField is one field a `tree` query parameter asks for: its name, the
// fields wanted of its value, and for a list the range of elements kept
// ({M,N} is elements M to N-1, {M,} from M, {,N} the first N, {N} the Nth).
type treeField struct {
	name     string
	sub      []treeField
	from, to int // to < 0: to the end
}

// parseTree parses a `tree` query parameter such as
// "builds[number,actions[parameters[name,value]]]{0,100}".
func parseTree(s string) ([]treeField, error) {
	fields, rest, err := parseTreeList(s)
	if err == nil && rest != "" {
		err = fmt.Errorf("unexpected %q", rest)
	}
	if err != nil {
		return nil, fmt.Errorf("tree %q: %w", s, err)
	}
	return fields, nil
}

func parseTreeList(s string) ([]treeField, string, error) {
	var fields []treeField
	for {
		end := strings.IndexAny(s, ",[]{}")
		if end < 0 {
			end = len(s)
		}
		f := treeField{name: s[:end], to: -1}
		if f.name == "" {
			return nil, s, errors.New("a field has no name")
		}
		s = s[end:]
		if strings.HasPrefix(s, "[") {
			sub, rest, err := parseTreeList(s[1:])
			if err != nil {
				return nil, s, err
			}
			if !strings.HasPrefix(rest, "]") {
				return nil, s, errors.New("missing ]")
			}
			f.sub, s = sub, rest[1:]
		}
		if strings.HasPrefix(s, "{") {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return nil, s, errors.New("missing }")
			}
			var err error
			if f.from, f.to, err = parseTreeRange(s[1:end]); err != nil {
				return nil, s, err
			}
			s = s[end+1:]
		}
		fields = append(fields, f)
		if !strings.HasPrefix(s, ",") {
			return fields, s, nil
		}
		s = s[1:]
	}
}

func parseTreeRange(r string) (from, to int, err error) {
	num := func(s string, def int) (int, error) {
		if s == "" {
			return def, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("range {%s}: %q is not a number", r, s)
		}
		return n, nil
	}
	a, b, comma := strings.Cut(r, ",")
	if from, err = num(a, 0); err != nil {
		return 0, 0, err
	}
	if !comma {
		return from, from + 1, nil
	}
	to, err = num(b, -1)
	return from, to, err
}

// pruneTree keeps of v what fields ask for, as Jenkins' tree does: of an
// object, its _class and the fields named, each pruned by its own tree (an
// object named without one shows only its _class); of a list, each element.
func pruneTree(v any, fields []treeField) any {
	switch x := v.(type) {
	case obj:
		out := obj{}
		for _, f := range x {
			if f.k == "_class" {
				out = append(out, f)
				continue
			}
			for _, tf := range fields {
				if tf.name == f.k {
					out = append(out, field{f.k, tf.prune(f.v)})
					break
				}
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pruneTree(e, fields)
		}
		return out
	}
	return v
}

// prune keeps of v, the value of field f, what f asks for.
func (f treeField) prune(v any) any {
	list, ok := v.([]any)
	if !ok {
		return pruneTree(v, f.sub)
	}
	from, to := min(f.from, len(list)), len(list)
	if f.to >= 0 {
		to = min(max(f.to, from), len(list))
	}
	return pruneTree(list[from:to], f.sub)
}
