package jenkinssim

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// kind is a JSON value's kind, "null" for null.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// readFixture decodes the captured JSON object in testdata/fixture.
func readFixture(t *testing.T, fixture string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("decode %s: %v", fixture, err)
	}
	return want
}

// sameShape checks that the payload and the captured fixture have the same
// top-level keys, and that values present in both have the same JSON kind.
func sameShape(t *testing.T, name string, got map[string]any, fixture string) {
	t.Helper()
	want := readFixture(t, fixture)
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			t.Errorf("%s: key %q of %s is missing", name, k, fixture)
			continue
		}
		if gk, wk := kind(gv), kind(wv); gk != wk && gk != "null" && wk != "null" {
			t.Errorf("%s: %q is a %s, the fixture has a %s", name, k, gk, wk)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: key %q is not in %s", name, k, fixture)
		}
	}
	if wc, ok := want["_class"]; ok && got["_class"] != wc {
		t.Errorf("%s: _class %v, fixture %v", name, got["_class"], wc)
	}
}

func TestShapesMatchFixtures(t *testing.T) {
	s := newServer(t,
		WithJob("app", Job{Lines: 3, Duration: 50 * time.Millisecond, QueueWait: -1}),
		WithJob("slow", Job{QueueWait: time.Hour}),
	)
	started := trigger(t, s, "app", url.Values{"APP": {"shop"}})
	waitDone(t, s, "app", waitBuild(t, s, started))
	second := trigger(t, s, "app", nil)
	waitDone(t, s, "app", waitBuild(t, s, second))
	waiting := trigger(t, s, "slow", nil)
	cancelled := trigger(t, s, "slow", nil)
	s.CancelQueued(cancelled)

	sameShape(t, "root", getJSON(t, s, "api/json"), "root-api-json.modern-builtin-node.json")
	sameShape(t, "crumb", getJSON(t, s, "crumbIssuer/api/json"), "crumbIssuer.sha256-crumb.json")
	sameShape(t, "job", getJSON(t, s, "job/app/api/json"), "job-pipeline.api4jenkins.json")
	sameShape(t, "queued job", getJSON(t, s, "job/slow/api/json"), "job-pipeline.api4jenkins.json")
	sameShape(t, "build", getJSON(t, s, "job/app/2/api/json"), "build-workflowrun.api4jenkins.json")
	sameShape(t, "waiting item", getJSON(t, s, fmt.Sprintf("queue/item/%d/api/json", waiting)), "queue-item-waiting.api4jenkins.json")
	sameShape(t, "left item", getJSON(t, s, fmt.Sprintf("queue/item/%d/api/json", started)), "queue-item-left-executable.api4jenkins.json")
	sameShape(t, "cancelled item", getJSON(t, s, fmt.Sprintf("queue/item/%d/api/json", cancelled)), "queue-item-cancelled.jenkins-rest.json")

	// Nested shapes Hoist reads.
	left := getJSON(t, s, fmt.Sprintf("queue/item/%d/api/json", started))
	exe := left["executable"].(map[string]any)
	var keys []string
	for k := range exe {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"_class", "number", "url"}) {
		t.Errorf("executable keys = %v", keys)
	}
}

// parametersAction returns the hudson.model.ParametersAction of a payload's
// actions, failing when there is none.
func parametersAction(t *testing.T, name string, payload map[string]any) map[string]any {
	t.Helper()
	actions, _ := payload["actions"].([]any)
	for _, a := range actions {
		if m, _ := a.(map[string]any); m["_class"] == "hudson.model.ParametersAction" {
			return m
		}
	}
	t.Fatalf("%s: no hudson.model.ParametersAction in %v", name, payload["actions"])
	return nil
}

// sameParams checks that a payload's parameters action has the shape of
// the fixture's: the same keys, and parameters with the same keys and
// classes as the fixture's string parameters.
func sameParams(t *testing.T, name string, got map[string]any, fixture string) {
	t.Helper()
	want := readFixture(t, fixture)
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	ga, wa := parametersAction(t, name, got), parametersAction(t, fixture, want)
	if !slices.Equal(keys(ga), keys(wa)) {
		t.Errorf("%s: parameters action keys %v, the fixture's %v", name, keys(ga), keys(wa))
	}
	wp := wa["parameters"].([]any)[0].(map[string]any)
	gps, _ := ga["parameters"].([]any)
	if len(gps) == 0 {
		t.Fatalf("%s: no parameters", name)
	}
	for _, p := range gps {
		gp := p.(map[string]any)
		if !slices.Equal(keys(gp), keys(wp)) || gp["_class"] != wp["_class"] || kind(gp["value"]) != kind(wp["value"]) {
			t.Errorf("%s: parameter %v; the fixture has %v", name, gp, wp)
		}
	}
}

// TestParametersMatchFixtures checks what Hoist reads to find the build of
// a release again: the queue's items and a job's builds with their
// parameters, whole and pruned by the trees Hoist sends.
func TestParametersMatchFixtures(t *testing.T) {
	s := newServer(t,
		WithJob("team/app", Job{Lines: 3, Duration: time.Hour, QueueWait: -1}),
		WithJob("slow", Job{QueueWait: time.Hour}),
	)
	started := trigger(t, s, "team/app", url.Values{"RELEASE_ID": {"7"}})
	waitBuild(t, s, started)
	queued := trigger(t, s, "slow", url.Values{"RELEASE_ID": {"8"}})

	queue := getJSON(t, s, "queue/api/json")
	items, _ := queue["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("queue items = %v; want the slow job's", items)
	}
	item := items[0].(map[string]any)
	sameShape(t, "queue/api/json item", item, "queue-item-waiting.api4jenkins.json")
	sameParams(t, "queue/api/json item", item, "queue-item-blocked.jenkins-rest.json")
	sameParams(t, "build", getJSON(t, s, "job/team/job/app/1/api/json"), "build-freestyle.api4jenkins.json")

	// Hoist's trees: only what they name, with each object's _class.
	pruned := getJSON(t, s, "queue/api/json?tree="+url.QueryEscape("items[id,task[name,url],actions[parameters[name,value]]]"))
	b, _ := json.Marshal(pruned) // keys sorted, lists in order
	want := fmt.Sprintf(`{"_class":"hudson.model.Queue","items":[{"_class":"hudson.model.Queue$WaitingItem",`+
		`"actions":[{"_class":"hudson.model.ParametersAction","parameters":[`+
		`{"_class":"hudson.model.StringParameterValue","name":"APP","value":""},`+
		`{"_class":"hudson.model.StringParameterValue","name":"REF","value":"main"},`+
		`{"_class":"hudson.model.StringParameterValue","name":"COMMIT","value":""},`+
		`{"_class":"hudson.model.StringParameterValue","name":"ENVIRONMENT","value":"staging"},`+
		`{"_class":"hudson.model.StringParameterValue","name":"NAMESPACE","value":"default"},`+
		`{"_class":"hudson.model.StringParameterValue","name":"RELEASE_ID","value":"8"},`+
		`{"_class":"hudson.model.StringParameterValue","name":"REQUESTED_BY","value":""}]},`+
		`{"_class":"hudson.model.CauseAction"}],"id":%d,`+
		`"task":{"_class":"org.jenkinsci.plugins.workflow.job.WorkflowJob","name":"slow","url":"%sjob/slow/"}}]}`,
		queued, s.RootURL())
	if string(b) != want {
		t.Errorf("pruned queue:\n%s\nwant\n%s", b, want)
	}
	job := getJSON(t, s, "job/team/job/app/api/json?tree="+url.QueryEscape("builds[number,url,queueId,actions[parameters[name,value]]]{0,100}"))
	if len(job) != 2 || job["_class"] != ClassWorkflowJob {
		t.Errorf("pruned job = %v; want its _class and builds only", job)
	}
	builds, _ := job["builds"].([]any)
	if len(builds) != 1 {
		t.Fatalf("pruned builds = %v", job["builds"])
	}
	build := builds[0].(map[string]any)
	if len(build) != 5 || build["_class"] != ClassWorkflowRun || num(build["number"]) != 1 || num(build["queueId"]) != float64(started) ||
		build["url"] != s.RootURL()+"job/team/job/app/1/" {
		t.Errorf("pruned build = %v", build)
	}
	sameParams(t, "pruned build", build, "build-freestyle.api4jenkins.json")
}

func TestTree(t *testing.T) {
	v := obj{{"_class", "C"}, {"a", 1}, {"b", obj{{"_class", "B"}, {"x", 2}, {"y", 3}}},
		{"list", []any{obj{{"n", 0}}, obj{{"n", 1}}, obj{{"n", 2}}, obj{{"n", 3}}}}, {"plain", obj{{"z", 1}}}}
	for _, tt := range []struct{ tree, want string }{
		{"a", `{"_class":"C","a":1}`},
		{"b", `{"_class":"C","b":{"_class":"B"}}`},
		{"b[y],a", `{"_class":"C","a":1,"b":{"_class":"B","y":3}}`},
		{"list[n]{1,3}", `{"_class":"C","list":[{"n":1},{"n":2}]}`},
		{"list[n]{2,}", `{"_class":"C","list":[{"n":2},{"n":3}]}`},
		{"list[n]{,1}", `{"_class":"C","list":[{"n":0}]}`},
		{"list[n]{3}", `{"_class":"C","list":[{"n":3}]}`},
		{"list[n]{9,20}", `{"_class":"C","list":[]}`},
		{"plain,missing", `{"_class":"C","plain":{}}`},
	} {
		fields, err := parseTree(tt.tree)
		if err != nil {
			t.Errorf("parseTree(%q): %v", tt.tree, err)
			continue
		}
		got, err := marshal(pruneTree(v, fields))
		if err != nil || string(got) != tt.want {
			t.Errorf("tree %q = %s, %v; want %s", tt.tree, got, err, tt.want)
		}
	}
	for _, bad := range []string{"a[b", "a{1", ",a", "a[]", "a{x}", "a]"} {
		if _, err := parseTree(bad); err == nil {
			t.Errorf("parseTree(%q) accepted", bad)
		}
	}
	s := newServer(t)
	if r := call(t, s, "GET", "api/json?tree=jobs[name", nil); r.status != 400 {
		t.Errorf("malformed tree: %d; want 400", r.status)
	}
}
