// Package configs holds Hoist's example configuration, which doubles as the
// default configuration embedded in the binary.
package configs

import _ "embed"

//go:embed hoist.example.yaml
var example []byte

// Example returns the contents of hoist.example.yaml: Hoist's embedded
// default configuration, used when neither --config nor HOIST_CONFIG names a
// file. It returns a fresh copy, so callers may modify it.
func Example() []byte {
	return append([]byte(nil), example...)
}
