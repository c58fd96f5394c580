package jenkins

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bndr/gojenkins"

	"github.com/hoistbot/hoist/internal/release"
)

// xErrorCrumb answers the crumb issuer with an X-Error header, as some
// proxies and plugins do. gojenkins' Requester.Do then returns no response,
// and SetCrumb dereferences it.
func xErrorCrumb(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Error", "crumb issuer exploded")
		serveCrumb(t)(w, r)
	}
}

// TestGojenkinsCrumbFetchIsBroken pins the gojenkins bugs worked around:
// should a later gojenkins fix them, this fails and addCrumb may go.
func TestGojenkinsCrumbFetchIsBroken(t *testing.T) {
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		xErrorCrumb(t)(w, r)
	}))
	defer srv.Close()
	req := &gojenkins.Requester{Base: srv.URL, Client: srv.Client()}
	defer func() {
		if recover() == nil {
			t.Error("gojenkins' SetCrumb did not panic on an X-Error answer")
		}
		if len(paths) != 1 || paths[0] != "/crumbIssuer/api/json/api/json" {
			t.Errorf("gojenkins asked for %v", paths)
		}
	}()
	_ = req.SetCrumb(context.Background(), gojenkins.NewAPIRequest(http.MethodPost, "", nil))
}

func TestAnXErrorCrumbIssuerDoesNotStopPosts(t *testing.T) {
	f := newFake(t, "/")
	f.crumbIssuer = xErrorCrumb(t)
	var next atomic.Int64
	f.handle("POST /job/app/buildWithParameters", queueLocation(&next))
	f.handle("POST /job/app/3/stop", status(http.StatusFound))
	f.handle("POST /queue/cancelItem", status(http.StatusNoContent))
	c := newTestClient(t, f.URL())

	if _, err := c.Trigger(t.Context(), release.BuildRequest{Job: "app", Params: map[string]string{"A": "1"}}); err != nil {
		t.Error(err)
	}
	if err := c.CancelQueued(t.Context(), 3); err != nil {
		t.Error(err)
	}
	if err := c.Stop(t.Context(), "app", 3); err != nil {
		t.Error(err)
	}
}

func TestAnUnusableCrumbIsReported(t *testing.T) {
	for name, issuer := range map[string]http.HandlerFunc{
		"not JSON":      func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>hi</html>")) },
		"no crumb":      serveJSON([]byte(`{"crumbRequestField":"Jenkins-Crumb"}`)),
		"wrong types":   serveJSON([]byte(`{"crumb":42,"crumbRequestField":["x"]}`)),
		"CSRF disabled": http.NotFound,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, "/")
			f.crumbIssuer = issuer
			var next atomic.Int64
			f.handle("POST /job/app/buildWithParameters", queueLocation(&next))
			c := newTestClient(t, f.URL())
			// The fake wants a crumb: the POST goes without and is refused.
			_, err := c.Trigger(t.Context(), release.BuildRequest{Job: "app", Params: map[string]string{"A": "1"}})
			checkError(t, err)
			if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "valid crumb") {
				t.Errorf("error = %v", err)
			}
		})
	}
}

func TestADroppedCrumbRequestIsRetried(t *testing.T) {
	f := newFake(t, "/")
	var drops atomic.Int32
	f.crumbIssuer = func(w http.ResponseWriter, r *http.Request) {
		if drops.Add(1) == 1 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		serveCrumb(t)(w, r)
	}
	var next atomic.Int64
	f.handle("POST /job/app/buildWithParameters", queueLocation(&next))
	c := newTestClient(t, f.URL())

	id, err := c.Trigger(t.Context(), release.BuildRequest{Job: "app", Params: map[string]string{"A": "1"}})
	if err != nil || id != 1 {
		t.Fatalf("Trigger = %d, %v", id, err)
	}
	if n := len(c.sleep.recorded()); n != 1 {
		t.Errorf("%d waits; want 1 retry", n)
	}
}

func TestAGojenkinsPanicBecomesAnError(t *testing.T) {
	c := newTestClient(t, "http://127.0.0.1:1/")
	err := c.guard(t.Context(), "testing", func(context.Context) error {
		var r *http.Response
		_ = r.StatusCode // what SetCrumb does
		return nil
	})
	checkError(t, err)
	if !strings.Contains(err.Error(), "gojenkins panicked while testing (runtime error: invalid memory address") {
		t.Errorf("error = %v", err)
	}
}

func TestCheckSurvivesAnXErrorAnswer(t *testing.T) {
	// Check goes through gojenkins' GetJSON, which fails on X-Error.
	srv := httptest.NewServer(xErrorCrumb(t))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	_, err := c.Check(t.Context())
	checkError(t, err)
	if !strings.Contains(err.Error(), "crumb issuer exploded") {
		t.Errorf("error = %v", err)
	}
}
