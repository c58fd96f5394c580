package mrkdwn

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"feature/x":         "feature/x",
		"<!channel> ping":   "&lt;!channel&gt; ping",
		"<@U123|boss>":      "&lt;@U123|boss&gt;",
		"a & b":             "a &amp; b",
		"`code` break":      "'code' break",
		"<https://evil|ok>": "&lt;https://evil|ok&gt;",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q; want %q", in, got, want)
		}
	}
}
