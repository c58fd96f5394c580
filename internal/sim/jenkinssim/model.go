package jenkinssim

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// job is a Pipeline job and its builds.
type job struct {
	path   string // "folder/name"
	cfg    Job    // normalized
	builds []*build
	next   int // nextBuildNumber
}

func (j *job) name() string { return lastSegment(j.path) }

// queueItem is an item of the queue, from trigger until Jenkins forgets it.
type queueItem struct {
	id          int64
	job         *job
	cfg         Job // the job's configuration when triggered
	params      []paramValue
	user        string // who triggered it; "" for anonymous
	created     time.Time
	buildableAt time.Time // end of the quiet period
	leaveAt     time.Time // when it becomes a build
	left        bool
	leftAt      time.Time
	cancelled   bool
	build       *build
}

type paramValue struct {
	name    string
	value   string
	boolean bool
}

// state is the item's stage at now; advanceLocked has run.
func (it *queueItem) state(now time.Time) string {
	switch {
	case it.left:
		return ClassLeftItem
	case now.Before(it.buildableAt):
		return ClassWaitingItem
	default:
		return ClassBuildableItem
	}
}

func (it *queueItem) why(now time.Time) string {
	switch it.state(now) {
	case ClassWaitingItem:
		return "In the quiet period. Expires in " + timeSpan(it.buildableAt.Sub(now))
	case ClassBuildableItem:
		return "Waiting for next available executor"
	default:
		return ""
	}
}

// forgotten reports whether Jenkins has dropped the left item by now.
func (it *queueItem) forgotten(now time.Time, retention time.Duration) bool {
	return it.left && now.Sub(it.leftAt) >= retention
}

// build is a run of a job. Its console log is materialized up to the last
// time update ran.
type build struct {
	job      *job
	number   int
	item     *queueItem
	cfg      Job
	start    time.Time
	lineText func(build, line int) string
	log      []byte
	lines    int // console lines written, not counting the closing ones
	done     bool
	result   string
	duration time.Duration
}

// update writes the console lines due by now and ends the build when its
// time has come.
func (b *build) update(now time.Time) {
	if b.done {
		return
	}
	elapsed := max(now.Sub(b.start), 0)
	if elapsed >= b.cfg.Duration {
		b.writeLines(b.cfg.Lines)
		for _, l := range closingLines(b.cfg.Result) {
			b.appendLine(l)
		}
		b.finish(b.cfg.Result, b.cfg.Duration)
		return
	}
	// Line i is printed at start + i*Duration/Lines, so the lines due are
	// elapsed*Lines/Duration + 1; elapsed < Duration here.
	e, lines, d := int64(elapsed), int64(b.cfg.Lines), int64(b.cfg.Duration)
	var due int64
	if e <= math.MaxInt64/lines {
		due = e*lines/d + 1
	} else { // hours-long builds printing millions of lines
		due = int64(float64(e)/float64(d)*float64(lines)) + 1
	}
	b.writeLines(int(min(due, lines)))
}

// abort stops the running build at now, as POST …/stop does.
func (b *build) abort(now time.Time, by string) {
	b.update(now)
	if b.done {
		return
	}
	if by == "" {
		by = "anonymous"
	}
	b.appendLine("Aborted by " + by)
	b.appendLine("Finished: " + ResultAborted)
	b.finish(ResultAborted, now.Sub(b.start))
}

func (b *build) finish(result string, d time.Duration) {
	b.done, b.result, b.duration = true, result, d
}

func (b *build) writeLines(n int) {
	for ; b.lines < n; b.lines++ {
		b.appendLine(b.lineText(b.number, b.lines))
	}
}

func (b *build) appendLine(l string) {
	l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
	b.log = append(b.log, l...)
	b.log = append(b.log, '\n')
}

func closingLines(result string) []string {
	if result == ResultFailure {
		return []string{"ERROR: script returned exit code 2", "Finished: " + result}
	}
	return []string{"Finished: " + result}
}

// defaultLineText prints a declarative-pipeline-like console that mentions
// the build's parameters.
func defaultLineText(j *job, params []paramValue, user string, total int) func(build, line int) string {
	p := map[string]string{}
	for _, v := range params {
		p[v.name] = v.value
	}
	get := func(name, def string) string {
		if v := p[name]; v != "" {
			return v
		}
		return def
	}
	app := get("APP", j.name())
	ref := get("REF", "main")
	commit := get("COMMIT", "4f1c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e")
	env := get("ENVIRONMENT", "staging")
	ns := get("NAMESPACE", "default")
	starter := "Started by user " + user
	if user == "" {
		starter = "Started by user anonymous"
	}
	head := []string{
		starter,
		"[Pipeline] Start of Pipeline",
		"[Pipeline] node",
		"Running on Jenkins in /var/jenkins_home/workspace/" + strings.ReplaceAll(j.path, "/", "_"),
		"[Pipeline] {",
	}
	tail := []string{"[Pipeline] }", "[Pipeline] // node", "[Pipeline] End of Pipeline"}
	body := []string{
		"[Pipeline] stage",
		"[Pipeline] { (Checkout)",
		"+ git fetch --no-tags origin " + ref,
		"+ git checkout -f " + commit,
		"[Pipeline] }",
		"[Pipeline] // stage",
		"[Pipeline] stage",
		"[Pipeline] { (Build)",
		"+ make build",
		"go build -trimpath -o bin/" + app + " ./cmd/" + app,
		"[Pipeline] }",
		"[Pipeline] // stage",
		"[Pipeline] stage",
		"[Pipeline] { (Test)",
		"+ make test",
		"ok  \t" + app + "/internal/release\t0.412s",
		"[Pipeline] }",
		"[Pipeline] // stage",
		"[Pipeline] stage",
		"[Pipeline] { (Deploy to " + env + ")",
		"+ helm upgrade --install " + app + " ./chart --namespace " + ns + " --set image.tag=" + ref,
		"Release \"" + app + "\" has been upgraded. Happy Helming!",
		"[Pipeline] }",
		"[Pipeline] // stage",
	}
	return func(_, line int) string {
		if total < len(head)+len(tail)+1 {
			if line == 0 {
				return starter
			}
			return body[(line-1)%len(body)]
		}
		switch {
		case line < len(head):
			return head[line]
		case line >= total-len(tail):
			return tail[line-(total-len(tail))]
		default:
			return body[(line-len(head))%len(body)]
		}
	}
}

// advanceLocked brings the simulated Jenkins to now: queue items whose wait
// is over become builds, in the order they left the queue, and running
// builds write their due lines and finish.
func (s *Server) advanceLocked(now time.Time) {
	if len(s.pending) > 0 {
		var due []*queueItem
		keep := s.pending[:0]
		for _, it := range s.pending {
			switch {
			case it.cancelled:
			case !it.leaveAt.After(now):
				due = append(due, it)
			default:
				keep = append(keep, it)
			}
		}
		clear(s.pending[len(keep):])
		s.pending = keep
		slices.SortFunc(due, func(a, b *queueItem) int {
			return cmp.Or(a.leaveAt.Compare(b.leaveAt), cmp.Compare(a.id, b.id))
		})
		for _, it := range due {
			s.startBuildLocked(it)
		}
	}
	keep := s.running[:0]
	for _, b := range s.running {
		b.update(now)
		if !b.done {
			keep = append(keep, b)
		}
	}
	clear(s.running[len(keep):])
	s.running = keep
}

func (s *Server) startBuildLocked(it *queueItem) {
	j := it.job
	b := &build{job: j, number: j.next, item: it, cfg: it.cfg, start: it.leaveAt}
	b.lineText = it.cfg.LineText
	if b.lineText == nil {
		b.lineText = defaultLineText(j, it.params, it.user, it.cfg.Lines)
	}
	j.next++
	j.builds = append(j.builds, b)
	it.left, it.leftAt, it.build = true, it.leaveAt, b
	s.running = append(s.running, b)
	if hook := it.cfg.OnStart; hook != nil {
		go hook(paramMap(it.params))
	}
}

func (s *Server) enqueueLocked(j *job, params []paramValue, user string, now time.Time) *queueItem {
	it := &queueItem{
		id:          s.nextQueueID,
		job:         j,
		cfg:         j.cfg,
		params:      params,
		user:        user,
		created:     now,
		buildableAt: now.Add(j.cfg.QueueWait / 2),
		leaveAt:     now.Add(j.cfg.QueueWait),
	}
	s.nextQueueID++
	s.queue[it.id] = it
	s.pending = append(s.pending, it)
	return it
}

// cancelLocked cancels a queued item. It reports whether the item existed
// (and Jenkins still knew it) and whether it could be cancelled.
func (s *Server) cancelLocked(id int64, now time.Time) (found, cancelled bool) {
	it := s.queue[id]
	if it == nil || it.forgotten(now, s.retention) {
		return false, false
	}
	if it.left {
		return true, false
	}
	it.left, it.leftAt, it.cancelled = true, now, true
	s.pending = slices.DeleteFunc(s.pending, func(p *queueItem) bool { return p == it })
	return true, true
}

// values builds a trigger's parameter values from the job's definitions:
// undefined names are dropped and missing ones take the default, as
// ParametersDefinitionProperty does.
func values(defs []Param, get func(name string) (string, bool)) []paramValue {
	out := make([]paramValue, 0, len(defs))
	for _, d := range defs {
		v, ok := get(d.Name)
		if !ok {
			v = d.Default
		}
		if d.Boolean { // Boolean.valueOf: only "true", in any case, is true
			v = strconv.FormatBool(strings.EqualFold(v, "true"))
		}
		out = append(out, paramValue{name: d.Name, value: v, boolean: d.Boolean})
	}
	return out
}

// estimatedMillis is the job's estimatedDuration, as Jenkins'
// Job.getEstimatedDuration computes it unless the job sets Estimated.
func (j *job) estimatedMillis() int64 {
	switch {
	case j.cfg.Estimated > 0:
		return j.cfg.Estimated.Milliseconds()
	case j.cfg.Estimated < 0:
		return -1
	}
	good := func(b *build) bool {
		return b.done && (b.result == ResultSuccess || b.result == ResultUnstable)
	}
	var candidates, fallback []*build
	lastGood := j.last(good)
	if lastGood != nil {
		candidates = append(candidates, lastGood)
	}
	for i, n := len(j.builds)-1, 0; i >= 0 && len(candidates) < 3 && n < 6; i, n = i-1, n+1 {
		b := j.builds[i]
		if !b.done || b == lastGood {
			continue
		}
		switch {
		case good(b):
			candidates = append(candidates, b)
		case b.result == ResultFailure: // a complete build; aborted ones are not
			fallback = append(fallback, b)
		}
	}
	for len(candidates) < 3 && len(fallback) > 0 {
		candidates, fallback = append(candidates, fallback[0]), fallback[1:]
	}
	var total int64
	for _, b := range candidates {
		total += b.duration.Milliseconds()
	}
	if total == 0 {
		return -1
	}
	return (total + int64(len(candidates))/2) / int64(len(candidates))
}

// last returns the newest build matching ok, or nil.
func (j *job) last(ok func(*build) bool) *build {
	for i := len(j.builds) - 1; i >= 0; i-- {
		if ok(j.builds[i]) {
			return j.builds[i]
		}
	}
	return nil
}

// permalinks maps Jenkins' build permalinks to what they select.
var permalinks = map[string]func(*build) bool{
	"lastBuild":             func(*build) bool { return true },
	"lastCompletedBuild":    func(b *build) bool { return b.done },
	"lastFailedBuild":       func(b *build) bool { return b.done && b.result == ResultFailure },
	"lastStableBuild":       func(b *build) bool { return b.done && b.result == ResultSuccess },
	"lastSuccessfulBuild":   func(b *build) bool { return b.done && (b.result == ResultSuccess || b.result == ResultUnstable) },
	"lastUnstableBuild":     func(b *build) bool { return b.done && b.result == ResultUnstable },
	"lastUnsuccessfulBuild": func(b *build) bool { return b.done && b.result != ResultSuccess },
}

// color is the job's ball color, like Job.getIconColor: the last build's
// result color, "_anime" while it runs, on top of the previous one.
func (j *job) color() string {
	base := "notbuilt"
	anime := false
	for i := len(j.builds) - 1; i >= 0; i-- {
		b := j.builds[i]
		if !b.done {
			anime = true
			continue
		}
		base = resultColor(b.result)
		break
	}
	if anime {
		return base + "_anime"
	}
	return base
}

func resultColor(result string) string {
	switch result {
	case ResultSuccess:
		return "blue"
	case ResultUnstable:
		return "yellow"
	case ResultFailure:
		return "red"
	case ResultAborted:
		return "aborted"
	default:
		return "notbuilt"
	}
}

// timeSpan formats d like Jenkins' Util.getTimeSpanString.
func timeSpan(d time.Duration) string {
	ms := max(d.Milliseconds(), 0)
	minutes, seconds, millis := ms/60000, ms/1000%60, ms%1000
	switch {
	case minutes > 0:
		return fmt.Sprintf("%d min %d sec", minutes, seconds)
	case seconds >= 10:
		return fmt.Sprintf("%d sec", seconds)
	case seconds >= 1:
		return strconv.FormatFloat(float64(seconds)+float64(millis/100)/10, 'f', -1, 64) + " sec"
	case millis >= 100:
		return strconv.FormatFloat(float64(millis/10)/100, 'f', -1, 64) + " sec"
	default:
		return fmt.Sprintf("%d ms", millis)
	}
}

func lastSegment(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}
