package jenkins

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hoistbot/hoist/internal/outbound"
)

// maxBody bounds what is read of one answer. progressiveText sends at most
// 10000 lines a call, far below it.
const maxBody = 64 << 20

// response is one answer of Jenkins, read whole.
type response struct {
	method string
	path   string
	status int
	header http.Header
	body   []byte
}

// send makes a request to path (relative to Config.URL, already escaped),
// retrying transient failures. It returns the answer whatever its status
// unless that status is worth retrying; then, once the tries are spent, it
// returns an ErrUnreachable error.
func (c *Client) send(ctx context.Context, method, path string, query, form url.Values) (*response, error) {
	return c.retrying(ctx, method, path, func(ctx context.Context) (*response, error) {
		return c.once(ctx, method, path, query, form)
	})
}

// once makes one try of a request. POSTs carry a crumb when Jenkins issues
// them (requests with an API token need none, but it does no harm).
func (c *Client) once(ctx context.Context, method, path string, query, form url.Values) (*response, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("make request %s %s: %w", method, path, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.token)
	}
	if method == http.MethodPost {
		if err := c.addCrumb(ctx, req); err != nil {
			return nil, err
		}
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read jenkins' answer to %s %s: %w", method, path, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("jenkins' answer to %s %s is larger than %d bytes", method, path, maxBody)
	}
	return &response{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// addCrumb fetches a CSRF crumb (GET crumbIssuer/api/json) and adds it to
// req, with the session cookies Jenkins ties it to. Requests made with an
// API token need none, and Jenkins without CSRF protection issues none
// (404): then req goes without, and Jenkins' answer to it says what is
// wrong. gojenkins' SetCrumb is not used: it asks for
// crumbIssuer/api/json/api/json, ignores every failure, and panics on a
// transport error or an X-Error header.
func (c *Client) addCrumb(ctx context.Context, req *http.Request) error {
	cr, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"crumbIssuer/api/json", nil)
	if err != nil {
		return fmt.Errorf("make crumb request: %w", err)
	}
	if c.user != "" {
		cr.SetBasicAuth(c.user, c.token)
	}
	resp, err := c.hc.Do(cr)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		c.log.DebugContext(ctx, "jenkins issued no crumb", "status", resp.StatusCode)
		return nil
	}
	var crumb struct {
		Crumb             string `json:"crumb"`
		CrumbRequestField string `json:"crumbRequestField"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&crumb); err != nil {
		c.log.DebugContext(ctx, "jenkins answered the crumb request with something else than a crumb", "err", err.Error())
		return nil
	}
	if crumb.Crumb == "" || crumb.CrumbRequestField == "" {
		return nil
	}
	req.Header.Set(crumb.CrumbRequestField, crumb.Crumb)
	for _, ck := range resp.Cookies() {
		// A request cookie: Secure, HttpOnly and SameSite are for responses.
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value}) //nolint:gosec // see above
	}
	return nil
}

// retrying runs attempt until it succeeds, fails in a way not worth
// retrying, the tries are spent or ctx ends.
func (c *Client) retrying(ctx context.Context, method, path string, attempt func(context.Context) (*response, error)) (*response, error) {
	p := c.retry
	for try := 1; ; try++ {
		r, err := attempt(ctx)
		if err != nil && ctx.Err() != nil {
			// The caller gave up; the failure is that, not Jenkins.
			return nil, err
		}
		if !retryable(r, err) {
			return r, err
		}
		cause := err
		if cause == nil {
			cause = fmt.Errorf("jenkins answered %s", statusText(r.status))
		}
		if try >= p.Attempts {
			return nil, fmt.Errorf("%w at %s after %d tries: %w", ErrUnreachable, c.base, try, cause)
		}
		var after time.Duration
		if r != nil {
			after = outbound.RetryAfter(r.header)
		}
		wait := p.Backoff(try, after)
		c.log.DebugContext(ctx, "jenkins request failed; retrying",
			"method", method, "path", path, "try", try, "tries", p.Attempts, "wait", wait, "cause", c.secrets.Redact(cause.Error()))
		if err := p.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("stop retrying jenkins at %s after %d tries: %w (last failure: %w)", c.base, try, err, cause)
		}
	}
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}

// guard runs a gojenkins call, turning a panic into an error: gojenkins
// dereferences responses it did not get (SetCrumb on a transport error or
// an X-Error header, among others), and must not take Hoist down.
func (c *Client) guard(ctx context.Context, what string, fn func(context.Context) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("gojenkins panicked while %s (%v)", what, v)
		}
	}()
	return fn(noDebugContext{ctx})
}

// noDebugContext hides a "debug" context value from gojenkins, which would
// dump responses to the standard logger and may log.Fatal.
type noDebugContext struct{ context.Context }

func (c noDebugContext) Value(key any) any {
	if k, ok := key.(string); ok && k == "debug" {
		return nil
	}
	return c.Context.Value(key)
}

// secrets are the forms Jenkins' token takes in what Hoist sends: itself,
// query-escaped, and in the basic-authentication header made from it.
func secrets(user, token string) outbound.Secrets {
	if token == "" {
		return nil
	}
	return outbound.Secrets{
		token,
		url.QueryEscape(token),
		base64.StdEncoding.EncodeToString([]byte(user + ":" + token)),
	}
}
