package jenkinssim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// newServer starts a Server that the test closes.
func newServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	t.Cleanup(s.Close)
	return s
}

// client does not follow redirects, so tests see them.
var client = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request with the default credentials. form, when not nil,
// is sent as an application/x-www-form-urlencoded body.
func call(t *testing.T, s *Server, method, path string, form url.Values) reply {
	t.Helper()
	return callAs(t, s, DefaultUser, DefaultToken, method, path, form)
}

func callAs(t *testing.T, s *Server, user, token, method, path string, form url.Values) reply {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, s.URL()+strings.TrimPrefix(path, "/"), body)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// getJSON fetches a payload and decodes it into a generic object.
func getJSON(t *testing.T, s *Server, path string) map[string]any {
	t.Helper()
	r := call(t, s, http.MethodGet, path, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", path, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json;charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("GET %s: decode: %v\n%s", path, err, r.body)
	}
	return m
}

// trigger posts buildWithParameters and returns the queue item ID from the
// Location header.
func trigger(t *testing.T, s *Server, jobPath string, params url.Values) int64 {
	t.Helper()
	if params == nil {
		params = url.Values{}
	}
	r := call(t, s, http.MethodPost, jobURLPath(jobPath)+"buildWithParameters", params)
	if r.status != http.StatusCreated {
		t.Fatalf("trigger %s: status %d, body %s", jobPath, r.status, r.body)
	}
	return queueIDFromLocation(t, r.header.Get("Location"))
}

func queueIDFromLocation(t *testing.T, loc string) int64 {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("Location %q: %v", loc, err)
	}
	var id int64
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "queue" || parts[1] != "item" {
		t.Fatalf("Location %q is not a queue item URL", loc)
	}
	if err := json.Unmarshal([]byte(parts[2]), &id); err != nil {
		t.Fatalf("Location %q: id: %v", loc, err)
	}
	return id
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitBuild waits until the queue item became a build and returns its
// number.
func waitBuild(t *testing.T, s *Server, id int64) int {
	t.Helper()
	var n int
	waitFor(t, "queue item to start", 5*time.Second, func() bool {
		it, ok := s.QueueItem(id)
		n = it.BuildNumber
		return ok && n != 0
	})
	return n
}

// waitDone waits until build n of the job has finished.
func waitDone(t *testing.T, s *Server, jobPath string, n int) Build {
	t.Helper()
	var b Build
	waitFor(t, "build to finish", 10*time.Second, func() bool {
		bs := s.Builds(jobPath)
		if len(bs) < n {
			return false
		}
		b = bs[n-1]
		return !b.Building
	})
	return b
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
