package outbound

import "strings"

// Mask replaces a secret in text.
const Mask = "<secret>"

// Secrets are the texts a client must never show: its token, and the
// forms it takes on the wire (an Authorization header's credentials, the
// token escaped for a query). Empty ones are ignored.
type Secrets []string

// Redact replaces every secret in s with Mask, in the order they are
// given, should a server or a proxy have echoed one.
func (ss Secrets) Redact(s string) string {
	for _, secret := range ss {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, Mask)
		}
	}
	return s
}

// Scrub rewrites *err, when its text holds a secret, into an error whose
// text is redacted and that still wraps *err for errors.Is and errors.As.
// Clients defer it in every exported method.
func (ss Secrets) Scrub(err *error) {
	if *err == nil {
		return
	}
	if msg := (*err).Error(); ss.Redact(msg) != msg {
		*err = &scrubbedError{err: *err, msg: ss.Redact(msg)}
	}
}

// scrubbedError is an error whose text had a secret in it.
type scrubbedError struct {
	err error
	msg string
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
