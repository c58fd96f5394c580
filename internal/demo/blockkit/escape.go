package blockkit

import "strings"

// escapeValue escapes a string from a message that is not Slack text (a
// block ID, a button's value, an alt text, a type name) for HTML text or
// a quoted attribute value, as html/template did: html.EscapeString's
// five characters, '+' (against UTF-7 sniffing) and NUL.
func escapeValue(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		var repl string
		switch s[i] {
		case 0:
			repl = "\uFFFD"
		case '"':
			repl = "&#34;"
		case '&':
			repl = "&amp;"
		case '\'':
			repl = "&#39;"
		case '+':
			repl = "&#43;"
		case '<':
			repl = "&lt;"
		case '>':
			repl = "&gt;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		last = i + 1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// unsafeURL replaces, in an href or src, a URL that could run script
// (javascript:, data:, vbscript:, …). html/template wrote the same.
const unsafeURL = "#ZgotmplZ"

// escapeURL prepares a URL from a message for a quoted href or src
// attribute as html/template did: a URL whose scheme is not http, https
// or mailto becomes unsafeURL; bytes that a URL may not hold are
// percent-encoded (valid %XX escapes stay); the result is escaped for the
// attribute.
func escapeURL(s string) string {
	if !isSafeURL(s) {
		return unsafeURL
	}
	return escapeValue(normalizeURL(s))
}

// isSafeURL reports whether s is relative (no scheme) or an http, https
// or mailto URL, the test html/template applies.
func isSafeURL(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(scheme, "/") {
		return true
	}
	return strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https") || strings.EqualFold(scheme, "mailto")
}

// normalizeURL percent-encodes every byte of s except RFC 3986's
// unreserved characters, its reserved ones but quotes and parentheses,
// and the '%' of a valid %XX escape.
func normalizeURL(s string) string {
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if urlKeeps(c) || c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// urlKeeps reports whether normalizeURL keeps byte c as it is.
func urlKeeps(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!#$&*+,/:;=?@[]", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}
