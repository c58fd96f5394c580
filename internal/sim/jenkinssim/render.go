package jenkinssim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// obj is a JSON object that keeps its keys in order, as Jenkins writes them.
type obj []field

type field struct {
	k string
	v any
}

// MarshalJSON writes the fields in order, without HTML escaping, as
// Stapler's JSON writer does.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(f.k)
		if err != nil {
			return nil, err
		}
		v, err := marshal(f.v)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", f.k, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("jenkinssim: encode JSON: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// jobURLPath is the path of a job or folder below the root: "a/b" is
// "job/a/job/b/".
func jobURLPath(path string) string {
	var b strings.Builder
	for _, seg := range strings.Split(path, "/") {
		b.WriteString("job/")
		b.WriteString(url.PathEscape(seg))
		b.WriteByte('/')
	}
	return b.String()
}

func (s *Server) jobURL(path string) string { return s.rootURL + jobURLPath(path) }

func (s *Server) buildURL(b *build) string {
	return s.jobURL(b.job.path) + strconv.Itoa(b.number) + "/"
}

// fullDisplayName joins the names of a folder path as Jenkins does.
func fullDisplayName(path string) string { return strings.ReplaceAll(path, "/", " » ") }

func millis(t time.Time) int64 { return t.UnixMilli() }

// buildRef is a build as it appears inside a job (builds, lastBuild, …).
func (s *Server) buildRef(b *build) any {
	if b == nil {
		return nil
	}
	return obj{{"_class", ClassWorkflowRun}, {"number", b.number}, {"url", s.buildURL(b)}}
}

// siblingRef is a build as previousBuild and nextBuild show it.
func (s *Server) siblingRef(b *build) any {
	if b == nil {
		return nil
	}
	return obj{{"number", b.number}, {"url", s.buildURL(b)}}
}

func (s *Server) rootJSON() obj {
	return obj{
		{"_class", ClassHudson},
		{"assignedLabels", []any{obj{{"name", "built-in"}}}},
		{"mode", "NORMAL"},
		{"nodeDescription", "the Jenkins controller's built-in node"},
		{"nodeName", ""},
		{"numExecutors", 2},
		{"description", nil},
		{"jobs", s.childrenJSON("")},
		{"overallLoad", obj{}},
		{"primaryView", s.allView(s.rootURL)},
		{"quietDownReason", nil},
		{"quietingDown", false},
		{"slaveAgentPort", 50000},
		{"unlabeledLoad", obj{{"_class", "jenkins.model.UnlabeledLoadStatistics"}}},
		{"url", s.rootURL},
		{"useCrumbs", true},
		{"useSecurity", true},
		{"views", []any{s.allView(s.rootURL)}},
	}
}

func (s *Server) allView(u string) obj {
	return obj{{"_class", "hudson.model.AllView"}, {"name", "all"}, {"url", u}}
}

// childrenJSON lists the jobs and folders directly in folder ("" is the
// root), sorted by name like Jenkins' item maps.
func (s *Server) childrenJSON(folder string) []any {
	type child struct {
		name, path string
		j          *job
	}
	var kids []child
	parentOf := func(p string) string {
		if i := strings.LastIndex(p, "/"); i >= 0 {
			return p[:i]
		}
		return ""
	}
	for p, j := range s.jobs {
		if parentOf(p) == folder {
			kids = append(kids, child{lastSegment(p), p, j})
		}
	}
	for p := range s.folders {
		if parentOf(p) == folder {
			kids = append(kids, child{lastSegment(p), p, nil})
		}
	}
	slices.SortFunc(kids, func(a, b child) int {
		return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name))
	})
	out := make([]any, 0, len(kids))
	for _, k := range kids {
		if k.j == nil {
			out = append(out, obj{{"_class", ClassFolder}, {"name", k.name}, {"url", s.jobURL(k.path)}})
			continue
		}
		out = append(out, obj{{"_class", ClassWorkflowJob}, {"name", k.name}, {"url", s.jobURL(k.path)}, {"color", k.j.color()}})
	}
	return out
}

func (s *Server) folderJSON(path string) obj {
	u := s.jobURL(path)
	return obj{
		{"_class", ClassFolder},
		{"actions", []any{obj{}, obj{}, obj{{"_class", "com.cloudbees.plugins.credentials.ViewCredentialsAction"}}}},
		{"description", nil},
		{"displayName", lastSegment(path)},
		{"displayNameOrNull", nil},
		{"fullDisplayName", fullDisplayName(path)},
		{"fullName", path},
		{"name", lastSegment(path)},
		{"url", u},
		{"healthReport", []any{}},
		{"jobs", s.childrenJSON(path)},
		{"primaryView", s.allView(u)},
		{"views", []any{s.allView(u)}},
	}
}

func paramDefinitionsJSON(defs []Param) []any {
	out := make([]any, 0, len(defs))
	for _, d := range defs {
		kind, valueClass := "StringParameterDefinition", "hudson.model.StringParameterValue"
		var def any = d.Default
		if d.Boolean {
			kind, valueClass = "BooleanParameterDefinition", "hudson.model.BooleanParameterValue"
			def = strings.EqualFold(d.Default, "true")
		}
		var desc any
		if d.Description != "" {
			desc = d.Description
		}
		out = append(out, obj{
			{"_class", "hudson.model." + kind},
			{"defaultParameterValue", obj{{"_class", valueClass}, {"name", d.Name}, {"value", def}}},
			{"description", desc},
			{"name", d.Name},
			{"type", kind},
		})
	}
	return out
}

// jobJSON renders a job. Its builds are references (number and url), or
// whole builds when deep: Jenkins renders whatever a tree parameter names,
// so builds[number,queueId,actions[…]] shows each build's queueId and
// parameters.
func (s *Server) jobJSON(j *job, now time.Time, deep bool) obj {
	var properties []any
	actions := []any{obj{}, obj{}}
	if len(j.cfg.Params) > 0 {
		pdp := obj{
			{"_class", "hudson.model.ParametersDefinitionProperty"},
			{"parameterDefinitions", paramDefinitionsJSON(j.cfg.Params)},
		}
		actions = append(actions, pdp)
		properties = append(properties, pdp)
	}
	actions = append(actions,
		obj{{"_class", "org.jenkinsci.plugins.displayurlapi.actions.JobDisplayAction"}},
		obj{{"_class", "com.cloudbees.plugins.credentials.ViewCredentialsAction"}},
	)
	if properties == nil {
		properties = []any{}
	}
	builds := make([]any, 0, min(len(j.builds), 100))
	for i := len(j.builds) - 1; i >= 0 && len(builds) < 100; i-- {
		if deep {
			builds = append(builds, s.buildJSON(j.builds[i]))
		} else {
			builds = append(builds, s.buildRef(j.builds[i]))
		}
	}
	var first *build
	if len(j.builds) > 0 {
		first = j.builds[0]
	}
	link := func(name string) any { return s.buildRef(j.last(permalinks[name])) }
	queued := s.queuedItemLocked(j, now)
	var queueItem any
	if queued != nil {
		queueItem = s.queueItemJSON(queued, now, false)
	}
	return obj{
		{"_class", ClassWorkflowJob},
		{"actions", actions},
		{"description", ""},
		{"displayName", j.name()},
		{"displayNameOrNull", nil},
		{"fullDisplayName", fullDisplayName(j.path)},
		{"fullName", j.path},
		{"name", j.name()},
		{"url", s.jobURL(j.path)},
		{"buildable", true},
		{"builds", builds},
		{"color", j.color()},
		{"firstBuild", s.buildRef(first)},
		{"healthReport", healthReport(j)},
		{"inQueue", queued != nil},
		{"keepDependencies", false},
		{"lastBuild", link("lastBuild")},
		{"lastCompletedBuild", link("lastCompletedBuild")},
		{"lastFailedBuild", link("lastFailedBuild")},
		{"lastStableBuild", link("lastStableBuild")},
		{"lastSuccessfulBuild", link("lastSuccessfulBuild")},
		{"lastUnstableBuild", link("lastUnstableBuild")},
		{"lastUnsuccessfulBuild", link("lastUnsuccessfulBuild")},
		{"nextBuildNumber", j.next},
		{"property", properties},
		{"queueItem", queueItem},
		{"concurrentBuild", true},
		{"resumeBlocked", false},
	}
}

// queuedItemLocked is the job's item Jenkins reports in the job's
// queueItem: buildable items first, then waiting ones (Queue.getItem(Task)).
func (s *Server) queuedItemLocked(j *job, now time.Time) *queueItem {
	var waiting *queueItem
	for _, it := range s.pending {
		if it.job != j {
			continue
		}
		if it.state(now) == ClassBuildableItem {
			return it
		}
		if waiting == nil {
			waiting = it
		}
	}
	return waiting
}

// healthReport is the "Build stability" report over the last five finished
// builds.
func healthReport(j *job) []any {
	total, failed := 0, 0
	for i := len(j.builds) - 1; i >= 0 && total < 5; i-- {
		b := j.builds[i]
		if !b.done || b.result == ResultAborted {
			continue
		}
		total++
		if b.result == ResultFailure {
			failed++
		}
	}
	if total == 0 {
		return []any{}
	}
	score := 100 * (total - failed) / total
	var desc string
	switch failed {
	case 0:
		desc = "Build stability: No recent builds failed."
	case total:
		desc = "Build stability: All recent builds failed."
	default:
		desc = fmt.Sprintf("Build stability: %d out of the last %d builds failed.", failed, total)
	}
	var icon string
	switch {
	case score > 80:
		icon = "health-80plus"
	case score > 60:
		icon = "health-60to79"
	case score > 40:
		icon = "health-40to59"
	case score > 20:
		icon = "health-20to39"
	default:
		icon = "health-00to19"
	}
	return []any{obj{
		{"description", desc},
		{"iconClassName", "icon-" + icon},
		{"iconUrl", icon + ".png"},
		{"score", score},
	}}
}

func parametersActionJSON(params []paramValue) obj {
	ps := make([]any, 0, len(params))
	for _, p := range params {
		class, value := "hudson.model.StringParameterValue", any(p.value)
		if p.boolean {
			class, value = "hudson.model.BooleanParameterValue", p.value == "true"
		}
		ps = append(ps, obj{{"_class", class}, {"name", p.name}, {"value", value}})
	}
	return obj{{"_class", "hudson.model.ParametersAction"}, {"parameters", ps}}
}

func causeActionJSON(user string) obj {
	cause := obj{
		{"_class", "hudson.model.Cause$UserIdCause"},
		{"shortDescription", "Started by user " + user},
		{"userId", user},
		{"userName", user},
	}
	if user == "" {
		cause = obj{
			{"_class", "hudson.model.Cause$UserIdCause"},
			{"shortDescription", "Started by user anonymous"},
			{"userId", nil},
			{"userName", "anonymous"},
		}
	}
	return obj{{"_class", "hudson.model.CauseAction"}, {"causes", []any{cause}}}
}

func (s *Server) buildJSON(b *build) obj {
	j := b.job
	actions := []any{}
	if len(b.item.params) > 0 {
		actions = append(actions, parametersActionJSON(b.item.params))
	}
	actions = append(actions,
		causeActionJSON(b.item.user),
		obj{},
		obj{{"_class", "org.jenkinsci.plugins.displayurlapi.actions.RunDisplayAction"}},
		obj{{"_class", "org.jenkinsci.plugins.pipeline.modeldefinition.actions.RestartDeclarativePipelineAction"}},
		obj{},
		obj{{"_class", "org.jenkinsci.plugins.workflow.job.views.FlowGraphAction"}},
		obj{},
	)
	var result, executor any
	var duration int64
	if b.done {
		result, duration = b.result, b.duration.Milliseconds()
	} else {
		executor = obj{{"_class", "hudson.model.OneOffExecutor"}}
	}
	var prev, next *build
	if i := b.number - 1; i >= 1 && i <= len(j.builds) {
		prev = j.builds[i-1]
	}
	if b.number < len(j.builds) {
		next = j.builds[b.number]
	}
	return obj{
		{"_class", ClassWorkflowRun},
		{"actions", actions},
		{"artifacts", []any{}},
		{"building", !b.done},
		{"description", nil},
		{"displayName", "#" + strconv.Itoa(b.number)},
		{"duration", duration},
		{"estimatedDuration", j.estimatedMillis()},
		{"executor", executor},
		{"fullDisplayName", fullDisplayName(j.path) + " #" + strconv.Itoa(b.number)},
		{"id", strconv.Itoa(b.number)},
		{"keepLog", false},
		{"number", b.number},
		{"queueId", b.item.id},
		{"result", result},
		{"timestamp", millis(b.start)},
		{"url", s.buildURL(b)},
		{"changeSets", []any{}},
		{"culprits", []any{}},
		{"nextBuild", s.siblingRef(next)},
		{"previousBuild", s.siblingRef(prev)},
	}
}

// queueItemJSON renders a queue item; withActions is false where Jenkins
// embeds it in a job.
func (s *Server) queueItemJSON(it *queueItem, now time.Time, withActions bool) obj {
	state := it.state(now)
	var params strings.Builder
	for _, p := range it.params {
		params.WriteString("\n" + p.name + "=" + p.value)
	}
	var why any
	if w := it.why(now); w != "" {
		why = w
	}
	o := obj{{"_class", state}}
	if withActions {
		actions := []any{}
		if len(it.params) > 0 {
			actions = append(actions, parametersActionJSON(it.params))
		}
		actions = append(actions, causeActionJSON(it.user))
		o = append(o, field{"actions", actions})
	}
	o = append(o,
		field{"blocked", false},
		field{"buildable", state == ClassBuildableItem},
		field{"id", it.id},
		field{"inQueueSince", millis(it.created)},
		field{"params", params.String()},
		field{"stuck", false},
		field{"task", obj{
			{"_class", ClassWorkflowJob},
			{"name", it.job.name()},
			{"url", s.jobURL(it.job.path)},
			{"color", it.job.color()},
		}},
		field{"url", "queue/item/" + strconv.FormatInt(it.id, 10) + "/"},
		field{"why", why},
	)
	switch state {
	case ClassWaitingItem:
		o = append(o, field{"timestamp", millis(it.buildableAt)})
	case ClassBuildableItem:
		o = append(o, field{"buildableStartMilliseconds", millis(it.buildableAt)}, field{"pending", false})
	case ClassLeftItem:
		var executable any
		if it.build != nil {
			executable = obj{
				{"_class", ClassWorkflowRun},
				{"number", it.build.number},
				{"url", s.buildURL(it.build)},
			}
		}
		o = append(o, field{"cancelled", it.cancelled}, field{"executable", executable})
	}
	return o
}

func (s *Server) queueJSON(now time.Time) obj {
	// Jenkins lists waiting items, then buildable ones (newest first).
	var waiting, buildable []any
	for _, it := range s.pending {
		if it.state(now) == ClassWaitingItem {
			waiting = append(waiting, s.queueItemJSON(it, now, true))
		} else {
			buildable = append(buildable, s.queueItemJSON(it, now, true))
		}
	}
	slices.Reverse(buildable)
	items := append(append([]any{}, waiting...), buildable...)
	return obj{{"_class", ClassQueue}, {"discoverableItems", []any{}}, {"items", items}}
}
