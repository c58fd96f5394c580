package commands

import (
	"strings"
	"testing"
	"unicode"
)

var validRefs = []string{
	"main", "feature/x-1", "v1.2.3", "release/2026.11", "0123456789abcdef0123456789abcdef01234567",
	"deadbee", "HEAD", "a", "a.b", "a-b_c", "user/name/topic", "fix&test", "x@y", "a{b}", "a.locked",
	"lock.a", "é/ü", strings.Repeat("a", 255),
}

var invalidRefs = []struct {
	ref, why string
}{
	{"", "is empty"},
	{"..", `contains ".."`},
	{"a..b", `contains ".."`},
	{"a/", `ends with "/"`},
	{"/a", `starts with "/"`},
	{"a//b", `contains "//"`},
	{"a.lock", `ends with ".lock"`},
	{"a.lock/b", `has a part ending with ".lock" before a "/"`},
	{"a@{b", `contains "@{"`},
	{"@", `is "@"`},
	{"a b", "contains a space"},
	{"a~1", `contains "~"`},
	{"a^", `contains "^"`},
	{"a:b", `contains ":"`},
	{"a?", `contains "?"`},
	{"a*", `contains "*"`},
	{"a[b", `contains "["`},
	{`a\b`, `contains "\"`},
	{".hidden", `starts with "."`},
	{"x/.y", `contains "/."`},
	{"end.", `ends with "."`},
	{"-rf", `starts with "-"`},
	{"a\tb", "contains a control character"},
	{"a\x7fb", "contains a control character"},
	{"a\x00", "contains a control character"},
	{"\xff", "is not valid UTF-8"},
	{strings.Repeat("a", 256), "is longer than 255 bytes"},
}

func TestValidRef(t *testing.T) {
	for _, ref := range validRefs {
		if err := ValidRef(ref); err != nil {
			t.Errorf("ValidRef(%q) = %v, want nil", ref, err)
		}
	}
	for _, tc := range invalidRefs {
		err := ValidRef(tc.ref)
		if err == nil {
			t.Errorf("ValidRef(%q) = nil, want an error", tc.ref)
			continue
		}
		if msg := err.Error(); !strings.HasSuffix(msg, tc.why) || !startsLower(msg) {
			t.Errorf("ValidRef(%q) = %q, want a lower-case error ending %q", tc.ref, msg, tc.why)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, name := range []string{"a", "api", "API", "9", "my_app.v2", "prod-eu", strings.Repeat("a", 63)} {
		if !validName(name) {
			t.Errorf("validName(%q) = false", name)
		}
	}
	for _, name := range []string{"", "-a", ".a", "_a", "a/b", "a b", "é", "a:b", strings.Repeat("a", 64)} {
		if validName(name) {
			t.Errorf("validName(%q) = true", name)
		}
	}
}

func startsLower(s string) bool {
	for _, r := range s {
		return !unicode.IsUpper(r)
	}
	return false
}
