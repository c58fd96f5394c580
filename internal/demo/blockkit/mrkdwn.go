package blockkit

import (
	"html"
	"html/template"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// unescapeSlack turns the three escapes Slack text uses (&amp; &lt; &gt;)
// back into the characters they stand for.
func unescapeSlack(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// escape shows Slack text as HTML text: Slack's escapes are undone, then
// everything is escaped for HTML.
func escape(s string) string { return html.EscapeString(unescapeSlack(s)) }

// Mrkdwn renders Slack mrkdwn as HTML: *bold*, _italic_, ~strike~,
// `code`, ```code blocks```, > quotes, line breaks, links (<url|text>),
// user, channel and group mentions, and dates (<!date^…>).
func (r *Renderer) Mrkdwn(text string) template.HTML {
	var b strings.Builder
	rest := text
	for rest != "" {
		start := strings.Index(rest, "```")
		if start < 0 {
			break
		}
		end := strings.Index(rest[start+3:], "```")
		if end < 0 {
			break
		}
		b.WriteString(r.lines(strings.TrimSuffix(rest[:start], "\n")))
		code := rest[start+3 : start+3+end]
		code = strings.TrimSuffix(strings.TrimPrefix(code, "\n"), "\n")
		b.WriteString(`<pre class="bk-pre">` + escape(code) + `</pre>`)
		rest = strings.TrimPrefix(rest[start+3+end+3:], "\n")
	}
	b.WriteString(r.lines(rest))
	return template.HTML(b.String()) //nolint:gosec // built from escaped pieces only
}

// lines renders text without code blocks, line by line; consecutive
// quoted lines ("> …") make one quote.
func (r *Renderer) lines(text string) string {
	if text == "" {
		return ""
	}
	var b strings.Builder
	inQuote := false
	for i, line := range strings.Split(text, "\n") {
		quoted, isQuote := quoteBody(line)
		switch {
		case isQuote && !inQuote:
			b.WriteString(`<blockquote class="bk-quote">`)
		case isQuote:
			b.WriteString("<br>")
		case inQuote:
			b.WriteString("</blockquote>")
		case i > 0:
			b.WriteString("<br>")
		}
		inQuote = isQuote
		if isQuote {
			line = quoted
		}
		b.WriteString(r.inline(line))
	}
	if inQuote {
		b.WriteString("</blockquote>")
	}
	return b.String()
}

// quoteBody returns the text of a quoted line ("> text", escaped or not).
func quoteBody(line string) (string, bool) {
	for _, mark := range []string{"&gt;", ">"} {
		if rest, ok := strings.CutPrefix(line, mark); ok {
			return strings.TrimPrefix(rest, " "), true
		}
	}
	return "", false
}

// token is a piece of one line: text, inline code, a rendered <…>
// sequence, or an emphasis marker that may open or close.
type token struct {
	html            string // rendered HTML for every kind but markers
	marker          byte   // '*', '_' or '~' for a marker
	canOpen, canEnd bool
	opens, ends     bool // matched with a partner
}

// emphasisTag is the HTML element an emphasis marker stands for.
func emphasisTag(marker byte) string {
	switch marker {
	case '*':
		return "b"
	case '_':
		return "i"
	}
	return "s"
}

// inline renders one line: code spans and <…> sequences first, then
// emphasis, whose markers pair up the way Slack pairs them (at word
// boundaries, innermost first, unpaired ones shown as they are).
func (r *Renderer) inline(line string) string {
	var toks []token
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			toks = append(toks, token{html: escape(text.String())})
			text.Reset()
		}
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch c {
		case '`':
			if end := strings.IndexByte(line[i+1:], '`'); end > 0 {
				flush()
				toks = append(toks, token{html: `<code class="bk-code">` + escape(line[i+1:i+1+end]) + `</code>`})
				i += end + 2
				continue
			}
		case '<':
			if end := strings.IndexByte(line[i+1:], '>'); end > 0 {
				flush()
				toks = append(toks, token{html: r.sequence(line[i+1 : i+1+end])})
				i += end + 2
				continue
			}
		case '*', '_', '~':
			open, end := canOpen(line, i), canClose(line, i)
			if open || end {
				flush()
				toks = append(toks, token{marker: c, canOpen: open, canEnd: end})
				i++
				continue
			}
		}
		text.WriteByte(c)
		i++
	}
	flush()
	pairMarkers(toks)

	var b strings.Builder
	for _, t := range toks {
		switch {
		case t.marker == 0:
			b.WriteString(t.html)
		case t.opens:
			b.WriteString("<" + emphasisTag(t.marker) + ">")
		case t.ends:
			b.WriteString("</" + emphasisTag(t.marker) + ">")
		default:
			b.WriteByte(t.marker)
		}
	}
	return b.String()
}

// pairMarkers matches each closing marker with the nearest open marker of
// the same kind; markers left open inside a pair stay literal.
func pairMarkers(toks []token) {
	var open []int
	for i := range toks {
		t := &toks[i]
		if t.marker == 0 {
			continue
		}
		if t.canEnd {
			matched := false
			for j := len(open) - 1; j >= 0; j-- {
				if toks[open[j]].marker == t.marker {
					toks[open[j]].opens, t.ends = true, true
					open = open[:j]
					matched = true
					break
				}
			}
			if matched {
				continue
			}
		}
		if t.canOpen {
			open = append(open, i)
		}
	}
}

func canOpen(s string, i int) bool {
	before, _ := utf8.DecodeLastRuneInString(s[:i])
	after, _ := utf8.DecodeRuneInString(s[i+1:])
	return (i == 0 || boundary(before)) && i+1 < len(s) && !unicode.IsSpace(after) && after != rune(s[i])
}

func canClose(s string, i int) bool {
	before, _ := utf8.DecodeLastRuneInString(s[:i])
	after, _ := utf8.DecodeRuneInString(s[i+1:])
	return i > 0 && !unicode.IsSpace(before) && before != rune(s[i]) && (i+1 == len(s) || boundary(after))
}

func boundary(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// sequence renders the inside of a <…>: a mention, a channel, a special
// mention, a date or a link. Anything else is shown as typed.
func (r *Renderer) sequence(inner string) string {
	target, label, hasLabel := strings.Cut(inner, "|")
	switch {
	case strings.HasPrefix(target, "@"):
		id := target[1:]
		name := r.Users[id]
		if name == "" {
			name = strings.TrimPrefix(label, "@")
		}
		if name == "" {
			name = id
		}
		return `<span class="bk-mention" data-user="` + html.EscapeString(id) + `">@` + escape(name) + `</span>`
	case strings.HasPrefix(target, "#"):
		id := target[1:]
		name := r.Channels[id]
		if name == "" {
			name = label
		}
		if name == "" {
			name = id
		}
		return `<span class="bk-channel" data-channel="` + html.EscapeString(id) + `">#` + escape(name) + `</span>`
	case strings.HasPrefix(target, "!date^"):
		return r.date(target, label)
	case strings.HasPrefix(target, "!subteam^"):
		name := label
		if name == "" {
			name = "@" + strings.TrimPrefix(target, "!subteam^")
		}
		return `<span class="bk-mention">` + escape(name) + `</span>`
	case target == "!here" || target == "!channel" || target == "!everyone":
		return `<span class="bk-mention">@` + target[1:] + `</span>`
	}
	if u, err := url.Parse(unescapeSlack(target)); err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "mailto") {
		if !hasLabel || label == "" {
			label = target
		}
		return `<a class="bk-link" href="` + html.EscapeString(u.String()) + `" target="_blank" rel="noopener noreferrer">` + escape(label) + `</a>`
	}
	return escape("<" + inner + ">")
}
