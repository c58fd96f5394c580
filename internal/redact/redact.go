// Package redact hides secrets in text before Hoist shows it to people:
// build logs uploaded to Slack, log lines shown in a build's live message.
//
// A Redactor replaces every match of its patterns, and every occurrence of
// its literal secrets, with Mask. On top of the patterns it is configured
// with, it always looks for these credentials (see Builtin):
//
//   - Slack tokens: xox[abprs]-… (bot, user, app-level legacy, refresh) and
//     xapp-… (app-level);
//   - GitHub tokens: gh[pousr]_… (36 or more characters after the prefix)
//     and fine-grained github_pat_…;
//   - AWS access key IDs: AKIA followed by 16 upper-case letters or digits;
//   - HTTP "Authorization: Bearer …" and "Authorization: Basic …" headers,
//     the header name included.
//
// Matching is leftmost-longest over all patterns and literals at once, so
// that a secret covered by two patterns is hidden whole. Text is redacted
// as a whole: a secret split across two calls (two chunks of a log read
// separately) is not found; see Stream for logs that arrive in chunks.
package redact

import (
	"bytes"
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces every secret found.
const Mask = "[REDACTED]"

// Builtin are the patterns every Redactor uses on top of the configured
// ones. None of them matches the brackets of Mask, so redacting twice
// changes nothing more.
var Builtin = []string{
	`xox[abprs]-[A-Za-z0-9-]+`,
	`xapp-[A-Za-z0-9-]+`,
	`gh[pousr]_[A-Za-z0-9]{36,}`,
	`github_pat_[A-Za-z0-9_]{22,}`,
	`AKIA[0-9A-Z]{16}`,
	// The credentials of RFC 7235 are token68: letters, digits and
	// -._~+/ with trailing = padding.
	`(?i)authorization:[ \t]*(?:bearer|basic)[ \t]+[A-Za-z0-9._~+/-]+=*`,
}

// Redactor hides secrets in text. It is safe for concurrent use.
type Redactor struct {
	re *regexp.Regexp
}

// New returns a Redactor that hides matches of patterns (Go regular
// expressions, as in the jenkins.redact_patterns setting), of the Builtin
// patterns, and the literal secrets given (Hoist's own tokens). Empty
// literals are ignored. It returns an error naming the pattern at fault
// when one is not a regular expression, matches the empty string (it
// would put Mask between every two characters) or matches Mask itself
// (redacting twice would not give the same text), and when a literal is
// part of Mask.
func New(patterns []string, literals ...string) (*Redactor, error) {
	alts := make([]string, 0, len(Builtin)+len(patterns)+len(literals))
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact pattern %d %q: %w", i+1, p, err)
		}
		switch {
		case re.MatchString(""):
			return nil, fmt.Errorf("redact pattern %d %q: matches the empty string", i+1, p)
		case re.MatchString(Mask):
			return nil, fmt.Errorf("redact pattern %d %q: matches the mask %s itself", i+1, p, Mask)
		}
		alts = append(alts, p)
	}
	alts = append(alts, Builtin...)

	var lits []string
	for i, l := range literals {
		if l == "" {
			continue
		}
		if strings.Contains(Mask, l) {
			return nil, fmt.Errorf("redact literal secret %d: it is part of the mask %s", i+1, Mask)
		}
		lits = append(lits, l)
	}
	// Longer literals first, so that a secret that starts with another is
	// hidden whole (leftmost-longest would do it anyway; this keeps the
	// expression readable when debugging).
	slices.SortFunc(lits, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
	})
	lits = slices.Compact(lits)
	for _, l := range lits {
		alts = append(alts, regexp.QuoteMeta(l))
	}

	var expr strings.Builder
	for i, a := range alts {
		if i > 0 {
			expr.WriteByte('|')
		}
		expr.WriteString("(?:" + a + ")")
	}
	re, err := regexp.Compile(expr.String())
	if err != nil {
		// Each part compiled on its own; together they must too.
		return nil, fmt.Errorf("combine redact patterns: %w", err)
	}
	re.Longest()
	return &Redactor{re: re}, nil
}

// Bytes returns a copy of b with every secret replaced by Mask. It never
// modifies b. A nil Redactor hides nothing.
func (r *Redactor) Bytes(b []byte) []byte {
	if r == nil || len(b) == 0 {
		return bytes.Clone(b)
	}
	return r.re.ReplaceAllLiteral(b, []byte(Mask))
}

// String returns s with every secret replaced by Mask. A nil Redactor
// hides nothing.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	return r.re.ReplaceAllLiteralString(s, Mask)
}

// maxHeld bounds how much of an unfinished line a Stream holds back.
const maxHeld = 64 << 10

// Stream redacts a log that arrives in chunks. It holds back the last,
// unfinished line of each chunk until its end arrives (secrets never span
// lines), so that a secret cut in two by the chunking is still found. A
// line longer than 64 KiB is let through in pieces.
type Stream struct {
	r    *Redactor
	held []byte
}

// NewStream returns a Stream over r.
func (r *Redactor) NewStream() *Stream { return &Stream{r: r} }

// Next takes the next chunk of the log and returns the redacted text of the
// lines it completes. The returned slice is the caller's.
func (s *Stream) Next(chunk []byte) []byte {
	s.held = append(s.held, chunk...)
	cut := bytes.LastIndexByte(s.held, '\n') + 1
	if cut == 0 && len(s.held) > maxHeld {
		cut = len(s.held)
	}
	if cut == 0 {
		return nil
	}
	out := s.r.Bytes(s.held[:cut])
	s.held = append(s.held[:0], s.held[cut:]...)
	return out
}

// Flush returns the redacted rest of the log: its last line when it does
// not end in a newline. The Stream can be used again afterwards.
func (s *Stream) Flush() []byte {
	out := s.r.Bytes(s.held)
	s.held = s.held[:0]
	return out
}
