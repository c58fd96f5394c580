package blockkit_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/demo/blockkit"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// now is 2023-11-14 22:13:20 UTC.
var now = time.Unix(1700000000, 0)

func newRenderer() *blockkit.Renderer {
	return &blockkit.Renderer{
		Users:    map[string]string{"U0DEMOANA": "ana", "U0DEMODAVE": "dave", "U123": "requester", "UA1": "approver"},
		Channels: map[string]string{"C0DEMODEPLOYS": "deploys"},
		Location: time.UTC,
		Now:      func() time.Time { return now },
	}
}

// TestGolden renders the samples under testdata/blocks (every block type
// and mrkdwn feature) and every card and build message Hoist's own golden
// tests pin down, and compares the HTML with testdata/…/*.golden.html.
func TestGolden(t *testing.T) {
	samples, _ := filepath.Glob("testdata/blocks/*.json")
	cards, _ := filepath.Glob("../../../bot/testdata/card_*.golden.json")
	builds, _ := filepath.Glob("../../../bot/testdata/build_*.golden.json")
	hoist := append(cards, builds...)
	if len(samples) == 0 || len(hoist) == 0 {
		t.Fatalf("found %d samples and %d of Hoist's messages; want some of each", len(samples), len(hoist))
	}
	cases := map[string]string{}
	for _, in := range samples {
		cases[in] = strings.TrimSuffix(in, ".json") + ".golden.html"
	}
	for _, in := range hoist {
		cases[in] = filepath.Join("testdata", "bot", strings.TrimSuffix(filepath.Base(in), ".golden.json")+".golden.html")
	}
	r := newRenderer()
	for in, golden := range cases {
		t.Run(filepath.Base(in), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Blocks(raw)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, golden, string(got)+"\n")
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n got: %s\nwant: %s", path, got, want)
	}
}

// TestHoistMessagesAreFullyShown: every block of every message Hoist's
// golden tests pin down (cards, builds, and any message added later) is one
// the page lays out, and the buttons carry what a click sends back.
func TestHoistMessagesAreFullyShown(t *testing.T) {
	files, _ := filepath.Glob("../../../bot/testdata/*.golden.json")
	r := newRenderer()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Blocks(raw)
		if err != nil {
			t.Fatal(err)
		}
		html := string(got)
		if strings.Contains(html, "bk-unsupported") {
			t.Errorf("%s: a block is not shown:\n%s", f, html)
		}
		if strings.Contains(string(raw), "hoist_approve") {
			for _, want := range []string{`data-action-id="hoist_approve" data-value="42"`, `class="bk-button bk-primary"`, `<dialog class="bk-confirm">`, `Deny release #42?`} {
				if !strings.Contains(html, want) {
					t.Errorf("%s: card lacks %s:\n%s", f, want, html)
				}
			}
		}
	}
}

func TestMrkdwn(t *testing.T) {
	r := newRenderer()
	for _, tc := range []struct{ in, want string }{
		{"*Deploy* `api` → *production*", "<b>Deploy</b> <code class=\"bk-code\">api</code> → <b>production</b>"},
		{"_why_ and ~not~", "<i>why</i> and <s>not</s>"},
		{"snake_case_name and 2*3*4", "snake_case_name and 2*3*4"},
		{"*unclosed and _nested*", "<b>unclosed and _nested</b>"},
		{"a &amp; b &lt;tag&gt; & c", "a &amp; b &lt;tag&gt; &amp; c"},
		{"<@U0DEMOANA> and <@U999|someone>", `<span class="bk-mention" data-user="U0DEMOANA">@ana</span> and <span class="bk-mention" data-user="U999">@someone</span>`},
		{"<https://ci.example.com/job/1/|#1> success", `<a class="bk-link" href="https://ci.example.com/job/1/" target="_blank" rel="noopener noreferrer">#1</a> success`},
		{"<javascript:alert(1)|x>", "&lt;javascript:alert(1)|x&gt;"},
		{"<!channel> look", `<span class="bk-mention">@channel</span> look`},
		{"one\ntwo", "one<br>two"},
		{"```\na *b*\n```", `<pre class="bk-pre">a *b*</pre>`},
		{"&gt; quoted\nplain", `<blockquote class="bk-quote">quoted</blockquote>plain`},
		{"Expires <!date^1700003600^{date_short_pretty} at {time}|2023-11-14 23:13 UTC>",
			`Expires <time class="bk-date" datetime="2023-11-14T23:13:20Z" title="2023-11-14 23:13 UTC">today at 11:13 PM</time>`},
		{"<!date^1699913600^{date_pretty}|x> <!date^1700000000^{ago}|y> <!date^1700007200^{ago}|z>",
			`<time class="bk-date" datetime="2023-11-13T22:13:20Z" title="x">yesterday</time> <time class="bk-date" datetime="2023-11-14T22:13:20Z" title="y">just now</time> <time class="bk-date" datetime="2023-11-15T00:13:20Z" title="z">in 2 hours</time>`},
	} {
		if got := string(r.Mrkdwn(tc.in)); got != tc.want {
			t.Errorf("Mrkdwn(%q)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
}

// TestNothingInjectsMarkup: text that people typed (a reason, a branch
// name) reaches the page as text.
func TestNothingInjectsMarkup(t *testing.T) {
	r := newRenderer()
	raw := []byte(`[{"type":"section","text":{"type":"mrkdwn","text":"<script>alert(1)</script> <javascript:alert(1)|x> <img src=x onerror=alert(1)>"},
		"fields":[{"type":"plain_text","text":"<b onclick=alert(1)>"}]},
		{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"<i>"},"action_id":"a\" onclick=\"alert(1)","value":"'><script>"}]},
		{"type":"image","image_url":"javascript:alert(1)","alt_text":"x"}]`)
	got, err := r.Blocks(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<img src=x", "<b onclick", "<i>", `" onclick="`, `href="javascript`, `src="javascript`} {
		if strings.Contains(string(got), bad) {
			t.Errorf("output contains %q:\n%s", bad, got)
		}
	}
}

// TestURLsAreFiltered: an href or src holds a relative, http, https or
// mailto URL, percent-encoded where it could leave its attribute; any
// other scheme (javascript:, data:, …) becomes "#ZgotmplZ", as
// html/template wrote it.
func TestURLsAreFiltered(t *testing.T) {
	r := newRenderer()
	for _, tc := range []struct{ url, want string }{
		{"https://ci.example.com/job/1/?a=1&b=2+3#log", "https://ci.example.com/job/1/?a=1&amp;b=2&#43;3#log"},
		{"HTTP://example.com/a b", "HTTP://example.com/a%20b"},
		{"mailto:ops@example.com", "mailto:ops@example.com"},
		{"/relative/path:x", "/relative/path:x"},
		{`https://x/"><script>'(1)`, "https://x/%22%3e%3cscript%3e%27%281%29"},
		{"https://x/%41%zz", "https://x/%41%25zz"},
		{"javascript:alert(1)", "#ZgotmplZ"},
		{"JavaScript:alert(1)", "#ZgotmplZ"},
		{" javascript:alert(1)", "#ZgotmplZ"},
		{"data:text/html,<script>", "#ZgotmplZ"},
		{"vbscript:msgbox", "#ZgotmplZ"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			u, err := json.Marshal(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.ReplaceAll(`[{"type":"image","image_url":URL,"alt_text":"a"},
				{"type":"section","accessory":{"type":"image","image_url":URL,"alt_text":"b"}},
				{"type":"context","elements":[{"type":"image","image_url":URL,"alt_text":"c"}]},
				{"type":"actions","elements":[{"type":"button","text":{"type":"plain_text","text":"d"},"url":URL}]}]`, "URL", string(u))
			got, err := r.Blocks([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(got), ` src="`+tc.want+`"`); n != 3 {
				t.Errorf("%d of 3 images have src=%q:\n%s", n, tc.want, got)
			}
			if !strings.Contains(string(got), ` href="`+tc.want+`"`) {
				t.Errorf("the link button lacks href=%q:\n%s", tc.want, got)
			}
		})
	}
}

func TestMessageWithoutBlocksShowsItsText(t *testing.T) {
	r := newRenderer()
	got, err := r.Message("Release #1 *started* by <@U0DEMODAVE>", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "Release #1 <b>started</b> by <span class=\"bk-mention\" data-user=\"U0DEMODAVE\">@dave</span>") {
		t.Errorf("got %s", got)
	}
	if _, err := r.Blocks([]byte(`{"not": "an array"}`)); err == nil {
		t.Error("blocks that are not an array rendered without an error")
	}
}
