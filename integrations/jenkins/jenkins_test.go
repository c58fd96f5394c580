package jenkins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bndr/gojenkins"

	"github.com/hoistbot/hoist/internal/release"
)

func TestNewValidatesTheConfiguration(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		want string
	}{
		"no URL":            {Config{User: "u", Token: "t"}, "jenkins.url is empty"},
		"relative URL":      {Config{URL: "jenkins:8080", User: "u", Token: "t"}, "not an absolute http(s) URL"},
		"other scheme":      {Config{URL: "ftp://jenkins/", User: "u", Token: "t"}, "not an absolute http(s) URL"},
		"query":             {Config{URL: "http://jenkins/?a=b", User: "u", Token: "t"}, "query or fragment"},
		"credentials":       {Config{URL: "http://u:" + testToken + "@jenkins/", User: "u", Token: "t"}, "holds credentials"},
		"bad URL with cred": {Config{URL: "http://u:" + testToken + "@jen kins:x/", User: "u", Token: "t"}, "jenkins.url"},
		"token, no user":    {Config{URL: "http://jenkins/", Token: testToken}, "jenkins.user is empty"},
		"user, no token":    {Config{URL: "http://jenkins/", User: "u"}, "jenkins.token is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.cfg, nil)
			checkError(t, err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v; want it to say %q", err, tc.want)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{URL: "https://ci.example.com/jenkins", User: "u", Token: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.URL() != "https://ci.example.com/jenkins/" {
		t.Errorf("URL = %q", c.URL())
	}
	if c.hc.Timeout != DefaultTimeout {
		t.Errorf("timeout = %v", c.hc.Timeout)
	}
	if c.retry.Attempts != 5 || c.retry.Base != 200*time.Millisecond || c.retry.Max != 5*time.Second || c.poll != time.Second {
		t.Errorf("retry = %+v, poll = %v", c.retry, c.poll)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok || tr.TLSHandshakeTimeout != DefaultDialTimeout || tr.DialContext == nil {
		t.Errorf("transport = %#v", c.hc.Transport)
	}
}

func TestConfigNeverShowsTheToken(t *testing.T) {
	cfg := Config{URL: "http://jenkins/", User: "hoist", Token: testToken}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "jenkins", cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprintf("%v", &cfg), buf.String()} {
		if strings.Contains(s, testToken) || !strings.Contains(s, "<secret>") {
			t.Errorf("shows the token or hides it badly: %s", s)
		}
	}
}

func TestJobPath(t *testing.T) {
	for job, want := range map[string]string{
		"api":              "job/api/",
		"a/b":              "job/a/job/b/",
		"/a/b/":            "job/a/job/b/",
		"team/api staging": "job/team/job/api%20staging/",
		"a?b#c%d":          "job/a%3Fb%23c%25d/",
		"ä":                "job/%C3%A4/",
	} {
		got, err := jobPath(job)
		if err != nil || got != want {
			t.Errorf("jobPath(%q) = %q, %v; want %q", job, got, err, want)
		}
	}
	for _, job := range []string{"", "/", "a//b", "..", "a/../b", "./a"} {
		_, err := jobPath(job)
		checkError(t, err)
	}
}

func TestCheck(t *testing.T) {
	f := newFake(t, "/jenkins/")
	root := fixture(t, "root-api-json.modern-builtin-node.json")
	f.handle("GET /jenkins/api/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Jenkins", "2.479.1")
		serveJSON(root)(w, nil)
	})
	c := newTestClient(t, f.URL())
	v, err := c.Check(t.Context())
	if err != nil || v != "2.479.1" {
		t.Fatalf("Check = %q, %v", v, err)
	}

	wrong := newTestClient(t, f.URL(), func(cfg *Config) { cfg.Token = "wrong-token" })
	_, err = wrong.Check(t.Context())
	checkError(t, err)
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "jenkins rejected Hoist's credentials (401): check jenkins.user and jenkins.token") {
		t.Errorf("error = %v", err)
	}

	other := newFake(t, "/")
	other.handle("GET /api/json", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>hello</html>")) })
	_, err = newTestClient(t, other.URL()).Check(t.Context())
	checkError(t, err)
	if !strings.Contains(err.Error(), "check jenkins.url") {
		t.Errorf("error = %v", err)
	}
}

func TestConcurrentClientsDoNotRace(t *testing.T) {
	// gojenkins' Init re-creates its package loggers each time: two
	// clients starting at once raced. Run under -race.
	f := newFake(t, "/")
	f.handle("GET /api/json", serveJSON(fixture(t, "root-api-json.modern-builtin-node.json")))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c, err := New(Config{URL: f.URL(), User: testUser, Token: testToken}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := c.Check(t.Context()); err != nil {
				t.Error(err)
			}
			// What gojenkins does when it logs.
			if gojenkins.Error == nil || gojenkins.Warning == nil || gojenkins.Info == nil {
				t.Error("gojenkins' loggers are not set")
			}
		})
	}
	wg.Wait()
}

func TestErrorsSayWhatToDo(t *testing.T) {
	trigger := func(c *testClient) error {
		_, err := c.Trigger(context.Background(), release.BuildRequest{Job: "api/staging", Params: map[string]string{"A": "1"}})
		return err
	}
	for name, tc := range map[string]struct {
		handler http.HandlerFunc
		call    func(*testClient) error
		is      error
		want    string
	}{
		"401": {
			handler: status(http.StatusUnauthorized), call: trigger, is: ErrUnauthorized,
			want: `trigger jenkins job "api/staging": jenkins rejected Hoist's credentials (401): check jenkins.user and jenkins.token`,
		},
		"403 trigger": {
			handler: status(http.StatusForbidden), call: trigger, is: ErrForbidden,
			want: `trigger jenkins job "api/staging": jenkins user "hoist" may not trigger builds of api/staging: give it Job/Build and Job/Read on api/staging`,
		},
		"403 stop": {
			handler: status(http.StatusForbidden), is: ErrForbidden,
			call: func(c *testClient) error { return c.Stop(context.Background(), "api/staging", 3) },
			want: `jenkins user "hoist" may not stop builds of api/staging: give it Job/Cancel and Job/Read on api/staging`,
		},
		"403 crumb": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "No valid crumb was included in the request", http.StatusForbidden)
			},
			call: trigger, is: ErrForbidden, want: "use an API token as jenkins.token",
		},
		"404 job": {
			handler: http.NotFound, call: trigger, is: ErrJobNotFound,
			want: `trigger jenkins job "api/staging": no jenkins job "api/staging" at URL: check jenkins_job in the environment's configuration`,
		},
		"400": {
			handler: status(http.StatusBadRequest), call: trigger,
			want: `jenkins answered 400 Bad Request to POST job/api/job/staging/buildWithParameters`,
		},
		"redirect": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", "https://jenkins.example.com/login")
				w.WriteHeader(http.StatusFound)
			},
			call: func(c *testClient) error { _, err := c.Status(context.Background(), "api/staging", 3); return err },
			want: "check jenkins.url",
		},
		"500 exhausted": {
			handler: status(http.StatusInternalServerError), call: trigger, is: ErrUnreachable,
			want: `trigger jenkins job "api/staging": jenkins unreachable at URL after 5 tries: jenkins answered 500 Internal Server Error`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := newTestClient(t, srv.URL)
			err := tc.call(c)
			checkError(t, err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) is false", err, tc.is)
			}
			if want := strings.ReplaceAll(tc.want, "URL", srv.URL+"/"); !strings.Contains(err.Error(), want) {
				t.Errorf("error =\n%v\nwant it to contain\n%s", err, want)
			}
		})
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	for name, tc := range map[string]struct {
		fail     http.HandlerFunc
		failures int
		minWait  time.Duration
	}{
		"503": {fail: status(http.StatusServiceUnavailable), failures: 2},
		"502": {fail: status(http.StatusBadGateway), failures: 4},
		"429 with Retry-After": {
			fail: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			failures: 1, minWait: 2 * time.Second,
		},
		"connection reset": {
			fail: func(w http.ResponseWriter, _ *http.Request) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					if tc, ok := conn.(*net.TCPConn); ok {
						_ = tc.SetLinger(0) // RST, not FIN
					}
					_ = conn.Close()
				}
			},
			failures: 2,
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, "/")
			var calls atomic.Int32
			f.handle("GET /job/app/7/api/json", func(w http.ResponseWriter, r *http.Request) {
				if int(calls.Add(1)) <= tc.failures {
					tc.fail(w, r)
					return
				}
				serveJSON([]byte(`{"building":true,"result":null,"timestamp":1,"estimatedDuration":5}`))(w, r)
			})
			c := newTestClient(t, f.URL())
			st, err := c.Status(t.Context(), "app", 7)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Building {
				t.Errorf("status = %+v", st)
			}
			if got := int(calls.Load()); got != tc.failures+1 {
				t.Errorf("%d tries; want %d", got, tc.failures+1)
			}
			waits := c.sleep.recorded()
			if len(waits) != tc.failures {
				t.Fatalf("waits = %v", waits)
			}
			for i, w := range waits {
				// Base 200ms doubled each try, capped at 5s, upper half jittered.
				full := min(200*time.Millisecond<<i, 5*time.Second)
				if (w < full/2 || w > full) && w < tc.minWait {
					t.Errorf("wait %d = %v; want within [%v, %v]", i+1, w, full/2, full)
				}
				if w < tc.minWait {
					t.Errorf("wait %d = %v; want Retry-After's %v", i+1, w, tc.minWait)
				}
			}
		})
	}
}

func TestJenkinsDownIsReportedAfterTheRetries(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL + "/"
	srv.Close() // nothing listens there now
	c := newTestClient(t, u)
	_, err := c.Trigger(t.Context(), release.BuildRequest{Job: "app", Params: map[string]string{"A": "1"}})
	checkError(t, err)
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("error = %v", err)
	}
	if want := "jenkins unreachable at " + u + " after 5 tries: "; !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v; want it to contain %q", err, want)
	}
	if n := len(c.sleep.recorded()); n != 4 {
		t.Errorf("%d waits; want 4", n)
	}
}

func TestRetriesStopWithTheContext(t *testing.T) {
	srv := httptest.NewServer(status(http.StatusServiceUnavailable))
	defer srv.Close()
	ctx, cancel := context.WithCancel(t.Context())
	c := newTestClient(t, srv.URL, func(cfg *Config) {
		cfg.Retry.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	})
	_, err := c.Status(ctx, "app", 1)
	checkError(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v", err)
	}
}

func TestARequestTimeoutIsRetried(t *testing.T) {
	f := newFake(t, "/")
	var calls atomic.Int32
	f.handle("GET /job/app/1/api/json", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		serveJSON([]byte(`{"building":false,"result":"SUCCESS","timestamp":1,"estimatedDuration":5}`))(w, r)
	})
	c := newTestClient(t, f.URL(), func(cfg *Config) { cfg.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond} })
	st, err := c.Status(t.Context(), "app", 1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Result != "SUCCESS" || calls.Load() != 2 {
		t.Errorf("status = %+v after %d tries", st, calls.Load())
	}
}

func TestNoErrorShowsTheToken(t *testing.T) {
	// Every failure the client reports, gathered, with the token searched.
	handlers := []http.HandlerFunc{
		status(http.StatusUnauthorized), status(http.StatusForbidden), http.NotFound,
		status(http.StatusInternalServerError), status(http.StatusBadRequest),
		func(w http.ResponseWriter, r *http.Request) {
			// A server that echoes the request's headers.
			for k, v := range r.Header {
				w.Header()[k] = v
			}
			w.Header().Set("X-Error", r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusTeapot)
		},
	}
	for i, h := range handlers {
		srv := httptest.NewServer(h)
		c := newTestClient(t, srv.URL)
		ctx := context.Background()
		var errs []error
		_, err := c.Trigger(ctx, release.BuildRequest{Job: "a", Params: map[string]string{"A": "1"}})
		errs = append(errs, err)
		_, _, err = c.WaitForBuild(ctx, "a", 1)
		errs = append(errs, err)
		_, err = c.Status(ctx, "a", 1)
		errs = append(errs, err)
		_, err = c.ReadLog(ctx, "a", 1, 0)
		errs = append(errs, err)
		errs = append(errs, c.CancelQueued(ctx, 1), c.Stop(ctx, "a", 1))
		_, err = c.Check(ctx)
		errs = append(errs, err)
		for _, err := range errs {
			if err != nil && strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), testToken) {
				t.Errorf("handler %d: error shows the token: %v", i, err)
			}
			if err != nil {
				checkError(t, err)
			}
		}
		srv.Close()
	}
}
