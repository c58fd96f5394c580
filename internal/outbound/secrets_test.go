package outbound

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestRedact(t *testing.T) {
	for name, tc := range map[string]struct {
		secrets  Secrets
		in, want string
	}{
		"none":          {nil, "token abc", "token abc"},
		"empty ignored": {Secrets{""}, "abc", "abc"},
		"one":           {Secrets{"abc"}, "token abc, again abc", "token <secret>, again <secret>"},
		"several":       {Secrets{"a+b", "a%2Bb"}, "q=a%2Bb raw=a+b", "q=<secret> raw=<secret>"},
		"absent":        {Secrets{"abc"}, "nothing here", "nothing here"},
		"longer first":  {Secrets{"abcdef", "abc"}, "abcdef abc", "<secret> <secret>"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.secrets.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	secrets := Secrets{"s3cret"}
	cause := fmt.Errorf("read: %w", fs.ErrNotExist)
	for name, tc := range map[string]struct {
		err  error
		want string // "" for no error
	}{
		"no error":       {nil, ""},
		"no secret":      {fmt.Errorf("call: %w", cause), "call: read: file does not exist"},
		"secret":         {fmt.Errorf("call with s3cret: %w", cause), "call with <secret>: read: file does not exist"},
		"secret wrapped": {fmt.Errorf("outer: %w", fmt.Errorf("token=s3cret: %w", cause)), "outer: token=<secret>: read: file does not exist"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.err
			secrets.Scrub(&err)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Scrub(nil) = %v", err)
				}
				return
			}
			if err.Error() != tc.want {
				t.Errorf("Scrub = %q; want %q", err, tc.want)
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Scrub lost the error's chain: %v", err)
			}
		})
	}
}

func TestScrubKeepsAnErrorWithoutSecrets(t *testing.T) {
	orig := errors.New("plain")
	err := orig
	Secrets{"s3cret"}.Scrub(&err)
	if err != orig {
		t.Errorf("Scrub replaced an error without secrets: %#v", err)
	}
}
