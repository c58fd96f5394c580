package outbound

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewHTTPClient(t *testing.T) {
	c := NewHTTPClient(10*time.Second, 3*time.Second)
	if c.Timeout != 10*time.Second {
		t.Errorf("timeout = %v", c.Timeout)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok || tr.TLSHandshakeTimeout != 3*time.Second || tr.DialContext == nil {
		t.Errorf("transport = %#v", c.Transport)
	}
	if tr == http.DefaultTransport {
		t.Error("the default transport is shared, not cloned")
	}
}

var testSetting = URLSetting{
	Key:             "ci.url",
	Empty:           "give the CI's address",
	NotURL:          "give the CI's address, e.g. http://ci:8080/",
	Credentials:     "put them in ci.user and ci.token instead",
	QueryOrFragment: "give only the CI's address",
}

func TestBaseURL(t *testing.T) {
	for raw, want := range map[string]string{
		"http://ci:8080":                 "http://ci:8080/",
		"http://ci:8080/":                "http://ci:8080/",
		"https://example.com/ci":         "https://example.com/ci/",
		"https://example.com/a%20b/":     "https://example.com/a%20b/",
		"https://api.example.com/api/v3": "https://api.example.com/api/v3/",
	} {
		got, err := BaseURL(raw, testSetting)
		if err != nil || got != want {
			t.Errorf("BaseURL(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}

func TestBaseURLProblems(t *testing.T) {
	for name, tc := range map[string]struct {
		raw, want string
	}{
		"empty":           {"", "ci.url is empty: give the CI's address"},
		"blank":           {"  ", "ci.url is empty: give the CI's address"},
		"not a URL":       {"http://ci:port/", "ci.url is not a URL: give the CI's address, e.g. http://ci:8080/"},
		"not a URL, cred": {"http://u:s3cret@c i:x/", "ci.url is not a URL: give the CI's address, e.g. http://ci:8080/"},
		"credentials":     {"http://u:s3cret@ci/", "ci.url holds credentials: put them in ci.user and ci.token instead"},
		"user only":       {"http://u@ci/", "ci.url holds credentials: put them in ci.user and ci.token instead"},
		"relative":        {"ci:8080", `ci.url "ci:8080" is not an absolute http(s) URL`},
		"path only":       {"/ci/", `ci.url "/ci/" is not an absolute http(s) URL`},
		"other scheme":    {"ftp://ci/", `ci.url "ftp://ci/" is not an absolute http(s) URL`},
		"no host":         {"http:///ci", `ci.url "http:///ci" is not an absolute http(s) URL`},
		"query":           {"http://ci/?a=b", `ci.url "http://ci/?a=b" has a query or fragment: give only the CI's address`},
		"fragment":        {"http://ci/#top", `ci.url "http://ci/#top" has a query or fragment: give only the CI's address`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := BaseURL(tc.raw, testSetting)
			if err == nil {
				t.Fatalf("BaseURL(%q) = %q; want an error", tc.raw, got)
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q; want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}
