package jenkins

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoistbot/hoist/internal/release"
)

// Jenkins' root URL as configured in Jenkins, which Hoist cannot reach.
const rootURL = "http://jenkins.internal.invalid:8080/jenkins/"

// queueLocation answers triggers as Jenkins does: 201 and the new queue
// item under Jenkins' root URL.
func queueLocation(next *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", fmt.Sprintf("%squeue/item/%d/", rootURL, next.Add(1)))
		w.WriteHeader(http.StatusCreated)
	}
}

func TestTriggerReadsEachQueueItemFromLocation(t *testing.T) {
	// gojenkins' InvokeSimple returns queue item 0 when the job already
	// has an item queued; two triggers in a row must give two items.
	f := newFake(t, "/jenkins/")
	var next atomic.Int64
	next.Store(70)
	f.handle("POST /jenkins/job/team/job/api%20staging/buildWithParameters", queueLocation(&next))
	c := newTestClient(t, f.URL())

	req := release.BuildRequest{Job: "team/api staging", Params: map[string]string{"HOIST_RELEASE": "42", "SHA": "abc123"}}
	first, err := c.Trigger(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Trigger(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if first != 71 || second != 72 {
		t.Errorf("queue items = %d, %d; want 71, 72", first, second)
	}
	var posts []seen
	for _, s := range f.requests() {
		if s.Method == http.MethodPost {
			posts = append(posts, s)
		}
	}
	if len(posts) != 2 {
		t.Fatalf("%d POSTs; want 2: %+v", len(posts), f.requests())
	}
	for _, p := range posts {
		if p.Form.Get("HOIST_RELEASE") != "42" || p.Form.Get("SHA") != "abc123" {
			t.Errorf("form = %v", p.Form)
		}
		if p.Crumb != testCrumb {
			t.Errorf("crumb = %q", p.Crumb)
		}
	}
	checkPaths(t, f)
}

func TestTriggerWithoutParamsPostsBuild(t *testing.T) {
	f := newFake(t, "/")
	var next atomic.Int64
	f.handle("POST /job/deploy/build", queueLocation(&next))
	c := newTestClient(t, f.URL())
	id, err := c.Trigger(t.Context(), release.BuildRequest{Job: "deploy"})
	if err != nil || id != 1 {
		t.Fatalf("Trigger = %d, %v", id, err)
	}
}

func TestTriggerNeedsAQueueItemLocation(t *testing.T) {
	for name, loc := range map[string]string{
		"missing":       "",
		"job page":      rootURL + "job/deploy/",
		"not a number":  rootURL + "queue/item/abc/",
		"zero":          rootURL + "queue/item/0/",
		"no item":       rootURL + "queue/",
		"no ID":         "queue/item/",
		"negative item": rootURL + "queue/item/-3/",
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, "/")
			f.handle("POST /job/deploy/buildWithParameters", func(w http.ResponseWriter, _ *http.Request) {
				if loc != "" {
					w.Header().Set("Location", loc)
				}
				w.WriteHeader(http.StatusCreated)
			})
			c := newTestClient(t, f.URL())
			_, err := c.Trigger(t.Context(), release.BuildRequest{Job: "deploy", Params: map[string]string{"A": "1"}})
			checkError(t, err)
			if !strings.Contains(err.Error(), "Hoist cannot follow the build") {
				t.Errorf("error = %v", err)
			}
			if n := f.count("POST /job/deploy/buildWithParameters"); n != 1 {
				t.Errorf("%d POSTs; want 1, not retried", n)
			}
		})
	}
}

func TestQueueIDFromLocation(t *testing.T) {
	for loc, want := range map[string]int64{
		"http://root:8080/queue/item/71/":          71,
		"http://root:8080/jenkins/queue/item/9":    9,
		"/queue/item/123456789012/":                123456789012,
		"https://ci.example.com/x/y/queue/item/5/": 5,
	} {
		got, err := queueIDFromLocation(loc)
		if err != nil || got != want {
			t.Errorf("queueIDFromLocation(%q) = %d, %v; want %d", loc, got, err, want)
		}
	}
}

func TestWaitForBuildEndsOnACancelledItem(t *testing.T) {
	// gojenkins' GetBuildFromQueueID polls this item forever.
	f := newFake(t, "/")
	f.handle("GET /queue/item/143/api/json", serveJSON(fixture(t, "queue-item-cancelled.jenkins-rest.json")))
	c := newTestClient(t, f.URL())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	_, _, err := c.WaitForBuild(ctx, "test", 143)
	checkError(t, err)
	if !errors.Is(err, release.ErrNotBuilt) || !strings.Contains(err.Error(), "cancelled in Jenkins' queue") {
		t.Errorf("error = %v", err)
	}
	if n := f.count("GET /queue/item/143/api/json"); n != 1 {
		t.Errorf("%d polls; want 1", n)
	}
}

func TestWaitForBuildEndsOnAnExpiredItem(t *testing.T) {
	f := newFake(t, "/")
	// The queue item is gone (404 by default); the job's builds came from
	// other items.
	f.handle("GET /job/test/api/json", serveJSON([]byte(`{"builds":[{"number":15,"queueId":150},{"number":14,"queueId":140}]}`)))
	c := newTestClient(t, f.URL())

	_, _, err := c.WaitForBuild(t.Context(), "test", 143)
	checkError(t, err)
	if !errors.Is(err, release.ErrNotBuilt) || !strings.Contains(err.Error(), "queue item expired") {
		t.Errorf("error = %v", err)
	}
}

func TestWaitForBuildFindsTheBuildOfAnExpiredItem(t *testing.T) {
	// Hoist resuming after Jenkins has forgotten the item: the build it
	// became is still found.
	f := newFake(t, "/")
	f.handle("GET /job/test/api/json", serveJSON([]byte(`{"builds":[{"number":15,"queueId":150},{"number":14,"queueId":143}]}`)))
	c := newTestClient(t, f.URL())

	n, u, err := c.WaitForBuild(t.Context(), "test", 143)
	if err != nil {
		t.Fatal(err)
	}
	if n != 14 || u != f.URL()+"job/test/14/" {
		t.Errorf("WaitForBuild = %d, %q", n, u)
	}
}

func TestWaitForBuildAsksEachBuildWhenTheListLacksQueueIDs(t *testing.T) {
	// A job list without queue IDs (tree ignored): the newest builds are
	// asked one by one.
	f := newFake(t, "/")
	f.handle("GET /job/test/api/json", serveJSON([]byte(`{"builds":[{"number":16,"url":"x"},{"number":15,"url":"x"},{"number":14,"url":"x"}]}`)))
	for n, q := range map[string]string{"16": "160", "15": "143", "14": "140"} {
		f.handle("GET /job/test/"+n+"/api/json", serveJSON([]byte(`{"number":`+n+`,"queueId":`+q+`}`)))
	}
	c := newTestClient(t, f.URL())
	n, _, err := c.WaitForBuild(t.Context(), "test", 143)
	if err != nil || n != 15 {
		t.Fatalf("WaitForBuild = %d, %v; want 15", n, err)
	}
	if f.count("GET /job/test/14/api/json") != 0 {
		t.Error("asked past the build found")
	}
}

func TestFindBuildInTheQueue(t *testing.T) {
	// Jenkins behind /ci/, its root URL elsewhere; parameters as real
	// Jenkins gives them (a boolean is a JSON boolean).
	f := newFake(t, "/ci/")
	f.handle("GET /ci/queue/api/json", serveJSON([]byte(`{"_class":"hudson.model.Queue","items":[
		{"_class":"hudson.model.Queue$WaitingItem","actions":[{"_class":"hudson.model.ParametersAction","parameters":[
			{"_class":"hudson.model.StringParameterValue","name":"RELEASE_ID","value":"7"}]}],
			"id":150,"task":{"_class":"x","name":"test","url":"https://ci.example.com/jenkins/job/other/job/test/"}},
		{"_class":"hudson.model.Queue$BuildableItem","actions":[{"_class":"hudson.model.CauseAction"},{},
			{"_class":"hudson.model.ParametersAction","parameters":[
				{"_class":"hudson.model.BooleanParameterValue","name":"DRY_RUN","value":true},
				{"_class":"hudson.model.StringParameterValue","name":"RELEASE_ID","value":"7"}]}],
			"id":151,"task":{"_class":"x","name":"test","url":"https://ci.example.com/jenkins/job/test/"}}]}`)))
	c := newTestClient(t, f.URL())
	b, ok, err := c.FindBuild(t.Context(), "test", 7)
	if err != nil || !ok || b != (release.FoundBuild{QueueID: 151}) {
		t.Errorf("FindBuild = %+v, %v, %v; want queue item 151", b, ok, err)
	}
	if f.count("GET /ci/job/test/api/json") != 0 {
		t.Error("listed the builds of a release found in the queue")
	}
}

func TestFindBuildAsksEachBuildWhenTheListLacksThem(t *testing.T) {
	// A queue without the release, and a job list without queue IDs nor
	// parameters (tree ignored): the newest builds are asked one by one.
	f := newFake(t, "/")
	f.handle("GET /queue/api/json", serveJSON([]byte(`{"_class":"hudson.model.Queue","items":[]}`)))
	f.handle("GET /job/test/api/json", serveJSON([]byte(`{"builds":[{"number":16,"url":"x"},{"number":15,"url":"x"},{"number":14,"url":"x"}]}`)))
	for n, rid := range map[string]string{"16": "8", "15": "7", "14": "6"} {
		f.handle("GET /job/test/"+n+"/api/json", serveJSON([]byte(`{"number":`+n+`,"queueId":1`+n+`,"actions":[`+
			`{"_class":"hudson.model.ParametersAction","parameters":[{"_class":"hudson.model.StringParameterValue","name":"RELEASE_ID","value":"`+rid+`"}]}]}`)))
	}
	c := newTestClient(t, f.URL())
	b, ok, err := c.FindBuild(t.Context(), "test", 7)
	if want := (release.FoundBuild{QueueID: 115, Number: 15, URL: f.URL() + "job/test/15/"}); err != nil || !ok || b != want {
		t.Fatalf("FindBuild = %+v, %v, %v; want %+v", b, ok, err, want)
	}
	if f.count("GET /job/test/14/api/json") != 0 {
		t.Error("asked past the build found")
	}
	if _, ok, err := c.FindBuild(t.Context(), "test", 9); ok || err != nil {
		t.Errorf("FindBuild of another release = %v, %v; want none", ok, err)
	}
}

func TestIsJobURL(t *testing.T) {
	for _, tt := range []struct {
		u, job string
		want   bool
	}{
		{"http://jenkins:8080/job/api/", "api", true},
		{"https://ci.example.com/jenkins/job/team/job/api/", "team/api", true},
		{"https://ci.example.com/jenkins/job/team/job/api", "/team/api/", true},
		{"http://jenkins/job/my%20app/", "my app", true},
		{"http://jenkins/job/team/job/api/", "api", false},
		{"http://jenkins/job/api/", "team/api", false},
		{"http://jenkins/job/api/12/", "api", false},
		{"http://jenkins/job/api-staging/", "api", false},
		{"", "api", false},
	} {
		if got := isJobURL(tt.u, tt.job); got != tt.want {
			t.Errorf("isJobURL(%q, %q) = %v", tt.u, tt.job, got)
		}
	}
}

func TestWaitForBuildPollsUntilTheItemIsBuilt(t *testing.T) {
	f := newFake(t, "/ci/")
	answers := [][]byte{
		fixture(t, "queue-item-waiting.api4jenkins.json"),
		fixture(t, "queue-item-blocked.jenkins-rest.json"),
		fixture(t, "queue-item-blocked.jenkins-rest.json"),
		[]byte(`{"_class":"hudson.model.Queue$LeftItem","cancelled":false,"executable":null,"why":null}`),
		fixture(t, "queue-item-left-executable.jenkins-rest.json"),
	}
	var polls atomic.Int32
	f.handle("GET /ci/queue/item/143/api/json", func(w http.ResponseWriter, _ *http.Request) {
		i := min(int(polls.Add(1))-1, len(answers)-1)
		serveJSON(answers[i])(w, nil)
	})
	c := newTestClient(t, f.URL(), func(cfg *Config) { cfg.PollInterval = 250 * time.Millisecond })

	n, u, err := c.WaitForBuild(t.Context(), "test", 143)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture's executable url is http://localhost:8082/job/test/14/:
	// the URL returned is made from Config.URL instead.
	if n != 14 || u != f.URL()+"job/test/14/" {
		t.Errorf("WaitForBuild = %d, %q; want 14, %q", n, u, f.URL()+"job/test/14/")
	}
	if got := polls.Load(); got != 5 {
		t.Errorf("%d polls; want 5", got)
	}
	waits := c.sleep.recorded()
	if len(waits) != 4 {
		t.Errorf("waits = %v; want 4 poll intervals", waits)
	}
	for _, w := range waits {
		if w != 250*time.Millisecond {
			t.Errorf("wait %v; want the poll interval", w)
		}
	}
	logs := c.logs.String()
	for _, why := range []string{"In the quiet period. Expires in 4.6 sec", "Build #9 is already in progress (ETA:15 sec)"} {
		if !strings.Contains(logs, why) {
			t.Errorf("logs do not report why %q:\n%s", why, logs)
		}
	}
	if strings.Count(logs, "Build #9 is already in progress") != 1 {
		t.Errorf("an unchanged why is logged again:\n%s", logs)
	}
	checkPaths(t, f)
}

func TestWaitForBuildStopsWithItsContext(t *testing.T) {
	f := newFake(t, "/")
	f.handle("GET /queue/item/7/api/json", serveJSON(fixture(t, "queue-item-waiting.api4jenkins.json")))
	c := newTestClient(t, f.URL(), func(cfg *Config) { cfg.Retry.Sleep = nil })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, _, err := c.WaitForBuild(ctx, "test", 7)
	checkError(t, err)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v", err)
	}
}

func TestStatus(t *testing.T) {
	for name, tc := range map[string]struct {
		body string
		want release.BuildStatus
	}{
		"succeeded (freestyle, boolean parameter)": {
			body: string(fixture(t, "build-freestyle-bool-param.jenkins-rest.json")),
			want: release.BuildStatus{Result: "SUCCESS", Started: time.UnixMilli(1461091892486), Estimated: 60258 * time.Millisecond},
		},
		"failed (pipeline)": {
			body: string(fixture(t, "build-workflowrun.api4jenkins.json")),
			want: release.BuildStatus{Result: "FAILURE", Started: time.UnixMilli(1559281453240), Estimated: 197743 * time.Millisecond},
		},
		"first build, running": {
			body: `{"building":true,"result":null,"timestamp":1700000000000,"estimatedDuration":-1,"url":"http://elsewhere/job/x/1/"}`,
			want: release.BuildStatus{Building: true, Started: time.UnixMilli(1700000000000), Estimated: -1},
		},
		"pipeline with an early result, still running": {
			body: `{"building":true,"result":"FAILURE","timestamp":1700000000000,"estimatedDuration":1000}`,
			want: release.BuildStatus{Building: true, Started: time.UnixMilli(1700000000000), Estimated: time.Second},
		},
		"no estimate given": {
			body: `{"building":false,"result":"ABORTED","timestamp":1700000000000}`,
			want: release.BuildStatus{Result: "ABORTED", Started: time.UnixMilli(1700000000000), Estimated: -1},
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, "/")
			f.handle("GET /job/folder/job/app/12/api/json", serveJSON([]byte(tc.body)))
			c := newTestClient(t, f.URL())
			got, err := c.Status(t.Context(), "folder/app", 12)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.URL = f.URL() + "job/folder/job/app/12/"
			if got != tc.want {
				t.Errorf("Status =\n%+v\nwant\n%+v", got, tc.want)
			}
			if got.Estimated >= 0 != (tc.want.Estimated >= 0) {
				t.Errorf("Estimated = %v", got.Estimated)
			}
		})
	}
}

// growingLog serves logText/progressiveText as Jenkins does for a build
// that writes lines between polls: from start on, up to the last complete
// line while running, with X-Text-Size and X-More-Data.
type growingLog struct {
	mu     sync.Mutex
	log    []byte
	steps  int // lines still to write, one batch per request
	served int
}

func (g *growingLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.steps > 0 {
		for i := range 7 {
			g.log = fmt.Appendf(g.log, "step %d line %d: ünïcode ✓\n", g.steps, i)
		}
		g.log = append(g.log, "partial line wit"...) // not yet complete
		g.steps--
	} else if !strings.HasSuffix(string(g.log), "\n") {
		g.log = append(g.log, "hout end\nFinished: SUCCESS\n"...)
	}
	running := g.steps > 0
	start, err := strconv.Atoi(r.URL.Query().Get("start"))
	if err != nil || start > len(g.log) {
		start = 0
	}
	end := len(g.log)
	if running {
		end = strings.LastIndexByte(string(g.log), '\n') + 1
	}
	if start > end {
		end = start
	}
	w.Header().Set("X-Text-Size", strconv.Itoa(end))
	if running {
		w.Header().Set("X-More-Data", "true")
	}
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	g.served += end - start
	_, _ = w.Write(g.log[start:end])
}

func TestReadLogStreamsOnlyWhatIsNew(t *testing.T) {
	f := newFake(t, "/")
	g := &growingLog{steps: 5}
	f.handle("GET /job/a/job/b/3/logText/progressiveText", g.ServeHTTP)
	c := newTestClient(t, f.URL())

	var got []byte
	var offset int64
	for reads := 0; ; reads++ {
		if reads > 20 {
			t.Fatal("the log never ended")
		}
		chunk, err := c.ReadLog(t.Context(), "a/b", 3, offset)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, chunk.Data...)
		if chunk.Next != offset+int64(len(chunk.Data)) {
			t.Errorf("Next = %d after %d bytes from %d", chunk.Next, len(chunk.Data), offset)
		}
		offset = chunk.Next
		if !chunk.More {
			break
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if string(got) != string(g.log) {
		t.Errorf("log read =\n%s\nwant\n%s", got, g.log)
	}
	if g.served != len(g.log) {
		t.Errorf("%d bytes served for a log of %d: some were fetched again", g.served, len(g.log))
	}
	for _, s := range f.requests() {
		if s.Path != "/job/a/job/b/3/logText/progressiveText" {
			t.Errorf("request to %s", s.Path)
		}
	}
}

func TestReadLogWithoutTextSizeCountsTheBytes(t *testing.T) {
	f := newFake(t, "/")
	f.handle("GET /job/a/3/logText/progressiveText", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("abc\n"))
	})
	c := newTestClient(t, f.URL())
	chunk, err := c.ReadLog(t.Context(), "a", 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if chunk.Next != 14 || chunk.More {
		t.Errorf("chunk = %+v", chunk)
	}
}

func TestCancelQueued(t *testing.T) {
	for _, code := range []int{http.StatusFound, http.StatusNoContent, http.StatusOK, http.StatusNotFound} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			f := newFake(t, "/")
			f.handle("POST /queue/cancelItem", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("id") != "71" {
					t.Errorf("id = %q", r.URL.Query().Get("id"))
				}
				if code == http.StatusFound {
					w.Header().Set("Location", rootURL+"queue/")
				}
				w.WriteHeader(code)
			})
			c := newTestClient(t, f.URL())
			if err := c.CancelQueued(t.Context(), 71); err != nil {
				t.Fatal(err)
			}
			if n := f.count("POST /queue/cancelItem"); n != 1 {
				t.Errorf("%d POSTs", n)
			}
			checkPaths(t, f)
		})
	}
}

func TestStop(t *testing.T) {
	f := newFake(t, "/")
	f.handle("POST /job/a/job/b/5/stop", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", rootURL+"job/a/job/b/5/")
		w.WriteHeader(http.StatusFound)
	})
	c := newTestClient(t, f.URL())
	if err := c.Stop(t.Context(), "a/b", 5); err != nil {
		t.Fatal(err)
	}
	checkPaths(t, f)
}

func TestMissingBuildOrJob(t *testing.T) {
	f := newFake(t, "/")
	f.handle("GET /job/app/api/json", serveJSON([]byte(`{"name":"app"}`)))
	c := newTestClient(t, f.URL())
	calls := map[string]func(job string) error{
		"status": func(job string) error { _, err := c.Status(t.Context(), job, 99); return err },
		"log":    func(job string) error { _, err := c.ReadLog(t.Context(), job, 99, 0); return err },
		"stop":   func(job string) error { return c.Stop(t.Context(), job, 99) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call("app")
			checkError(t, err)
			if !errors.Is(err, ErrBuildNotFound) || errors.Is(err, ErrJobNotFound) {
				t.Errorf("missing build: %v", err)
			}
			err = call("gone")
			checkError(t, err)
			if !errors.Is(err, ErrJobNotFound) {
				t.Errorf("missing job: %v", err)
			}
			if !strings.Contains(err.Error(), `no jenkins job "gone" at `+f.URL()+": check jenkins_job in the environment's configuration") {
				t.Errorf("missing job: %v", err)
			}
		})
	}
}

// checkPaths checks that every request went to a path built from the
// configured URL: under its prefix, without double slashes.
func checkPaths(t *testing.T, f *fake) {
	t.Helper()
	for _, s := range f.requests() {
		if !strings.HasPrefix(s.Path, f.prefix) || strings.Contains(s.Path, "//") {
			t.Errorf("request to %s %s", s.Method, s.Path)
		}
	}
}
