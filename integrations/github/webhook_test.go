package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hoistbot/hoist/internal/release"
	"github.com/hoistbot/hoist/internal/sim/githubsim"
)

const hookSecret = "webhook-secret-0123456789"

// fakeRetirer has environments by app and branch, and records what it is
// asked to take down.
type fakeRetirer struct {
	mu      sync.Mutex
	envs    map[string]bool // app/branch
	retired []string        // app/branch: reason
	fail    error
}

func (f *fakeRetirer) RetireEnvironment(_ context.Context, app, branch, reason string) (release.Release, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return release.Release{}, f.fail
	}
	if !f.envs[app+"/"+branch] {
		return release.Release{}, fmt.Errorf("environment of %s %s: %w", app, branch, release.ErrNotFound)
	}
	delete(f.envs, app+"/"+branch)
	f.retired = append(f.retired, app+"/"+branch+": "+reason)
	return release.Release{ID: release.ID(40 + len(f.retired)), Kind: release.KindEnvDown, App: app, Ref: branch}, nil
}

func (f *fakeRetirer) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.retired...)
}

func newHook(t testing.TB, retirer Retirer) *Webhook {
	t.Helper()
	h, err := NewWebhook(WebhookConfig{Secret: hookSecret, Apps: map[string]string{"api": "acme/api", "api-worker": "Acme/API", "web": "acme/web"}}, retirer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// deliver sends a delivery to h and returns the answer.
func deliver(t testing.TB, h http.Handler, event, secret string, body []byte, edit ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	req, err := githubsim.NewDelivery(context.Background(), "http://hoist.test/github/webhook", event, "d-1", secret, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// events builds the payloads GitHub would send for acme/api.
type events struct {
	deleteBranch, deleteTag, prClosed, prOpened, otherRepo, forkPR []byte
}

func newEvents(t *testing.T) events {
	s := githubsim.New(githubsim.WithRepo("acme/api"), githubsim.WithRepo("acme/other"))
	defer s.Close()
	s.AddBranch("acme/api", "feature-x", "master")
	s.Commit("acme/api", "feature-x", "Login", map[string]string{"login.go": "1"})
	var e events
	e.deleteBranch = s.DeleteEvent("acme/api", "feature-x")
	e.deleteTag = bytes.Replace(e.deleteBranch, []byte(`"ref_type":"branch"`), []byte(`"ref_type":"tag"`), 1)
	e.otherRepo = s.DeleteEvent("acme/other", "feature-x")
	openPR(t, s)
	e.prOpened = s.PullRequestEvent("acme/api", 1, "opened")
	e.prClosed = s.PullRequestEvent("acme/api", 1, "closed")
	e.forkPR = fromFork(t, e.prClosed)
	return e
}

// fromFork makes a pull_request event's head a fork's branch.
func fromFork(t *testing.T, event []byte) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(event, &v); err != nil {
		t.Fatal(err)
	}
	head := v["pull_request"].(map[string]any)["head"].(map[string]any)
	head["label"] = "mallory:feature-x"
	head["repo"].(map[string]any)["full_name"] = "mallory/api"
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func openPR(t *testing.T, s *githubsim.Server) {
	t.Helper()
	c, err := New(Config{BaseURL: s.URL(), Token: githubsim.DefaultToken}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenPullRequest(t.Context(), "acme/api", release.PullRequest{Head: "feature-x", Base: "master", Title: "Login"}); err != nil {
		t.Fatal(err)
	}
}

func TestWebhook(t *testing.T) {
	e := newEvents(t)
	tests := []struct {
		name    string
		event   string
		secret  string
		body    []byte
		edit    func(*http.Request)
		status  int
		retired []string
		says    string
	}{
		{name: "branch deleted", event: "delete", secret: hookSecret, body: e.deleteBranch, status: 200,
			retired: []string{"api-worker/feature-x: branch `feature-x` was deleted on GitHub", "api/feature-x: branch `feature-x` was deleted on GitHub"},
			says:    "release #41 takes down api's environment; release #42 takes down api-worker's environment"},
		{name: "pull request closed", event: "pull_request", secret: hookSecret, body: e.prClosed, status: 200,
			retired: []string{"api-worker/feature-x: pull request #1 of `feature-x` was closed on GitHub", "api/feature-x: pull request #1 of `feature-x` was closed on GitHub"}},
		{name: "tag deleted", event: "delete", secret: hookSecret, body: e.deleteTag, status: 200, says: "ignored"},
		{name: "pull request opened", event: "pull_request", secret: hookSecret, body: e.prOpened, status: 200, says: "ignored"},
		{name: "fork's pull request", event: "pull_request", secret: hookSecret, body: e.forkPR, status: 200, says: "fork"},
		{name: "repository of no app", event: "delete", secret: hookSecret, body: e.otherRepo, status: 200, says: "repository of no app; ignored"},
		{name: "other event", event: "push", secret: hookSecret, body: []byte(`{"ref":"refs/heads/feature-x"}`), status: 200, says: "ignored"},
		{name: "ping", event: "ping", secret: hookSecret, body: []byte(`{"zen":"Keep it logically awesome."}`), status: 200, says: "pong"},
		{name: "unsigned", event: "delete", body: e.deleteBranch, status: 401, says: "missing X-Hub-Signature-256"},
		{name: "wrong secret", event: "delete", secret: "guess", body: e.deleteBranch, status: 401, says: "does not match"},
		{name: "tampered body", event: "delete", secret: hookSecret, body: e.deleteBranch, status: 401,
			edit: func(r *http.Request) {
				r.Body = httpBody(bytes.Replace(e.deleteBranch, []byte("feature-x"), []byte("feature-y"), 1))
			}},
		{name: "SHA-1 signature only", event: "delete", secret: hookSecret, body: e.deleteBranch, status: 401,
			edit: func(r *http.Request) { r.Header.Del("X-Hub-Signature-256") }},
		{name: "SHA-1 in the SHA-256 header", event: "delete", secret: hookSecret, body: e.deleteBranch, status: 401,
			edit: func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", r.Header.Get("X-Hub-Signature")) }},
		{name: "too large", event: "delete", secret: hookSecret, body: bytes.Repeat([]byte(" "), MaxWebhookBody+1), status: 413},
		{name: "not JSON content", event: "delete", secret: hookSecret, body: e.deleteBranch, status: 415,
			edit: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retirer := &fakeRetirer{envs: map[string]bool{"api/feature-x": true, "api-worker/feature-x": true, "web/feature-x": true}}
			var edits []func(*http.Request)
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			rec := deliver(t, newHook(t, retirer), tt.event, tt.secret, tt.body, edits...)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.says) {
				t.Errorf("answer = %d %q; want %d with %q", rec.Code, rec.Body.String(), tt.status, tt.says)
			}
			got := retirer.calls()
			if strings.Join(sorted(got), "\n") != strings.Join(tt.retired, "\n") {
				t.Errorf("taken down = %q; want %q", got, tt.retired)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func httpBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func TestWebhookWithoutAnEnvironment(t *testing.T) {
	e := newEvents(t)
	retirer := &fakeRetirer{envs: map[string]bool{}}
	rec := deliver(t, newHook(t, retirer), "delete", hookSecret, e.deleteBranch)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "no environment for this branch") {
		t.Errorf("answer = %d %q", rec.Code, rec.Body.String())
	}
}

func TestWebhookStoreFailure(t *testing.T) {
	e := newEvents(t)
	retirer := &fakeRetirer{fail: errors.New("database is locked")}
	rec := deliver(t, newHook(t, retirer), "delete", hookSecret, e.deleteBranch)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "database") {
		t.Errorf("answer = %d %q; want a 500 that shows no internals", rec.Code, rec.Body.String())
	}
}

func TestWebhookNeedsASecret(t *testing.T) {
	if _, err := NewWebhook(WebhookConfig{Apps: map[string]string{"api": "acme/api"}}, &fakeRetirer{}, nil); err == nil {
		t.Fatal("a webhook without a secret was made")
	}
}

// FuzzWebhookVerification: nothing but a delivery signed with the secret
// ever reaches the retirer, and nothing panics.
func FuzzWebhookVerification(f *testing.F) {
	s := githubsim.New(githubsim.WithRepo("acme/api"))
	valid := s.DeleteEvent("acme/api", "feature-x")
	s.Close()
	f.Add(valid, githubsim.Sign(hookSecret, valid), "delete", "application/json")
	f.Add(valid, githubsim.Sign("other", valid), "delete", "application/json")
	f.Add([]byte("payload="+string(valid)), githubsim.Sign(hookSecret, []byte("payload="+string(valid))), "delete", "application/x-www-form-urlencoded")
	f.Add([]byte(`{}`), "sha256=", "pull_request", "application/json")
	f.Add([]byte(`{"ref_type":"branch"}`), "sha1=00", "delete", "application/json; charset=utf-8")
	f.Fuzz(func(t *testing.T, body []byte, signature, event, contentType string) {
		retirer := &fakeRetirer{envs: map[string]bool{"api/feature-x": true}}
		h := newHook(t, retirer)
		req := httptest.NewRequest(http.MethodPost, "/github/webhook", bytes.NewReader(body))
		req.Header.Set("X-Hub-Signature-256", signature)
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("Content-Type", contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		signed := signature == githubsim.Sign(hookSecret, body)
		if !signed && (rec.Code < 400 || len(retirer.calls()) > 0) {
			t.Fatalf("unsigned delivery answered %d and took down %v", rec.Code, retirer.calls())
		}
		if signed && rec.Code == http.StatusUnauthorized {
			t.Fatalf("a signed delivery was refused: %s", rec.Body.String())
		}
	})
}
