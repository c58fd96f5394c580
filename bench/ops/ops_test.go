package main

import (
	"strings"
	"testing"
	"time"
)

func TestMixIsTwoDeploysTwoReadsAndAClickInFive(t *testing.T) {
	n := 1000
	cards := make([]card, clicksIn(n))
	for i := range cards {
		cards[i] = card{releaseID: string(rune('a' + i%26)), ts: "1.2", blockID: "b"}
	}
	reqs := mix(n, cards, func(id string) string { return "https://hooks.slack.com/commands/T/" + id })
	count := map[string]int{}
	bodies := map[string]bool{}
	for _, r := range reqs {
		count[r.kind]++
		if bodies[string(r.body)] {
			t.Fatalf("two requests with the same body: Hoist would refuse the second as a replay: %s", r.body)
		}
		bodies[string(r.body)] = true
	}
	if count[kindDeploy] != 400 || count[kindStatus] != 400 || count[kindClick] != 200 || len(reqs) != n {
		t.Errorf("mix(%d) = %v", n, count)
	}
}

func TestParseReleaseStates(t *testing.T) {
	exposition := `# HELP hoist_releases Releases by environment and state.
# TYPE hoist_releases gauge
hoist_releases{env="production",state="building"} 3
hoist_releases{env="test",state="building"} 125
hoist_releases{env="test",state="requested"} 872
hoist_releases_other 9
hoist_slack_requests_total{kind="command",outcome="ok"} 1000
`
	got, err := parseReleaseStates(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	if got["building"] != 128 || got["requested"] != 872 || len(got) != 2 {
		t.Errorf("parseReleaseStates = %v", got)
	}
	if _, err := parseReleaseStates(strings.NewReader("go_goroutines 12\n")); err == nil {
		t.Error("no error for an exposition without hoist_releases")
	}
}

func TestParseBenchmarks(t *testing.T) {
	out := `goos: linux
pkg: github.com/hoistbot/hoist/integrations/kube
BenchmarkRollout/short/replicas=1-2         	       3	 196043274 ns/op	         1.086 report-max-ms	         0.2848 report-ms	         6.000 requests/rollout	         0.09194 rollout-s
BenchmarkRollout/long/replicas=10-2         	       3	4916801845 ns/op	         0.2777 report-max-ms	        -0.3799 report-ms	         6.000 requests/rollout	         4.811 rollout-s
PASS
`
	got := parseBenchmarks([]byte(out))
	short, long := got[shortRollout], got[longRollout]
	if short["report-max-ms"] != 1.086 || short["requests/rollout"] != 6 || long["report-ms"] != -0.3799 || long["rollout-s"] != 4.811 {
		t.Errorf("parseBenchmarks = %v", got)
	}
}

func TestDurationText(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1500 * time.Microsecond: "1.5 ms",
		291 * time.Millisecond:  "291 ms",
		2210 * time.Millisecond: "2.21 s",
		64 * time.Second:        "1 min 4 s",
		time.Minute:             "1 min",
	} {
		if got := durationText(d); got != want {
			t.Errorf("durationText(%v) = %q, want %q", d, got, want)
		}
	}
}
