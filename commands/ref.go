package commands

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxRefLen is the longest ref name accepted, in bytes.
const maxRefLen = 255

// ValidRef checks that ref can name a git branch or tag, by the rules of
// git check-ref-format (one-level names allowed), and that it does not start
// with '-' (so it can never be taken for an option) and is valid UTF-8 of at
// most 255 bytes. A commit SHA (7 to 40 hex digits) is such a name too. The
// error says, in lower case, what is wrong.
func ValidRef(ref string) error {
	if why := refProblem(ref); why != "" {
		return fmt.Errorf("git ref name %q %s", ref, why)
	}
	return nil
}

// refProblem says what makes ref invalid, as a phrase to follow "it", or ""
// if ref is valid.
func refProblem(ref string) string {
	switch {
	case ref == "":
		return "is empty"
	case len(ref) > maxRefLen:
		return fmt.Sprintf("is longer than %d bytes", maxRefLen)
	case !utf8.ValidString(ref):
		return "is not valid UTF-8"
	case ref == "@":
		return `is "@"`
	case strings.HasPrefix(ref, "-"):
		return `starts with "-"`
	case strings.HasPrefix(ref, "/"):
		return `starts with "/"`
	case strings.HasSuffix(ref, "/"):
		return `ends with "/"`
	case strings.Contains(ref, "//"):
		return `contains "//"`
	case strings.Contains(ref, ".."):
		return `contains ".."`
	case strings.HasSuffix(ref, "."):
		return `ends with "."`
	case strings.Contains(ref, "@{"):
		return `contains "@{"`
	}
	if why := charProblem(ref); why != "" {
		return why
	}
	return componentProblem(ref)
}

// charProblem reports a character git forbids in ref names.
func charProblem(ref string) string {
	for i := 0; i < len(ref); i++ {
		switch b := ref[i]; {
		case b < ' ' || b == 0x7f:
			return "contains a control character"
		case b == ' ':
			return "contains a space"
		case strings.IndexByte(`~^:?*[\`, b) >= 0:
			return `contains "` + string(b) + `"`
		}
	}
	return ""
}

// componentProblem reports a '/'-separated part of ref that starts with '.'
// or ends with ".lock".
func componentProblem(ref string) string {
	parts := strings.Split(ref, "/")
	for i, part := range parts {
		last := i == len(parts)-1
		switch {
		case strings.HasPrefix(part, ".") && i == 0:
			return `starts with "."`
		case strings.HasPrefix(part, "."):
			return `contains "/."`
		case strings.HasSuffix(part, ".lock") && last:
			return `ends with ".lock"`
		case strings.HasSuffix(part, ".lock"):
			return `has a part ending with ".lock" before a "/"`
		}
	}
	return ""
}
