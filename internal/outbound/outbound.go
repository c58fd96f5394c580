// Package outbound is how Hoist's HTTP clients to other systems (Jenkins,
// GitHub) behave: their timeouts, the base URLs they are configured with,
// which failures are worth retrying and how long to wait between tries,
// and errors scrubbed of the secrets they send.
package outbound

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// NewHTTPClient returns a client whose requests end after timeout, and
// whose connections (TCP and TLS handshake each) fail after dialTimeout.
func NewHTTPClient(timeout, dialTimeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = dialTimeout
	return &http.Client{Timeout: timeout, Transport: t}
}

// URLSetting is a configured base URL: the key it is set with and the
// advice BaseURL's errors give about it.
type URLSetting struct {
	// Key names the setting, e.g. "jenkins.url".
	Key string
	// Empty is the advice when it is empty, e.g. "give Jenkins' address".
	Empty string
	// NotURL is the advice when it does not parse as a URL.
	NotURL string
	// Credentials is the advice when it holds a user or password, e.g.
	// "put them in jenkins.user and jenkins.token instead".
	Credentials string
	// QueryOrFragment is the advice when it has a query or a fragment,
	// e.g. "give only Jenkins' address".
	QueryOrFragment string
}

// BaseURL checks raw, the value of setting s, as an absolute http(s) URL
// without credentials, query or fragment, and returns it with a trailing
// slash. Its errors name s.Key and never quote a URL that holds
// credentials.
func BaseURL(raw string, s URLSetting) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", fmt.Errorf("%s is empty: %s", s.Key, s.Empty)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// The parse error quotes the URL, which may hold credentials.
		return "", fmt.Errorf("%s is not a URL: %s", s.Key, s.NotURL)
	}
	if u.User != nil {
		return "", fmt.Errorf("%s holds credentials: %s", s.Key, s.Credentials)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s %q is not an absolute http(s) URL", s.Key, raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s %q has a query or fragment: %s", s.Key, raw, s.QueryOrFragment)
	}
	base := u.String()
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return base, nil
}
