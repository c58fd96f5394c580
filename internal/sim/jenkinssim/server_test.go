package jenkinssim

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRootJSONAndHeaders(t *testing.T) {
	s := newServer(t, WithJob("app", Job{}), WithJob("team/api", Job{}))
	if s.URL() == s.RootURL() {
		t.Fatalf("URL %q should differ from RootURL", s.URL())
	}
	if s.RootURL() != DefaultRootURL {
		t.Errorf("RootURL = %q, want %q", s.RootURL(), DefaultRootURL)
	}
	for _, path := range []string{"api/json", "api/json/", "/api/json?tree=jobs[name,url]&depth=2", "api/json?depth=1"} {
		r := call(t, s, http.MethodGet, path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, r.status)
		}
		if got := r.header.Get("X-Jenkins"); got != Version {
			t.Errorf("GET %s: X-Jenkins = %q", path, got)
		}
	}
	root := getJSON(t, s, "api/json")
	if root["_class"] != ClassHudson || root["url"] != s.RootURL() || root["useCrumbs"] != true {
		t.Errorf("root: _class %v url %v useCrumbs %v", root["_class"], root["url"], root["useCrumbs"])
	}
	jobs, _ := root["jobs"].([]any)
	want := []string{
		"app " + ClassWorkflowJob + " " + s.RootURL() + "job/app/",
		"team " + ClassFolder + " " + s.RootURL() + "job/team/",
	}
	var got []string
	for _, j := range jobs {
		m := j.(map[string]any)
		got = append(got, str(m["name"])+" "+str(m["_class"])+" "+str(m["url"]))
	}
	if !slices.Equal(got, want) {
		t.Errorf("root jobs = %q, want %q", got, want)
	}
	if app := jobs[0].(map[string]any); app["color"] != "notbuilt" {
		t.Errorf("app color = %v, want notbuilt", app["color"])
	}

	// Errors carry the header too.
	r := call(t, s, http.MethodGet, "job/nope/api/json", nil)
	if r.status != http.StatusNotFound || r.header.Get("X-Jenkins") != Version {
		t.Errorf("unknown job: %d X-Jenkins %q", r.status, r.header.Get("X-Jenkins"))
	}
}

func TestCrumbIssuer(t *testing.T) {
	s := newServer(t)
	c := getJSON(t, s, "crumbIssuer/api/json")
	if c["_class"] != ClassCrumbIssuer || c["crumbRequestField"] != "Jenkins-Crumb" || len(str(c["crumb"])) != 64 {
		t.Errorf("crumb = %v", c)
	}
}

func TestAuth(t *testing.T) {
	s := newServer(t, WithJob("app", Job{}))

	anon := callAs(t, s, "", "", http.MethodGet, "api/json", nil)
	if anon.status != http.StatusForbidden {
		t.Errorf("anonymous: status %d, want 403 like Jenkins", anon.status)
	}
	if got := anon.header.Get("X-You-Are-Authenticated-As"); got != "anonymous" {
		t.Errorf("anonymous: X-You-Are-Authenticated-As %q", got)
	}
	if !bytes.Contains(anon.body, []byte("Authentication required")) || anon.header.Get("X-Jenkins") != Version {
		t.Errorf("anonymous: body %s, X-Jenkins %q", anon.body, anon.header.Get("X-Jenkins"))
	}

	bad := callAs(t, s, DefaultUser, "wrong-token", http.MethodPost, "job/app/buildWithParameters", url.Values{})
	if bad.status != http.StatusUnauthorized {
		t.Errorf("wrong token: status %d, want 401", bad.status)
	}
	if got := bad.header.Get("WWW-Authenticate"); got != `Basic realm="Jenkins"` {
		t.Errorf("wrong token: WWW-Authenticate %q", got)
	}
	if bytes.Contains(bad.body, []byte("wrong-token")) {
		t.Errorf("401 body echoes the token: %s", bad.body)
	}
	if n := len(s.Builds("app")); n != 0 {
		t.Errorf("unauthorized trigger made %d builds", n)
	}
	if _, ok := s.QueueItem(DefaultFirstQueueID); ok {
		t.Error("unauthorized trigger made a queue item")
	}

	custom := newServer(t, WithCredentials("alice", "s3cret"))
	if r := callAs(t, custom, "alice", "s3cret", http.MethodGet, "api/json", nil); r.status != http.StatusOK {
		t.Errorf("custom credentials: %d", r.status)
	}
	if r := callAs(t, custom, DefaultUser, DefaultToken, http.MethodGet, "api/json", nil); r.status != http.StatusUnauthorized {
		t.Errorf("default credentials on custom server: %d", r.status)
	}

	open := newServer(t, WithCredentials("", ""))
	if r := callAs(t, open, "", "", http.MethodGet, "api/json", nil); r.status != http.StatusOK {
		t.Errorf("open server, anonymous: %d", r.status)
	}
}

func TestTrigger(t *testing.T) {
	s := newServer(t, WithJob("app", Job{QueueWait: time.Hour}), WithJob("team/api", Job{QueueWait: time.Hour}),
		WithJob("plain", Job{QueueWait: time.Hour, Params: []Param{}}))

	r := call(t, s, http.MethodPost, "job/app/buildWithParameters", url.Values{"APP": {"shop"}, "REF": {"v1.2.3"}})
	if r.status != http.StatusCreated || len(r.body) != 0 {
		t.Fatalf("trigger: %d %q", r.status, r.body)
	}
	// Jenkins builds Location from the request (scheme, Host, context path),
	// not from the configured root URL.
	wantLoc := fmt.Sprintf("%squeue/item/%d/", s.URL(), DefaultFirstQueueID)
	if loc := r.header.Get("Location"); loc != wantLoc {
		t.Errorf("Location = %q, want %q", loc, wantLoc)
	}
	it, ok := s.QueueItem(DefaultFirstQueueID)
	if !ok || it.Job != "app" || it.Params["APP"] != "shop" || it.Params["REF"] != "v1.2.3" || it.Params["ENVIRONMENT"] != "staging" {
		t.Errorf("queue item = %+v, %v", it, ok)
	}

	// Query parameters work too, in folders, and GET is let through for
	// requests authenticated with an API token.
	id := queueIDFromLocation(t, call(t, s, http.MethodPost, "job/team/job/api/buildWithParameters?APP=api&UNDEFINED=x", url.Values{}).header.Get("Location"))
	if it, _ := s.QueueItem(id); it.Job != "team/api" || it.Params["APP"] != "api" || it.Params["UNDEFINED"] != "" || len(it.Params) != 7 {
		t.Errorf("folder trigger: %+v", it)
	}
	if r := call(t, s, http.MethodGet, "job/app/buildWithParameters?APP=x", nil); r.status != http.StatusCreated {
		t.Errorf("GET buildWithParameters with a token: %d", r.status)
	}

	for _, tc := range []struct {
		method, path string
		form         url.Values
		want         int
	}{
		{http.MethodPost, "job/nope/buildWithParameters", url.Values{}, http.StatusNotFound},
		{http.MethodPost, "job/team/buildWithParameters", url.Values{}, http.StatusNotFound},
		{http.MethodPost, "job/team/job/nope/buildWithParameters", url.Values{}, http.StatusNotFound},
		{http.MethodPost, "job/app/build", url.Values{}, http.StatusBadRequest}, // parameterized: "Nothing is submitted"
		{http.MethodPost, "job/app/build", url.Values{"json": {`{"parameter":[{"name":"APP","value":"json-app"}]}`}}, http.StatusCreated},
		{http.MethodPost, "job/plain/build", url.Values{}, http.StatusCreated},
		{http.MethodPost, "job/plain/buildWithParameters", url.Values{}, http.StatusBadRequest}, // not parameterized
	} {
		r := call(t, s, tc.method, tc.path, tc.form)
		if r.status != tc.want {
			t.Errorf("%s %s: %d, want %d (%s)", tc.method, tc.path, r.status, tc.want, r.body)
		}
		if r.status == http.StatusCreated {
			id := queueIDFromLocation(t, r.header.Get("Location"))
			it, _ := s.QueueItem(id)
			if strings.Contains(tc.form.Get("json"), "json-app") && it.Params["APP"] != "json-app" {
				t.Errorf("/build json form: params %v", it.Params)
			}
		}
	}
	if r := callAs(t, newServer(t, WithCredentials("", ""), WithJob("app", Job{})), "", "", http.MethodGet, "job/app/buildWithParameters", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("anonymous GET buildWithParameters: %d, want 405", r.status)
	}
}

func TestQueueLifecycle(t *testing.T) {
	s := newServer(t, WithJob("app", Job{QueueWait: 600 * time.Millisecond, Duration: 100 * time.Millisecond, Lines: 3}))
	id := trigger(t, s, "app", url.Values{"APP": {"shop"}})
	path := fmt.Sprintf("queue/item/%d/api/json", id)

	var seen []string
	var left map[string]any
	waitFor(t, "item to leave the queue", 5*time.Second, func() bool {
		m := getJSON(t, s, path)
		class := str(m["_class"])
		if len(seen) == 0 || seen[len(seen)-1] != class {
			seen = append(seen, class)
			switch class {
			case ClassWaitingItem:
				if !strings.HasPrefix(str(m["why"]), "In the quiet period. Expires in ") || m["timestamp"] == nil || m["buildable"] != false {
					t.Errorf("waiting item: why %v timestamp %v buildable %v", m["why"], m["timestamp"], m["buildable"])
				}
				if _, ok := m["executable"]; ok {
					t.Error("waiting item has an executable key")
				}
				job := getJSON(t, s, "job/app/api/json")
				if job["inQueue"] != true || job["queueItem"] == nil {
					t.Errorf("job while queued: inQueue %v queueItem %v", job["inQueue"], job["queueItem"])
				}
			case ClassBuildableItem:
				if m["why"] != "Waiting for next available executor" || m["buildable"] != true || m["buildableStartMilliseconds"] == nil {
					t.Errorf("buildable item: %v", m)
				}
			}
		}
		left = m
		return class == ClassLeftItem
	})
	if !slices.Equal(seen, []string{ClassWaitingItem, ClassBuildableItem, ClassLeftItem}) {
		t.Errorf("item went through %q", seen)
	}
	exe, _ := left["executable"].(map[string]any)
	if left["cancelled"] != false || left["why"] != nil || exe == nil || num(exe["number"]) != 1 ||
		exe["url"] != s.RootURL()+"job/app/1/" || exe["_class"] != ClassWorkflowRun {
		t.Errorf("left item: cancelled %v why %v executable %v", left["cancelled"], left["why"], left["executable"])
	}
	if num(left["id"]) != float64(id) || left["url"] != fmt.Sprintf("queue/item/%d/", id) || left["params"] != "\nAPP=shop\nREF=main\nCOMMIT=\nENVIRONMENT=staging\nNAMESPACE=default\nRELEASE_ID=\nREQUESTED_BY=" {
		t.Errorf("left item: id %v url %v params %q", left["id"], left["url"], left["params"])
	}
	task, _ := left["task"].(map[string]any)
	if task["name"] != "app" || task["url"] != s.RootURL()+"job/app/" {
		t.Errorf("task = %v", task)
	}
	if it, _ := s.QueueItem(id); it.BuildNumber != 1 || it.Why != "" {
		t.Errorf("QueueItem = %+v", it)
	}
}

func TestQueueCancel(t *testing.T) {
	s := newServer(t, WithJob("app", Job{QueueWait: time.Hour}), WithJob("fast", Job{QueueWait: -1, Duration: time.Hour}))
	id := trigger(t, s, "app", nil)

	if r := call(t, s, http.MethodGet, fmt.Sprintf("queue/cancelItem?id=%d", id), nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET cancelItem: %d", r.status)
	}
	if r := call(t, s, http.MethodPost, fmt.Sprintf("queue/cancelItem?id=%d", id), url.Values{}); r.status != http.StatusNoContent {
		t.Fatalf("cancelItem: %d %s", r.status, r.body)
	}
	m := getJSON(t, s, fmt.Sprintf("queue/item/%d/api/json", id))
	if m["_class"] != ClassLeftItem || m["cancelled"] != true {
		t.Errorf("cancelled item: _class %v cancelled %v", m["_class"], m["cancelled"])
	}
	if v, ok := m["executable"]; !ok || v != nil {
		t.Errorf("cancelled item: executable %v (present %v), want null", v, ok)
	}
	if job := getJSON(t, s, "job/app/api/json"); job["inQueue"] != false || job["queueItem"] != nil {
		t.Errorf("job after cancel: inQueue %v queueItem %v", job["inQueue"], job["queueItem"])
	}
	if it, _ := s.QueueItem(id); !it.Cancelled || it.BuildNumber != 0 {
		t.Errorf("QueueItem = %+v", it)
	}
	if r := call(t, s, http.MethodPost, fmt.Sprintf("queue/cancelItem?id=%d", id), url.Values{}); r.status != http.StatusInternalServerError {
		t.Errorf("cancel a left item: %d, want 500 like Jenkins", r.status)
	}
	if r := call(t, s, http.MethodPost, "queue/cancelItem?id=999999", url.Values{}); r.status != http.StatusNotFound {
		t.Errorf("cancel an unknown item: %d", r.status)
	}

	// From the UI.
	id2 := trigger(t, s, "app", nil)
	s.CancelQueued(id2)
	if m := getJSON(t, s, fmt.Sprintf("queue/item/%d/api/json", id2)); m["cancelled"] != true {
		t.Errorf("CancelQueued: %v", m)
	}
	// An item that already started cannot be cancelled.
	id3 := trigger(t, s, "fast", nil)
	waitBuild(t, s, id3)
	s.CancelQueued(id3)
	if it, _ := s.QueueItem(id3); it.Cancelled || it.BuildNumber != 1 {
		t.Errorf("CancelQueued after start: %+v", it)
	}
	time.Sleep(50 * time.Millisecond)
	if n := len(s.Builds("app")); n != 0 {
		t.Errorf("cancelled items made %d builds", n)
	}
}

func TestQueueItemExpires(t *testing.T) {
	s := newServer(t, WithQueueRetention(300*time.Millisecond), WithJob("app", Job{QueueWait: -1}))
	id := trigger(t, s, "app", nil)
	path := fmt.Sprintf("queue/item/%d/api/json", id)
	if m := getJSON(t, s, path); m["_class"] != ClassLeftItem {
		t.Fatalf("item: %v", m["_class"])
	}
	waitFor(t, "item to expire", 5*time.Second, func() bool {
		return call(t, s, http.MethodGet, path, nil).status == http.StatusNotFound
	})
	if it, ok := s.QueueItem(id); !ok || it.BuildNumber != 1 {
		t.Errorf("QueueItem after expiry = %+v, %v", it, ok)
	}
	if r := call(t, s, http.MethodGet, "queue/item/12345/api/json", nil); r.status != http.StatusNotFound {
		t.Errorf("unknown item: %d", r.status)
	}
}

func TestQueueJSON(t *testing.T) {
	s := newServer(t, WithJob("app", Job{QueueWait: time.Hour}))
	a := trigger(t, s, "app", nil)
	b := trigger(t, s, "app", nil)
	q := getJSON(t, s, "queue/api/json")
	items, _ := q["items"].([]any)
	if q["_class"] != ClassQueue || len(items) != 2 {
		t.Fatalf("queue: %v", q)
	}
	var ids []int64
	for _, it := range items {
		ids = append(ids, int64(num(it.(map[string]any)["id"])))
	}
	if !slices.Equal(ids, []int64{a, b}) {
		t.Errorf("queue ids = %v, want %v", ids, []int64{a, b})
	}
}

// collectURLs returns every "url" field in a payload, with its JSON path.
func collectURLs(v any, at string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if k == "url" {
				out[at+".url"] = str(x)
			}
			collectURLs(x, at+"."+k, out)
		}
	case []any:
		for i, x := range v {
			collectURLs(x, at+"["+strconv.Itoa(i)+"]", out)
		}
	}
}

func TestURLsUseRootURL(t *testing.T) {
	s := newServer(t, WithRootURL("https://ci.example.org/jenkins"), WithJob("team/api", Job{Duration: 50 * time.Millisecond, Lines: 2, QueueWait: -1}))
	if s.RootURL() != "https://ci.example.org/jenkins/" {
		t.Fatalf("RootURL = %q", s.RootURL())
	}
	id := trigger(t, s, "team/api", nil)
	waitDone(t, s, "team/api", waitBuild(t, s, id))
	id2 := trigger(t, s, "team/api", nil)
	waitDone(t, s, "team/api", waitBuild(t, s, id2))

	urls := map[string]string{}
	for _, p := range []string{
		"api/json", "job/team/api/json", "job/team/job/api/api/json", "job/team/job/api/1/api/json",
		"job/team/job/api/2/api/json", fmt.Sprintf("queue/item/%d/api/json", id), "queue/api/json",
	} {
		collectURLs(getJSON(t, s, p), p, urls)
	}
	if len(urls) < 15 {
		t.Errorf("only %d url fields found", len(urls))
	}
	for at, u := range urls {
		if strings.HasPrefix(at, "queue/item/") && strings.HasSuffix(at, "api/json.url") {
			if u != fmt.Sprintf("queue/item/%d/", id) { // Jenkins writes the item's own url relative
				t.Errorf("%s = %q", at, u)
			}
			continue
		}
		if !strings.HasPrefix(u, s.RootURL()) {
			t.Errorf("%s = %q, not under the root URL", at, u)
		}
		if strings.Contains(u, strings.TrimSuffix(strings.TrimPrefix(s.URL(), "http://"), "/")) {
			t.Errorf("%s = %q leaks the listening address", at, u)
		}
	}
	if u := urls["job/team/job/api/1/api/json.url"]; u != "https://ci.example.org/jenkins/job/team/job/api/1/" {
		t.Errorf("build url = %q", u)
	}
}

func TestFailNext(t *testing.T) {
	s := newServer(t, WithJob("app", Job{}))
	s.FailNext("/job/app/api/json", http.StatusServiceUnavailable, 2)
	for i := range 2 {
		r := call(t, s, http.MethodGet, "job/app/api/json", nil)
		if r.status != http.StatusServiceUnavailable || r.header.Get("X-Jenkins") != Version {
			t.Errorf("request %d: %d", i, r.status)
		}
	}
	if r := call(t, s, http.MethodGet, "job/app/api/json", nil); r.status != http.StatusOK {
		t.Errorf("third request: %d", r.status)
	}
	if n := s.Requests("/job/app/api/json"); n != 3 {
		t.Errorf("Requests = %d, want 3", n)
	}
	if n := s.Requests(""); n != 3 {
		t.Errorf("Requests(\"\") = %d, want 3", n)
	}

	s.FailNext("/job/app/api/json", http.StatusUnauthorized, 1)
	if r := call(t, s, http.MethodGet, "job/app/api/json", nil); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("injected 401: %d %v", r.status, r.header)
	}
	s.FailNext("buildWithParameters", http.StatusInternalServerError, 1)
	if r := call(t, s, http.MethodPost, "job/app/buildWithParameters", url.Values{}); r.status != http.StatusInternalServerError {
		t.Errorf("injected 500: %d", r.status)
	}
	if _, ok := s.QueueItem(DefaultFirstQueueID); ok {
		t.Error("an injected failure still queued an item")
	}
	if id := trigger(t, s, "app", nil); id != DefaultFirstQueueID {
		t.Errorf("next trigger got id %d, want %d", id, DefaultFirstQueueID)
	}
	for _, st := range []int{403, 404, 502} {
		s.FailNext("/api/json", st, 1)
		if r := call(t, s, http.MethodGet, "api/json", nil); r.status != st {
			t.Errorf("injected %d: got %d", st, r.status)
		}
	}
}

func TestSetDown(t *testing.T) {
	s := newServer(t, WithJob("app", Job{}))
	s.SetDown(true)
	r := call(t, s, http.MethodGet, "api/json", nil)
	if r.status != http.StatusServiceUnavailable || !bytes.Contains(r.body, []byte("Jenkins is going to shut down")) || r.header.Get("X-Jenkins") != Version {
		t.Errorf("down: %d %s", r.status, r.body)
	}
	if r := call(t, s, http.MethodPost, "job/app/buildWithParameters", url.Values{}); r.status != http.StatusServiceUnavailable {
		t.Errorf("down trigger: %d", r.status)
	}
	s.SetDown(false)
	if r := call(t, s, http.MethodGet, "api/json", nil); r.status != http.StatusOK {
		t.Errorf("up again: %d", r.status)
	}
}

func TestStopStart(t *testing.T) {
	s := newServer(t, WithJob("app", Job{QueueWait: 50 * time.Millisecond, Duration: 50 * time.Millisecond, Lines: 2}))
	id := trigger(t, s, "app", nil)
	before := s.URL()
	s.Stop()
	s.Stop() // idempotent
	if resp, err := client.Get(s.URL() + "api/json"); err == nil {
		resp.Body.Close()
		t.Fatal("request succeeded while stopped")
	}
	time.Sleep(150 * time.Millisecond) // builds go on meanwhile
	if err := s.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if s.URL() != before {
		t.Errorf("URL changed: %q -> %q", before, s.URL())
	}
	m := getJSON(t, s, fmt.Sprintf("queue/item/%d/api/json", id))
	if m["_class"] != ClassLeftItem {
		t.Errorf("item after restart: %v", m["_class"])
	}
	if b := getJSON(t, s, "job/app/1/api/json"); b["result"] != ResultSuccess {
		t.Errorf("build after restart: %v", b["result"])
	}
	s.Close()
	if err := s.Start(); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestConcurrentTriggersMakeSeparateBuilds(t *testing.T) {
	s := newServer(t, WithJob("app", Job{QueueWait: 50 * time.Millisecond, Duration: 50 * time.Millisecond, Lines: 2}))
	const n = 8
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Identical parameters: Jenkins would merge these; the simulator must not.
			req, err := http.NewRequest(http.MethodPost, s.URL()+"job/app/buildWithParameters",
				strings.NewReader(url.Values{"APP": {"shop"}, "REF": {"v1"}}.Encode()))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(DefaultUser, DefaultToken)
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("trigger %d: %d", i, resp.StatusCode)
				return
			}
			u, _ := url.Parse(resp.Header.Get("Location"))
			ids[i], _ = strconv.ParseInt(strings.Split(strings.Trim(u.Path, "/"), "/")[2], 10, 64)
		})
	}
	wg.Wait()
	slices.Sort(ids)
	if len(slices.Compact(slices.Clone(ids))) != n {
		t.Fatalf("queue ids not distinct: %v", ids)
	}
	numbers := map[int]int64{}
	for _, id := range ids {
		numbers[waitBuild(t, s, id)] = id
	}
	if len(numbers) != n {
		t.Errorf("builds: %v", numbers)
	}
	bs := s.Builds("app")
	if len(bs) != n {
		t.Fatalf("Builds = %d", len(bs))
	}
	for i, b := range bs {
		if b.Number != i+1 || numbers[b.Number] != b.QueueID {
			t.Errorf("build %d: %+v", i+1, b)
		}
	}
	if job := getJSON(t, s, "job/app/api/json"); num(job["nextBuildNumber"]) != n+1 {
		t.Errorf("nextBuildNumber = %v", job["nextBuildNumber"])
	}
}

func TestProgressiveText(t *testing.T) {
	s := newServer(t, WithJob("app", Job{Lines: 40, Duration: 400 * time.Millisecond, QueueWait: -1}))
	n := waitBuild(t, s, trigger(t, s, "app", url.Values{"APP": {"shop"}}))
	base := fmt.Sprintf("job/app/%d/logText/progressiveText", n)

	var log []byte
	off, calls, sawMore := int64(0), 0, false
	for {
		r := call(t, s, http.MethodGet, fmt.Sprintf("%s?start=%d", base, off), nil)
		calls++
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/plain;charset=UTF-8" {
			t.Fatalf("progressiveText: %d %q", r.status, r.header.Get("Content-Type"))
		}
		size, err := strconv.ParseInt(r.header.Get("X-Text-Size"), 10, 64)
		if err != nil {
			t.Fatalf("X-Text-Size %q: %v", r.header.Get("X-Text-Size"), err)
		}
		if size-off != int64(len(r.body)) {
			t.Fatalf("X-Text-Size %d from %d but %d bytes", size, off, len(r.body))
		}
		if len(r.body) > 0 && r.body[len(r.body)-1] != '\n' {
			t.Errorf("chunk ends mid-line: %q", r.body)
		}
		log, off = append(log, r.body...), size
		more := r.header.Get("X-More-Data")
		if more == "" {
			break
		}
		if more != "true" {
			t.Errorf("X-More-Data = %q", more)
		}
		sawMore = true
		time.Sleep(30 * time.Millisecond)
	}
	if !sawMore || calls < 3 {
		t.Errorf("read the log in %d calls, more-data seen %v", calls, sawMore)
	}
	if served := s.LogBytesServed(); served != int64(len(log)) {
		t.Errorf("LogBytesServed = %d, log is %d bytes: earlier bytes were re-sent", served, len(log))
	}
	whole := call(t, s, http.MethodGet, fmt.Sprintf("job/app/%d/consoleText", n), nil)
	if !bytes.Equal(whole.body, log) || whole.header.Get("Content-Type") != "text/plain;charset=UTF-8" {
		t.Errorf("consoleText differs from the progressive log:\n%s\n---\n%s", whole.body, log)
	}
	if s.LogBytesServed() != 2*int64(len(log)) {
		t.Errorf("LogBytesServed after consoleText = %d", s.LogBytesServed())
	}
	lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
	if len(lines) != 41 || lines[0] != "Started by user hoist" || lines[40] != "Finished: SUCCESS" {
		t.Errorf("log has %d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if !strings.Contains(string(log), "[Pipeline] stage") || !strings.Contains(string(log), "helm upgrade --install shop") {
		t.Errorf("log does not look like a pipeline:\n%s", log)
	}
	if b := s.Builds("app")[0]; b.LogBytes != len(log) || b.Result != ResultSuccess {
		t.Errorf("Builds = %+v", b)
	}

	// An offset past the end starts over, as when the log rolled over.
	r := call(t, s, http.MethodGet, base+"?start=999999", nil)
	if !bytes.Equal(r.body, log) || r.header.Get("X-Text-Size") != strconv.Itoa(len(log)) || r.header.Get("X-More-Data") != "" {
		t.Errorf("start past the end: %d bytes, X-Text-Size %q", len(r.body), r.header.Get("X-Text-Size"))
	}
	// At the end: nothing, same offset.
	r = call(t, s, http.MethodGet, fmt.Sprintf("%s/?start=%d", base, len(log)), nil)
	if len(r.body) != 0 || r.header.Get("X-Text-Size") != strconv.Itoa(len(log)) {
		t.Errorf("start at the end: %q, X-Text-Size %q", r.body, r.header.Get("X-Text-Size"))
	}
}

func TestProgressiveTextLimitsAndCompression(t *testing.T) {
	s := newServer(t, WithJob("big", Job{Lines: 1_000_000, Duration: 100 * time.Second, QueueWait: -1}))
	n := waitBuild(t, s, trigger(t, s, "big", nil))
	// 10000 lines are due after a second.
	waitFor(t, "10001 lines", 10*time.Second, func() bool {
		return strings.Count(string(call(t, s, http.MethodGet, fmt.Sprintf("job/big/%d/consoleText", n), nil).body), "\n") > maxLinesPerCall
	})

	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("%sjob/big/%d/logText/progressiveText?start=0", s.URL(), n), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(DefaultUser, DefaultToken)
	req.Header.Set("Accept-Encoding", "gzip")
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}
	resp, err := raw.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip for a big chunk", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(body, []byte("\n")); lines != maxLinesPerCall {
		t.Errorf("a running build's chunk has %d lines, want %d", lines, maxLinesPerCall)
	}
	if resp.Header.Get("X-Text-Size") != strconv.Itoa(len(body)) || resp.Header.Get("X-More-Data") != "true" {
		t.Errorf("X-Text-Size %q for %d bytes, X-More-Data %q", resp.Header.Get("X-Text-Size"), len(body), resp.Header.Get("X-More-Data"))
	}
	if r := call(t, s, http.MethodPost, fmt.Sprintf("job/big/%d/stop", n), url.Values{}); r.status != http.StatusFound {
		t.Errorf("stop: %d", r.status)
	}
}

func TestStopBuild(t *testing.T) {
	s := newServer(t, WithJob("app", Job{Lines: 100, Duration: time.Hour, QueueWait: -1}))
	n := waitBuild(t, s, trigger(t, s, "app", nil))
	time.Sleep(20 * time.Millisecond)
	if r := call(t, s, http.MethodGet, fmt.Sprintf("job/app/%d/stop", n), nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET stop: %d", r.status)
	}
	r := call(t, s, http.MethodPost, fmt.Sprintf("job/app/%d/stop", n), url.Values{})
	if r.status != http.StatusFound || r.header.Get("Location") != fmt.Sprintf("%sjob/app/%d/", s.URL(), n) {
		t.Errorf("stop: %d Location %q", r.status, r.header.Get("Location"))
	}
	b := s.Builds("app")[0]
	if b.Building || b.Result != ResultAborted {
		t.Errorf("after stop: %+v", b)
	}
	log := string(call(t, s, http.MethodGet, fmt.Sprintf("job/app/%d/consoleText", n), nil).body)
	if !strings.HasSuffix(log, "Aborted by hoist\nFinished: ABORTED\n") || !strings.HasPrefix(log, "Started by user hoist\n") {
		t.Errorf("log after stop:\n%s", log)
	}
	j := getJSON(t, s, fmt.Sprintf("job/app/%d/api/json", n))
	if j["result"] != ResultAborted || j["building"] != false || num(j["duration"]) <= 0 || j["executor"] != nil {
		t.Errorf("build after stop: result %v building %v duration %v", j["result"], j["building"], j["duration"])
	}
	if r := call(t, s, http.MethodGet, fmt.Sprintf("job/app/%d/logText/progressiveText?start=0", n), nil); r.header.Get("X-More-Data") != "" {
		t.Error("X-More-Data after stop")
	}
	// Stopping again changes nothing; the build page the redirect names exists.
	call(t, s, http.MethodPost, fmt.Sprintf("job/app/%d/stop", n), url.Values{})
	if again := call(t, s, http.MethodGet, fmt.Sprintf("job/app/%d/consoleText", n), nil); string(again.body) != log {
		t.Error("a second stop changed the log")
	}
	if r := call(t, s, http.MethodGet, fmt.Sprintf("job/app/%d/", n), nil); r.status != http.StatusOK {
		t.Errorf("build page: %d", r.status)
	}
	if job := getJSON(t, s, "job/app/api/json"); job["color"] != "aborted" {
		t.Errorf("color = %v", job["color"])
	}
}

func TestBuildJSON(t *testing.T) {
	params := []Param{{Name: "APP"}, {Name: "DRY_RUN", Boolean: true}, {Name: "NOTIFY", Boolean: true, Default: "true"}}
	s := newServer(t, WithJob("app", Job{Lines: 4, Duration: 300 * time.Millisecond, QueueWait: -1, Params: params}),
		WithJob("fixed", Job{Estimated: 90 * time.Second, QueueWait: -1, Duration: time.Hour}),
		WithJob("bad", Job{Result: ResultFailure, Duration: 20 * time.Millisecond, QueueWait: -1, Lines: 2}))

	n := waitBuild(t, s, trigger(t, s, "app", url.Values{"APP": {"shop"}, "DRY_RUN": {"TRUE"}, "EXTRA": {"x"}}))
	b := getJSON(t, s, fmt.Sprintf("job/app/%d/api/json", n))
	if b["_class"] != ClassWorkflowRun || b["building"] != true || b["result"] != nil || num(b["duration"]) != 0 ||
		num(b["estimatedDuration"]) != -1 || b["id"] != "1" || b["displayName"] != "#1" || b["fullDisplayName"] != "app #1" ||
		b["url"] != s.RootURL()+"job/app/1/" || b["executor"] == nil || num(b["queueId"]) != float64(DefaultFirstQueueID) {
		t.Errorf("running build: %v", b)
	}
	if ts := int64(num(b["timestamp"])); time.Since(time.UnixMilli(ts)) > 5*time.Second || ts > time.Now().UnixMilli() {
		t.Errorf("timestamp %d", ts)
	}
	actions, _ := b["actions"].([]any)
	pa, _ := actions[0].(map[string]any)
	ps, _ := pa["parameters"].([]any)
	if pa["_class"] != "hudson.model.ParametersAction" || len(ps) != 3 {
		t.Fatalf("ParametersAction = %v", pa)
	}
	got := map[string]any{}
	for _, p := range ps {
		m := p.(map[string]any)
		got[str(m["name"])] = m["value"]
	}
	if got["APP"] != "shop" || got["DRY_RUN"] != true || got["NOTIFY"] != true {
		t.Errorf("parameters = %v (booleans must be JSON booleans)", got)
	}
	if ps[1].(map[string]any)["_class"] != "hudson.model.BooleanParameterValue" {
		t.Errorf("boolean parameter class = %v", ps[1])
	}
	cause := actions[1].(map[string]any)["causes"].([]any)[0].(map[string]any)
	if cause["shortDescription"] != "Started by user hoist" || cause["userId"] != DefaultUser {
		t.Errorf("cause = %v", cause)
	}
	job := getJSON(t, s, "job/app/api/json")
	if job["color"] != "notbuilt_anime" || job["lastCompletedBuild"] != nil || job["lastBuild"] == nil {
		t.Errorf("job while first build runs: color %v lastCompletedBuild %v", job["color"], job["lastCompletedBuild"])
	}
	defs := job["property"].([]any)[0].(map[string]any)["parameterDefinitions"].([]any)
	if d := defs[2].(map[string]any); d["type"] != "BooleanParameterDefinition" || d["defaultParameterValue"].(map[string]any)["value"] != true {
		t.Errorf("boolean definition = %v", d)
	}

	waitDone(t, s, "app", n)
	b = getJSON(t, s, "job/app/1/api/json")
	if b["result"] != ResultSuccess || b["building"] != false || num(b["duration"]) != 300 || num(b["estimatedDuration"]) != 300 || b["executor"] != nil {
		t.Errorf("finished build: result %v duration %v estimated %v", b["result"], b["duration"], b["estimatedDuration"])
	}
	n2 := waitBuild(t, s, trigger(t, s, "app", nil))
	b2 := getJSON(t, s, fmt.Sprintf("job/app/%d/api/json", n2))
	if num(b2["estimatedDuration"]) != 300 || b2["previousBuild"].(map[string]any)["number"] != 1.0 || b2["nextBuild"] != nil {
		t.Errorf("second build: estimated %v previous %v next %v", b2["estimatedDuration"], b2["previousBuild"], b2["nextBuild"])
	}
	if first := getJSON(t, s, "job/app/1/api/json"); first["nextBuild"].(map[string]any)["number"] != 2.0 {
		t.Errorf("first build's nextBuild = %v", first["nextBuild"])
	}
	for _, link := range []string{"lastBuild", "lastCompletedBuild", "lastSuccessfulBuild"} {
		if m := getJSON(t, s, "job/app/"+link+"/api/json"); m["number"] == nil {
			t.Errorf("%s: %v", link, m)
		}
	}
	if r := call(t, s, http.MethodGet, "job/app/lastFailedBuild/api/json", nil); r.status != http.StatusNotFound {
		t.Errorf("lastFailedBuild with none: %d", r.status)
	}
	for _, p := range []string{"job/app/0/api/json", "job/app/99/api/json", "job/app/01/api/json", "job/app/x/api/json"} {
		if r := call(t, s, http.MethodGet, p, nil); r.status != http.StatusNotFound {
			t.Errorf("%s: %d", p, r.status)
		}
	}

	fixed := waitBuild(t, s, trigger(t, s, "fixed", nil))
	if f := getJSON(t, s, fmt.Sprintf("job/fixed/%d/api/json", fixed)); num(f["estimatedDuration"]) != 90000 {
		t.Errorf("Estimated: %v", f["estimatedDuration"])
	}

	bad := waitBuild(t, s, trigger(t, s, "bad", nil))
	waitDone(t, s, "bad", bad)
	if log := string(call(t, s, http.MethodGet, "job/bad/1/consoleText", nil).body); !strings.HasSuffix(log, "ERROR: script returned exit code 2\nFinished: FAILURE\n") {
		t.Errorf("failed build log:\n%s", log)
	}
	if job := getJSON(t, s, "job/bad/api/json"); job["color"] != "red" || job["lastFailedBuild"] == nil {
		t.Errorf("bad job: color %v lastFailedBuild %v", job["color"], job["lastFailedBuild"])
	}
}

func TestLineTextAndSetJob(t *testing.T) {
	s := newServer(t)
	s.SetJob("/apps/web/", Job{Lines: 3, Duration: 30 * time.Millisecond, QueueWait: -1, Result: ResultUnstable,
		LineText: func(build, line int) string { return fmt.Sprintf("build %d line %d\n", build, line) }})
	n := waitBuild(t, s, trigger(t, s, "apps/web", nil))
	waitDone(t, s, "apps/web", n)
	log := string(call(t, s, http.MethodGet, "job/apps/job/web/1/consoleText", nil).body)
	if log != "build 1 line 0\nbuild 1 line 1\nbuild 1 line 2\nFinished: UNSTABLE\n" {
		t.Errorf("log = %q", log)
	}
	folder := getJSON(t, s, "job/apps/api/json")
	if folder["_class"] != ClassFolder || len(folder["jobs"].([]any)) != 1 || folder["fullName"] != "apps" {
		t.Errorf("folder = %v", folder)
	}
	job := getJSON(t, s, "job/apps/job/web/api/json")
	if job["fullName"] != "apps/web" || job["name"] != "web" || job["fullDisplayName"] != "apps » web" || job["color"] != "yellow" {
		t.Errorf("job = %v", job)
	}
	// Reconfiguring affects later builds only.
	s.SetJob("apps/web", Job{Lines: 1, Duration: 10 * time.Millisecond, QueueWait: -1})
	n2 := waitBuild(t, s, trigger(t, s, "apps/web", nil))
	waitDone(t, s, "apps/web", n2)
	if bs := s.Builds("apps/web"); bs[0].Result != ResultUnstable || bs[1].Result != ResultSuccess {
		t.Errorf("builds = %+v", bs)
	}
	if s.Builds("nope") != nil {
		t.Error("Builds of an unknown job is not nil")
	}
}

func TestEstimatedDurationLikeJenkins(t *testing.T) {
	j := &job{cfg: normalize(Job{})}
	if got := j.estimatedMillis(); got != -1 {
		t.Errorf("no builds: %d", got)
	}
	add := func(result string, d time.Duration) {
		j.builds = append(j.builds, &build{number: len(j.builds) + 1, done: true, result: result, duration: d})
	}
	add(ResultAborted, time.Second)
	if got := j.estimatedMillis(); got != -1 {
		t.Errorf("only aborted: %d", got)
	}
	add(ResultFailure, 4*time.Second)
	if got := j.estimatedMillis(); got != 4000 {
		t.Errorf("one failure: %d", got)
	}
	add(ResultSuccess, 2*time.Second)
	add(ResultSuccess, 3*time.Second)
	if got := j.estimatedMillis(); got != 3000 { // (3000+2000+4000)/3
		t.Errorf("mixed: %d", got)
	}
}

func TestTimeSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * time.Millisecond:   "42 ms",
		230 * time.Millisecond:  "0.23 sec",
		4600 * time.Millisecond: "4.6 sec",
		12 * time.Second:        "12 sec",
		63 * time.Second:        "1 min 3 sec",
	} {
		if got := timeSpan(d); got != want {
			t.Errorf("timeSpan(%v) = %q, want %q", d, got, want)
		}
	}
}
