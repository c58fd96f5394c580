package bot

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/hoistbot/hoist/internal/release"
)

const (
	// progressCells is the width of a build's progress bar.
	progressCells = 10
	// maxLogLine is how many characters of one log line a build message
	// shows; longer lines are cut, ending in "…".
	maxLogLine = 300
	// codeFence opens and closes the log tail's code block.
	codeFence = "```"
)

// RenderBuild renders the live build message in a release's thread as
// Block Kit blocks, and the one-line fallback text for notifications:
//
//	🔨 Build #12 of `api/staging` · running 1m20s
//	▰▰▰▰▰▱▱▱▱▱ 52% · about 1m10s left
//	<url|Open in Jenkins>
//	```last lines of the console log```
//
// A finished build shows its result and how long it took instead ("✅ Build
// #12 of `api/staging` · SUCCESS in 3m05s"). The progress bar needs an
// estimate (Estimated > 0); it never shows more than 99% while the build
// runs. The log tail keeps the newest lines that fit in Slack's limit on a
// section's text (3,000 characters), cuts lines longer than 300 characters,
// and shows the log as it is: nothing in it is taken as a mention, a link or
// formatting, and it cannot end the code block early.
func RenderBuild(v release.BuildView) (blocks []slack.Block, fallback string) {
	id := v.Release.String()
	blockID := func(part string) string { return "build_" + id + "_" + part }

	status := buildHeadline(v)
	if bar := buildProgress(v); bar != "" {
		status += "\n" + bar
	}
	blocks = append(blocks, cardSection(blockID("status"), status))
	if link := buildLink(v.URL); link != "" {
		blocks = append(blocks, cardContext(blockID("link"), link))
	}
	if tail := logTail(v.Tail); tail != "" {
		blocks = append(blocks, cardSection(blockID("log"), tail))
	}
	return blocks, buildFallback(v)
}

// buildName is "Build #12 of `api/staging`", or as much of it as is known.
func buildName(v release.BuildView, code func(string) string) string {
	name := "Build"
	if v.Number > 0 {
		name += fmt.Sprintf(" #%d", v.Number)
	}
	if v.Job != "" {
		name += " of " + code(v.Job)
	}
	return name
}

// buildHeadline is "🔨 Build #12 of `api/staging` · running 1m20s", or the
// result and duration of a finished build.
func buildHeadline(v release.BuildView) string {
	emoji, state := buildState(v)
	line := emoji + " " + buildName(v, mdCode) + " · " + state
	if d, ok := buildElapsed(v); ok {
		if v.Result == "" {
			line += " " + formatBuildDuration(d)
		} else {
			line += " in " + formatBuildDuration(d)
		}
	}
	return line
}

// buildState is how a build's state is shown: "running", or its result.
func buildState(v release.BuildView) (emoji, state string) {
	if v.Result == "" {
		return "🔨", "running"
	}
	result := strings.ToUpper(strings.TrimSpace(v.Result))
	switch result {
	case "SUCCESS":
		return "✅", result
	case "FAILURE":
		return "❌", result
	case "UNSTABLE":
		return "⚠️", result
	case "ABORTED":
		return "🛑", result
	}
	// NOT_BUILT, or whatever a newer Jenkins says.
	return "❔", SlackText(strings.Map(func(r rune) rune {
		if r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, result))
}

// buildElapsed is how long the build has been running, or ran; false when
// that is not known.
func buildElapsed(v release.BuildView) (time.Duration, bool) {
	if v.Started.IsZero() || v.Now.IsZero() {
		return 0, false
	}
	return max(v.Now.Sub(v.Started), 0), true
}

// buildProgress is "▰▰▰▰▰▱▱▱▱▱ 52% · about 1m10s left" for a running build
// with an estimate, else "".
func buildProgress(v release.BuildView) string {
	elapsed, ok := buildElapsed(v)
	if v.Result != "" || v.Estimated <= 0 || !ok {
		return ""
	}
	pct := min(int(elapsed*100/v.Estimated), 99)
	filled := pct * progressCells / 100
	bar := strings.Repeat("▰", filled) + strings.Repeat("▱", progressCells-filled)
	line := fmt.Sprintf("%s %d%%", bar, pct)
	if left := v.Estimated - elapsed; left >= time.Second {
		return line + " · about " + formatBuildDuration(left) + " left"
	}
	return line + " · taking longer than usual (" + formatBuildDuration(v.Estimated) + " expected)"
}

// formatBuildDuration shows d to the second: "45s", "1m20s", "1h02m03s".
func formatBuildDuration(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// buildLink is "<url|Open in Jenkins>", or "" when raw is not an http(s) URL.
func buildLink(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	// Characters that would end the <…|…> link early, escaped as in a URL.
	link := strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E", " ", "%20").Replace(u.String())
	text := SlackText("<" + link + "|Open in Jenkins>")
	if !strings.HasPrefix(text, "<") {
		return "" // not kept as a link: show none rather than a broken one
	}
	return text
}

// buildFallback is the message in one line, without markup:
// "Build #12 of api/staging: running 1m20s".
func buildFallback(v release.BuildView) string {
	_, state := buildState(v)
	text := buildName(v, func(s string) string { return s }) + ": " + state
	if d, ok := buildElapsed(v); ok {
		if v.Result == "" {
			text += " " + formatBuildDuration(d)
		} else {
			text += " in " + formatBuildDuration(d)
		}
	}
	return fitText(SlackText(text), maxFallbackText)
}

// logTail is the newest lines of tail (each with or without its newline)
// in a code block that fits in a section's text, with a first line "…" when older lines were left out;
// "" when there is nothing to show.
func logTail(tail []string) string {
	var lines []string
	for _, l := range tail {
		// A line may come with its newline, and an element may hold several.
		l = strings.TrimSuffix(l, "\n")
		for part := range strings.SplitSeq(l, "\n") {
			lines = append(lines, cleanLogLine(part))
		}
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	// The fences, their newlines, and a "…" line (with its newline) when
	// lines are left out.
	avail := maxSectionText - 2*len(codeFence) - 2 - 2
	start := len(lines)
	for start > 0 {
		n := utf8.RuneCountInString(lines[start-1]) + 1
		if n > avail {
			break
		}
		avail -= n
		start--
	}
	kept := lines[start:]
	if strings.TrimSpace(strings.Join(kept, "")) == "" {
		return ""
	}
	if start > 0 {
		kept = append([]string{"…"}, kept...)
	}
	return codeFence + "\n" + strings.Join(kept, "\n") + "\n" + codeFence
}

var (
	// jenkinsNote is a console note Jenkins hides in its logs: a preamble,
	// base64 data and a postamble.
	jenkinsNote = regexp.MustCompile("\x1b\\[8mha:[^\x1b]*\x1b\\[0m")
	// ansiEscape is a terminal escape sequence: colours, cursor moves.
	ansiEscape = regexp.MustCompile("\x1b(?:\\[[0-?]*[ -/]*[@-~]|[@-Z\\\\-_])")
	// logEscaper escapes all of &, < and >: in a log nothing is a mention,
	// a link or an entity.
	logEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
)

// cleanLogLine makes one console log line safe and readable in a code
// block: without Jenkins' console notes and terminal escapes, without what
// a carriage return overwrote, without control characters, with ``` broken
// up so that it cannot end the code block, escaped, and cut to maxLogLine
// characters.
func cleanLogLine(l string) string {
	l = strings.ToValidUTF8(l, "\uFFFD")
	l = jenkinsNote.ReplaceAllString(l, "")
	l = ansiEscape.ReplaceAllString(l, "")
	l = strings.TrimRight(l, "\r")
	if i := strings.LastIndexByte(l, '\r'); i >= 0 {
		l = l[i+1:] // a terminal shows only what came after the last \r
	}
	l = strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return r
		case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
			return -1
		}
		return r
	}, l)
	// U+02CB MODIFIER LETTER GRAVE ACCENT looks like a backtick.
	l = strings.ReplaceAll(l, codeFence, "ˋˋˋ")
	return fitText(logEscaper.Replace(l), maxLogLine)
}
