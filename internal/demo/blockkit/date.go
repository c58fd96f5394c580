package blockkit

import (
	"fmt"
	"html"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// date renders <!date^UNIX^FORMAT^LINK|FALLBACK> in the Renderer's time
// zone, with Slack's tokens: {date_num}, {date}, {date_short},
// {date_long}, their _pretty forms (today, yesterday, tomorrow), {time},
// {time_secs} and {ago}. A sequence it cannot read shows its fallback.
func (r *Renderer) date(target, fallback string) string {
	parts := strings.SplitN(strings.TrimPrefix(target, "!date^"), "^", 3)
	secs, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || len(parts) < 2 {
		return escape(fallback)
	}
	t := time.Unix(secs, 0).In(r.location())
	now := r.now().In(r.location())
	shown := formatDate(parts[1], t, now)
	out := `<time class="bk-date" datetime="` + t.UTC().Format(time.RFC3339) + `" title="` + html.EscapeString(unescapeSlack(fallback)) + `">` + escape(shown) + `</time>`
	if len(parts) == 3 {
		if u, err := url.Parse(parts[2]); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			out = `<a class="bk-link" href="` + html.EscapeString(u.String()) + `" target="_blank" rel="noopener noreferrer">` + out + `</a>`
		}
	}
	return out
}

func (r *Renderer) location() *time.Location {
	if r.Location == nil {
		return time.Local
	}
	return r.Location
}

func (r *Renderer) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func formatDate(format string, t, now time.Time) string {
	pretty := func(layout func(time.Time) string) string {
		switch dayDiff(t, now) {
		case 0:
			return "today"
		case -1:
			return "yesterday"
		case 1:
			return "tomorrow"
		}
		return layout(t)
	}
	dateLong := func(t time.Time) string { return t.Format("Monday, ") + dateText(t) }
	dateShort := func(t time.Time) string { return t.Format("Jan 2, 2006") }
	return strings.NewReplacer(
		"{date_num}", t.Format("2006-01-02"),
		"{date_short_pretty}", pretty(dateShort),
		"{date_long_pretty}", pretty(dateLong),
		"{date_pretty}", pretty(dateText),
		"{date_short}", dateShort(t),
		"{date_long}", dateLong(t),
		"{date}", dateText(t),
		"{time_secs}", t.Format("3:04:05 PM"),
		"{time}", t.Format("3:04 PM"),
		"{ago}", ago(now.Sub(t)),
	).Replace(format)
}

// dateText is "February 18th, 2014".
func dateText(t time.Time) string {
	return fmt.Sprintf("%s %d%s, %d", t.Month(), t.Day(), ordinal(t.Day()), t.Year())
}

func ordinal(n int) string {
	if n%100 >= 11 && n%100 <= 13 {
		return "th"
	}
	switch n % 10 {
	case 1:
		return "st"
	case 2:
		return "nd"
	case 3:
		return "rd"
	}
	return "th"
}

// dayDiff is how many calendar days t is after now (negative: before).
func dayDiff(t, now time.Time) int {
	ty, tm, td := t.Date()
	ny, nm, nd := now.Date()
	a := time.Date(ty, tm, td, 12, 0, 0, 0, time.UTC)
	b := time.Date(ny, nm, nd, 12, 0, 0, 0, time.UTC)
	return int(a.Sub(b).Round(24*time.Hour) / (24 * time.Hour))
}

// ago is "just now", "3 minutes ago", "in 2 hours", … as Slack writes it.
func ago(d time.Duration) string {
	future := d < 0
	if future {
		d = -d
	}
	var n int
	var unit string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		n, unit = int(d/time.Minute), "minute"
	case d < 24*time.Hour:
		n, unit = int(d/time.Hour), "hour"
	default:
		n, unit = int(d/(24*time.Hour)), "day"
	}
	if n != 1 {
		unit += "s"
	}
	if future {
		return fmt.Sprintf("in %d %s", n, unit)
	}
	return fmt.Sprintf("%d %s ago", n, unit)
}
