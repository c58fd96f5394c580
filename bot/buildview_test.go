package bot

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hoistbot/hoist/internal/release"
)

var buildStart = time.Date(2026, 11, 27, 23, 0, 0, 0, time.UTC)

func baseBuildView() release.BuildView {
	return release.BuildView{
		Release:   42,
		Job:       "api/staging",
		Number:    12,
		URL:       "https://jenkins.example.com/job/api/job/staging/12/",
		Started:   buildStart,
		Estimated: 150 * time.Second,
		Now:       buildStart.Add(80 * time.Second),
		Tail: []string{
			"[Pipeline] stage",
			"[Pipeline] { (Test)",
			"+ go test ./...",
			"ok  \tgithub.com/acme/api\t0.412s",
		},
	}
}

type buildCase struct {
	name     string
	view     release.BuildView
	fallback string
}

func buildCases() []buildCase {
	with := func(f func(v *release.BuildView)) release.BuildView {
		v := baseBuildView()
		f(&v)
		return v
	}
	finished := func(result string) release.BuildView {
		return with(func(v *release.BuildView) {
			v.Result = result
			v.Now = buildStart.Add(185 * time.Second)
		})
	}
	long := make([]string, 200)
	for i := range long {
		long[i] = fmt.Sprintf("%03d ", i) + strings.Repeat("very long line & <tags> ", 40)
	}
	return []buildCase{
		{name: "running", view: baseBuildView(), fallback: "Build #12 of api/staging: running 1m20s"},
		{
			name: "first_build",
			view: with(func(v *release.BuildView) {
				v.Estimated = -1
				v.Number = 1
			}),
			fallback: "Build #1 of api/staging: running 1m20s",
		},
		{
			name: "over_estimate",
			view: with(func(v *release.BuildView) { v.Now = buildStart.Add(4 * time.Minute) }),
		},
		{
			name:     "starting",
			view:     release.BuildView{Release: 42, Job: "api/staging", Estimated: -1},
			fallback: "Build of api/staging: running",
		},
		{
			name: "hostile_log",
			view: with(func(v *release.BuildView) {
				v.Tail = []string{
					"\x1b[8mha:////4AAAAB+LCAAAAAAAAP9b\x1b[0m[Pipeline] sh",
					"\x1b[32mgreen\x1b[0m text\r",
					"Downloading 10%\rDownloading 100%",
					"ping <!channel> and <@U123> & <https://evil.example|click>",
					"```",
					"echo '````' \x00\x07bell",
					"&lt;already&gt; escaped",
				}
			}),
		},
		{
			name: "long_tail",
			view: with(func(v *release.BuildView) { v.Tail = long }),
		},
		{name: "success", view: finished("SUCCESS"), fallback: "Build #12 of api/staging: SUCCESS in 3m05s"},
		{name: "failure", view: finished("FAILURE"), fallback: "Build #12 of api/staging: FAILURE in 3m05s"},
		{name: "unstable", view: finished("UNSTABLE")},
		{name: "aborted", view: finished("ABORTED")},
	}
}

func TestRenderBuildGolden(t *testing.T) {
	for _, tc := range buildCases() {
		t.Run(tc.name, func(t *testing.T) {
			blocks, fallback := RenderBuild(tc.view)
			got := marshalBlocks(t, blocks)
			checkGolden(t, filepath.Join("testdata", "build_"+tc.name+".golden.json"), got)
			if tc.fallback != "" && fallback != tc.fallback {
				t.Errorf("fallback = %q, want %q", fallback, tc.fallback)
			}
		})
	}
}

// buildTexts returns the mrkdwn texts of a build message by block_id suffix.
func buildTexts(t *testing.T, v release.BuildView) map[string]string {
	t.Helper()
	blocks, _ := RenderBuild(v)
	out := map[string]string{}
	for _, b := range blockMaps(t, blocks) {
		id, _ := b["block_id"].(string)
		part, ok := strings.CutPrefix(id, "build_42_")
		if !ok {
			t.Errorf("block_id %q does not name the release", id)
		}
		if _, dup := out[part]; dup {
			t.Errorf("duplicate block_id %q", id)
		}
		var texts []string
		walkTexts("", b, func(_, text string) { texts = append(texts, text) })
		out[part] = strings.Join(texts, "\n")
	}
	return out
}

func TestRenderBuildStatusLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(v *release.BuildView)
		want string
	}{
		{"running", func(*release.BuildView) {}, "🔨 Build #12 of `api/staging` · running 1m20s\n▰▰▰▰▰▱▱▱▱▱ 53% · about 1m10s left"},
		{"no estimate", func(v *release.BuildView) { v.Estimated = -1 }, "🔨 Build #12 of `api/staging` · running 1m20s"},
		{"capped at 99%", func(v *release.BuildView) { v.Now = buildStart.Add(time.Hour) },
			"🔨 Build #12 of `api/staging` · running 1h00m00s\n▰▰▰▰▰▰▰▰▰▱ 99% · taking longer than usual (2m30s expected)"},
		{"just started", func(v *release.BuildView) { v.Now = buildStart }, "🔨 Build #12 of `api/staging` · running 0s\n▱▱▱▱▱▱▱▱▱▱ 0% · about 2m30s left"},
		{"clock behind start", func(v *release.BuildView) { v.Now = buildStart.Add(-time.Second) }, "🔨 Build #12 of `api/staging` · running 0s\n▱▱▱▱▱▱▱▱▱▱ 0% · about 2m30s left"},
		{"success", func(v *release.BuildView) { v.Result = "SUCCESS" }, "✅ Build #12 of `api/staging` · SUCCESS in 1m20s"},
		{"failure", func(v *release.BuildView) { v.Result = "FAILURE" }, "❌ Build #12 of `api/staging` · FAILURE in 1m20s"},
		{"unstable", func(v *release.BuildView) { v.Result = "UNSTABLE" }, "⚠️ Build #12 of `api/staging` · UNSTABLE in 1m20s"},
		{"aborted", func(v *release.BuildView) { v.Result = "ABORTED" }, "🛑 Build #12 of `api/staging` · ABORTED in 1m20s"},
		{"other result", func(v *release.BuildView) { v.Result = "NOT_BUILT<!here>" }, "❔ Build #12 of `api/staging` · NOT_BUILTHERE in 1m20s"},
		{"odd job name", func(v *release.BuildView) { v.Job = "a`b<!here>" }, "🔨 Build #12 of `a'b&lt;!here&gt;` · running 1m20s\n▰▰▰▰▰▱▱▱▱▱ 53% · about 1m10s left"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := baseBuildView()
			tc.edit(&v)
			if got := buildTexts(t, v)["status"]; got != tc.want {
				t.Errorf("status\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRenderBuildLink(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://jenkins.example.com/job/api/12/", "<https://jenkins.example.com/job/api/12/|Open in Jenkins>"},
		{"http://ci.internal:8080/job/a%20b/3/", "<http://ci.internal:8080/job/a%20b/3/|Open in Jenkins>"},
		{"https://ci.example.com/job/x|y>z/", "<https://ci.example.com/job/x%7Cy%3Ez/|Open in Jenkins>"},
		{"javascript:alert(1)", ""},
		{"https://user:pw@ci.example.com/", ""},
		{"", ""},
	} {
		v := baseBuildView()
		v.URL = tc.url
		if got := buildTexts(t, v)["link"]; got != tc.want {
			t.Errorf("URL %q: link %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestRenderBuildLogTail(t *testing.T) {
	v := baseBuildView()
	v.Tail = []string{
		"ping <!channel> & <@U123> <https://x.example|x>",
		"``` closes the block",
		"\x1b[31mred\x1b[0m",
		"progress 10%\rprogress 100%",
	}
	got := buildTexts(t, v)["log"]
	want := "```\nping &lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://x.example|x&gt;\nˋˋˋ closes the block\nred\nprogress 100%\n```"
	if got != want {
		t.Errorf("log\n got %q\nwant %q", got, want)
	}
}

func TestRenderBuildTailLinesWithNewlines(t *testing.T) {
	v := baseBuildView()
	// As the build stage keeps them: each line with its newline, the last
	// one possibly unfinished; an element may also hold several lines.
	v.Tail = []string{"one\n", "two\r\n", "three\nfour\n", "\n", "unfinished"}
	want := "```\none\ntwo\nthree\nfour\n\nunfinished\n```"
	if got := buildTexts(t, v)["log"]; got != want {
		t.Errorf("log\n got %q\nwant %q", got, want)
	}
}

func TestRenderBuildLongTailFits(t *testing.T) {
	var tc buildCase
	for _, c := range buildCases() {
		if c.name == "long_tail" {
			tc = c
		}
	}
	log := buildTexts(t, tc.view)["log"]
	if n := utf8.RuneCountInString(log); n > 3000 || n < 2500 {
		t.Errorf("log text has %d characters, want close to but within 3,000", n)
	}
	if !strings.HasPrefix(log, "```\n…\n") || !strings.HasSuffix(log, "\n```") || strings.Count(log, "```") != 2 {
		t.Errorf("log is not one code block starting with a … line:\n%s", log)
	}
	lines := strings.Split(strings.TrimSuffix(strings.TrimPrefix(log, "```\n…\n"), "\n```"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "199 ") {
		t.Errorf("last line shown is %q, want the newest", last)
	}
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > maxLogLine {
			t.Errorf("line of %d characters", n)
		}
		if !strings.HasSuffix(l, "…") {
			t.Errorf("over-long line not cut with …: %q", l)
		}
		if strings.Contains(l, "&am…") || strings.Contains(l, "&a…") || strings.Contains(l, "&…") || strings.Contains(l, "&l…") {
			t.Errorf("an escape was cut in half: %q", l)
		}
	}
}

func TestRenderBuildWithinSlackLimits(t *testing.T) {
	huge := release.BuildView{
		Release: 42, Job: strings.Repeat("j", 5000), Number: 1 << 40, URL: "https://ci.example.com/" + strings.Repeat("p", 4000),
		Tail: []string{strings.Repeat("<>&", 3000), strings.Repeat("€", 5000), "", strings.Repeat("`", 100)},
		Now:  buildStart, Started: buildStart.Add(-1000 * time.Hour), Estimated: time.Second, Result: "",
	}
	cases := append(buildCases(), buildCase{name: "huge", view: huge}, buildCase{name: "empty", view: release.BuildView{Release: 42}})
	for _, tc := range cases {
		blocks, fallback := RenderBuild(tc.view)
		for i, b := range blockMaps(t, blocks) {
			walkTexts("", b, func(path, text string) {
				if n := utf8.RuneCountInString(text); n > 3000 || n == 0 {
					t.Errorf("%s: block %d%s has %d characters", tc.name, i, path, n)
				}
			})
		}
		if n := utf8.RuneCountInString(fallback); n > 3000 || n == 0 {
			t.Errorf("%s: fallback has %d characters", tc.name, n)
		}
		if log := buildTexts(t, tc.view)["log"]; log != "" && strings.Count(log, "```") != 2 {
			t.Errorf("%s: log breaks its code block:\n%s", tc.name, log)
		}
	}
}

func TestRenderBuildEmptyTailHasNoLogBlock(t *testing.T) {
	v := baseBuildView()
	v.Tail = []string{"", "  ", "\x1b[0m"}
	if log, ok := buildTexts(t, v)["log"]; ok {
		t.Errorf("log block for an empty tail: %q", log)
	}
}

func TestFormatBuildDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                       "0s",
		1400 * time.Millisecond: "1s",
		45 * time.Second:        "45s",
		80 * time.Second:        "1m20s",
		65 * time.Second:        "1m05s",
		3723 * time.Second:      "1h02m03s",
	} {
		if got := formatBuildDuration(d); got != want {
			t.Errorf("formatBuildDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
