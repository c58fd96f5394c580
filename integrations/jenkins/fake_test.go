package jenkins

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testUser  = "hoist"
	testToken = "s3cr3t-jenkins-token-never-shown"
	testCrumb = "6e78c5725ea0c522bdcb787d548465aa"
)

// seen is one request the fake received.
type seen struct {
	Method string
	Path   string // escaped
	Query  url.Values
	Form   url.Values
	Crumb  string
}

// fake is a per-test Jenkins: it checks basic authentication, issues
// crumbs (crumbIssuer.json), records every request and hands the rest to
// route, keyed "METHOD /escaped/path" (the prefix included).
type fake struct {
	t      *testing.T
	srv    *httptest.Server
	prefix string // path Jenkins is served under, e.g. "/jenkins/"

	mu     sync.Mutex
	seen   []seen
	routes map[string]http.HandlerFunc
	// crumbIssuer, when set, replaces the crumb issuer.
	crumbIssuer http.HandlerFunc
}

func newFake(t *testing.T, prefix string) *fake {
	t.Helper()
	f := &fake{t: t, prefix: prefix, routes: map[string]http.HandlerFunc{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the address the client is configured with.
func (f *fake) URL() string { return f.srv.URL + f.prefix }

func (f *fake) handle(key string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[key] = h
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.seen...)
}

// count counts the requests whose "METHOD path" is key.
func (f *fake) count(key string) int {
	n := 0
	for _, s := range f.requests() {
		if s.Method+" "+s.Path == key {
			n++
		}
	}
	return n
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	form := url.Values{}
	if r.Method == http.MethodPost {
		form = r.PostForm
	}
	s := seen{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), Form: form, Crumb: r.Header.Get("Jenkins-Crumb")}
	f.mu.Lock()
	f.seen = append(f.seen, s)
	h := f.routes[r.Method+" "+s.Path]
	crumbIssuer := f.crumbIssuer
	f.mu.Unlock()

	if u, p, ok := r.BasicAuth(); !ok || u != testUser || p != testToken {
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
		http.Error(w, "<html>Unauthorized</html>", http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet && s.Path == f.prefix+"crumbIssuer/api/json" {
		if crumbIssuer != nil {
			crumbIssuer(w, r)
			return
		}
		serveCrumb(f.t)(w, r)
		return
	}
	if ck, err := r.Cookie(sessionCookie); r.Method == http.MethodPost && (s.Crumb != testCrumb || err != nil || ck.Value != sessionID) {
		http.Error(w, "No valid crumb was included in the request", http.StatusForbidden)
		return
	}
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// Jenkins ties crumbs to the web session.
const (
	sessionCookie = "JSESSIONID.5ea3a8b1"
	sessionID     = "node01xyz"
)

// serveCrumb answers the crumb issuer as Jenkins does.
func serveCrumb(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sessionID, Path: "/", HttpOnly: true})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(fixture(t, "crumbIssuer.json"))
	}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func serveJSON(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sleeper records the waits asked for and returns at once.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

type testClient struct {
	*Client
	logs  *lockedBuffer
	sleep *sleeper
}

// newTestClient makes a client of url with the test credentials, a
// recording sleeper, a 1ms poll interval and debug logs kept; at the end of
// the test it checks that the logs never showed the token.
func newTestClient(t *testing.T, u string, edit ...func(*Config)) *testClient {
	t.Helper()
	logs := &lockedBuffer{}
	sl := &sleeper{}
	cfg := Config{
		URL: u, User: testUser, Token: testToken,
		Retry:        RetryPolicy{Sleep: sl.Sleep},
		PollInterval: time.Millisecond,
	}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testToken) {
			t.Errorf("the logs show the token:\n%s", logs)
		}
	})
	return &testClient{Client: c, logs: logs, sleep: sl}
}

// checkError checks what every error of the client must be: lower-case,
// without the token.
func checkError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	basic := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testToken))
	if strings.Contains(msg, testToken) || strings.Contains(msg, basic) {
		t.Errorf("error shows the token: %s", msg)
	}
	if first := msg[:1]; first != strings.ToLower(first) {
		t.Errorf("error is not lower-case: %s", msg)
	}
}
