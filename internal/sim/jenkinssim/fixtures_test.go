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

// sameShape checks that the payload and the captured fixture have the same
// top-level keys, and that values present in both have the same JSON kind.
func sameShape(t *testing.T, name string, got map[string]any, fixture string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("decode %s: %v", fixture, err)
	}
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
