package config

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxLabel is the longest DNS-1123 label.
const maxLabel = 63

// Slug turns a branch name into a DNS-1123 label, usable in a Kubernetes
// namespace: lower case; every run of characters other than [a-z0-9]
// (including '-') becomes one '-'; leading and trailing '-' are trimmed.
// A result longer than 63 characters is cut and gets '-' and six hex
// digits of the SHA-256 of the original branch, so that long branches
// sharing a prefix stay distinct; an empty result becomes "x" and those six
// digits. Short branches that differ only in punctuation or case
// ("feature/a", "Feature-A") share a slug.
func Slug(branch string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(branch) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	s := b.String()
	if s == "" {
		return "x" + shortHash(branch)
	}
	if len(s) <= maxLabel {
		return s
	}
	const keep = maxLabel - 7 // room for '-' and six hex digits
	return strings.TrimRight(s[:keep], "-") + "-" + shortHash(branch)
}

// shortHash is the first six hex digits of the SHA-256 of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:3])
}
