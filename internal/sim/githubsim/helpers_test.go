package githubsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

func newServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	s := New(opts...)
	t.Cleanup(s.Close)
	return s
}

// answer is one raw answer of the Server.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(a.body, &v); err != nil {
		t.Fatalf("answer is not JSON: %s", a.body)
	}
	return v
}

// do sends an API request with the default token.
func do(t *testing.T, s *Server, method, path string, body any) answer {
	t.Helper()
	return doAs(t, s, "Bearer "+DefaultToken, method, path, body)
}

func doAs(t *testing.T, s *Server, auth, method, path string, body any) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// get fetches path, which must answer 200, and decodes it.
func get(t *testing.T, s *Server, path string) any {
	t.Helper()
	a := do(t, s, http.MethodGet, path, nil)
	if a.status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, a.status, a.body)
	}
	return a.json(t)
}

// send makes a request that must answer want, and decodes the answer.
func send(t *testing.T, s *Server, method, path string, want int, body any) any {
	t.Helper()
	a := do(t, s, method, path, body)
	if a.status != want {
		t.Fatalf("%s %s = %d %s; want %d", method, path, a.status, a.body, want)
	}
	if len(a.body) == 0 {
		return nil
	}
	return a.json(t)
}

// errorOf checks that a is a GitHub error with status and a message
// containing want, and the fields GitHub's error bodies have.
func errorOf(t *testing.T, what string, a answer, status int, want string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: status %d %s; want %d", what, a.status, a.body, status)
	}
	var body struct {
		Message string `json:"message"`
		Doc     string `json:"documentation_url"`
		Status  string `json:"status"`
	}
	if err := json.Unmarshal(a.body, &body); err != nil {
		t.Fatalf("%s: error body is not JSON: %s", what, a.body)
	}
	if !bytes.Contains([]byte(body.Message), []byte(want)) || body.Doc == "" || body.Status == "" {
		t.Errorf("%s: error body %s; want a message with %q, a documentation_url and a status", what, a.body, want)
	}
}
