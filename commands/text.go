package commands

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// slackUnescaper undoes the escaping Slack applies to slash-command text.
// A Replacer does not rescan its output, so "&amp;lt;" becomes "&lt;".
var slackUnescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// slackEscaper escapes text for Slack mrkdwn.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// tokenize decodes Slack's escapes and splits the text into words.
func tokenize(text string) []string {
	return fields(slackUnescaper.Replace(text))
}

// fields splits s on any white space, including tabs and non-breaking spaces.
func fields(s string) []string {
	return strings.FieldsFunc(s, unicode.IsSpace)
}

// maxQuoted is how many characters of user input a reply quotes.
const maxQuoted = 80

// code shows user input in a reply: in backticks, which it may not contain,
// shortened, valid UTF-8 and with &, < and > escaped for Slack.
func code(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "`", "'")
	if utf8.RuneCountInString(s) > maxQuoted {
		s = string([]rune(s)[:maxQuoted-1]) + "…"
	}
	return "`" + slackEscaper.Replace(s) + "`"
}

// orList joins items as "a, b or c".
func orList(items []string) string {
	return joinList(items, " or ")
}

// andList joins items as "a, b and c".
func andList(items []string) string {
	return joinList(items, " and ")
}

// joinList joins items with commas and last before the final one.
func joinList(items []string, last string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + last + items[len(items)-1]
}

// didYouMean suggests a command, or says nothing if there is none.
func didYouMean(suggestion string) string {
	if suggestion == "" {
		return ""
	}
	return " Did you mean `" + suggestion + "`?"
}

// suggest returns the candidate closest to word, or "" if none is close: at
// most two edits away (and fewer edits than word has letters), or starting
// with word if word has two letters or more. Ties go to the earlier one.
func suggest(word string, candidates []string) string {
	n := utf8.RuneCountInString(word)
	best, bestDist := "", 3
	for _, c := range candidates {
		d := distance(word, c)
		if n >= 2 && strings.HasPrefix(c, word) {
			d = min(d, 1)
		}
		if d < bestDist && d < n {
			best, bestDist = c, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b: the
// Levenshtein distance where swapping two adjacent letters is one edit. It
// stops counting at 3, which is all suggest needs.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if abs(len(ra)-len(rb)) >= 3 {
		return 3
	}
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return min(d[len(ra)][len(rb)], 3)
}

// abs is |n|.
func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
