package jenkins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hoistbot/hoist/internal/release"
)

// Trigger queues a build of req.Job with req.Params (POST
// buildWithParameters, form-encoded; POST build when there are none) and
// returns its queue item ID, read from the Location header.
//
// Jenkins merges a request into an item already queued for the same job
// with the same parameters, returning that item: give each release a
// parameter of its own (its ID) so that two releases never share a build,
// and a retried request never queues a second one.
func (c *Client) Trigger(ctx context.Context, req release.BuildRequest) (queueID int64, err error) {
	defer c.secrets.Scrub(&err)
	what := fmt.Sprintf("trigger jenkins job %q", req.Job)
	jp, err := jobPath(req.Job)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	path, form := jp+"build", url.Values(nil)
	if len(req.Params) > 0 {
		path, form = jp+"buildWithParameters", url.Values{}
		for k, v := range req.Params {
			form.Set(k, v)
		}
	}
	r, err := c.send(ctx, http.MethodPost, path, nil, form)
	if err == nil && form == nil && r.status == http.StatusBadRequest && bytes.Contains(r.body, []byte("Nothing is submitted")) {
		// build on a parameterized job wants a form: buildWithParameters
		// takes none and uses the parameters' defaults.
		r, err = c.send(ctx, http.MethodPost, jp+"buildWithParameters", nil, url.Values{})
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if (r.status == http.StatusBadRequest || r.status == http.StatusInternalServerError) && bytes.Contains(r.body, []byte("is not parameterized")) {
		return 0, fmt.Errorf("%s: jenkins job %q takes no parameters (%s): make it take the release's parameters %s",
			what, req.Job, statusText(r.status), strings.Join(slices.Sorted(maps.Keys(req.Params)), ", "))
	}
	if r.status < 200 || r.status > 399 {
		return 0, fmt.Errorf("%s: %w", what, c.statusError(r, access{
			job: req.Job, may: "trigger builds of " + req.Job, perms: "Job/Build and Job/Read",
		}))
	}
	loc := r.header.Get("Location")
	id, err := queueIDFromLocation(loc)
	if err != nil {
		return 0, fmt.Errorf("%s: jenkins answered %s with Location %q, not a queue item (%w): Hoist cannot follow the build",
			what, statusText(r.status), loc, err)
	}
	c.log.DebugContext(ctx, "jenkins queued a build", "job", req.Job, "queue_item", id)
	return id, nil
}

// queueIDFromLocation reads N from ".../queue/item/N/". Only the ID is
// taken: the rest is Jenkins' root URL, which Hoist may not reach.
func queueIDFromLocation(loc string) (int64, error) {
	if loc == "" {
		return 0, errors.New("no Location header")
	}
	u, err := url.Parse(loc)
	if err != nil {
		return 0, fmt.Errorf("unparsable Location: %w", err)
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	n := len(segs)
	if n < 3 || segs[n-3] != "queue" || segs[n-2] != "item" {
		return 0, errors.New("no /queue/item/<id>/ in it")
	}
	id, err := strconv.ParseInt(segs[n-1], 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("queue item ID %q is not a positive number", segs[n-1])
	}
	return id, nil
}

// queueItemJSON is what WaitForBuild reads of /queue/item/<id>/api/json.
type queueItemJSON struct {
	Cancelled  bool   `json:"cancelled"`
	Why        string `json:"why"`
	Executable *struct {
		Number int64 `json:"number"`
	} `json:"executable"`
}

// WaitForBuild polls queue item queueID every Config.PollInterval until it
// has become a build of job, and returns the build's number and its URL as
// Hoist reaches it (made from Config.URL, not from Jenkins' JSON). A
// cancelled item, or one Jenkins no longer knows (it forgets items a few
// minutes after they leave the queue) and that no recent build of job came
// from, gives release.ErrNotBuilt, wrapped.
func (c *Client) WaitForBuild(ctx context.Context, job string, queueID int64) (number int64, buildURL string, err error) {
	defer c.secrets.Scrub(&err)
	what := fmt.Sprintf("follow jenkins queue item %d of %s", queueID, job)
	if _, err := jobPath(job); err != nil {
		return 0, "", fmt.Errorf("%s: %w", what, err)
	}
	if queueID <= 0 {
		return 0, "", fmt.Errorf("%s: queue item ID is not positive", what)
	}
	path := fmt.Sprintf("queue/item/%d/api/json", queueID)
	query := url.Values{"tree": {"id,cancelled,why,executable[number]"}}
	lastWhy := ""
	for polls := 1; ; polls++ {
		r, err := c.send(ctx, http.MethodGet, path, query, nil)
		if err != nil {
			return 0, "", fmt.Errorf("%s: %w", what, err)
		}
		switch r.status {
		case http.StatusOK:
			var item queueItemJSON
			if err := json.Unmarshal(r.body, &item); err != nil {
				return 0, "", fmt.Errorf("%s: read jenkins' answer: %w", what, err)
			}
			if item.Executable != nil && item.Executable.Number > 0 {
				n := item.Executable.Number
				u, err := c.BuildURL(job, n)
				if err != nil {
					return 0, "", fmt.Errorf("%s: %w", what, err)
				}
				c.log.DebugContext(ctx, "jenkins queue item became a build",
					"job", job, "queue_item", queueID, "build", n, "polls", polls)
				return n, u, nil
			}
			if item.Cancelled {
				return 0, "", fmt.Errorf("%s: %w: cancelled in Jenkins' queue", what, release.ErrNotBuilt)
			}
			// Still waiting, or just left the queue with its build not yet
			// set: keep polling.
			if item.Why != lastWhy || polls == 1 {
				c.log.DebugContext(ctx, "jenkins build still queued",
					"job", job, "queue_item", queueID, "why", item.Why, "polls", polls)
				lastWhy = item.Why
			}
		case http.StatusNotFound:
			b, ok, err := c.recentBuild(ctx, job, func(b listedBuild) bool { return b.QueueID != nil && *b.QueueID == queueID })
			if err != nil {
				return 0, "", fmt.Errorf("%s: queue item expired; look for its build: %w", what, err)
			}
			if !ok {
				return 0, "", fmt.Errorf("%s: %w: queue item expired, and no recent build of %s came from it",
					what, release.ErrNotBuilt, job)
			}
			u, err := c.BuildURL(job, b.Number)
			if err != nil {
				return 0, "", fmt.Errorf("%s: %w", what, err)
			}
			return b.Number, u, nil
		default:
			return 0, "", fmt.Errorf("%s: %w", what, c.statusError(r, access{
				job: job, may: "read the queue of " + job, perms: "Job/Read",
			}))
		}
		if err := c.retry.Sleep(ctx, c.poll); err != nil {
			return 0, "", fmt.Errorf("%s: %w", what, err)
		}
	}
}

// FindBuild looks for the build of job whose RELEASE_ID parameter
// (release.ParamReleaseID) is id: first among the items of Jenkins' queue,
// then among job's recent builds. The queue is asked first so that an item
// that leaves it meanwhile is found among the builds. (Jenkins takes a
// moment between an item leaving the queue and its build being listed; a
// trigger that lands in that moment is not found.)
func (c *Client) FindBuild(ctx context.Context, job string, id release.ID) (_ release.FoundBuild, ok bool, err error) {
	defer c.secrets.Scrub(&err)
	what := fmt.Sprintf("look for the build of release %d in jenkins job %q", id, job)
	if _, err := jobPath(job); err != nil {
		return release.FoundBuild{}, false, fmt.Errorf("%s: %w", what, err)
	}
	want := id.String()
	queueID, err := c.queuedItem(ctx, job, release.ParamReleaseID, want)
	if err != nil {
		return release.FoundBuild{}, false, fmt.Errorf("%s: %w", what, err)
	}
	if queueID != 0 {
		c.log.DebugContext(ctx, "jenkins has the release's build queued", "job", job, "release", id, "queue_item", queueID)
		return release.FoundBuild{QueueID: queueID}, true, nil
	}
	b, ok, err := c.recentBuild(ctx, job, func(b listedBuild) bool { return hasParam(b.Actions, release.ParamReleaseID, want) })
	if err != nil {
		return release.FoundBuild{}, false, fmt.Errorf("%s: %w", what, err)
	}
	if !ok {
		return release.FoundBuild{}, false, nil
	}
	u, err := c.BuildURL(job, b.Number)
	if err != nil {
		return release.FoundBuild{}, false, fmt.Errorf("%s: %w", what, err)
	}
	found := release.FoundBuild{Number: b.Number, URL: u}
	if b.QueueID != nil {
		found.QueueID = *b.QueueID
	}
	c.log.DebugContext(ctx, "jenkins has the release's build", "job", job, "release", id, "build", b.Number)
	return found, true, nil
}

// actionJSON is an action of a queue item or a build, as Hoist reads it:
// only hudson.model.ParametersAction has parameters. A value is a string,
// or a boolean for a boolean parameter.
type actionJSON struct {
	Parameters []struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	} `json:"parameters"`
}

// hasParam reports whether actions give parameter name the string value.
func hasParam(actions []actionJSON, name, value string) bool {
	for _, a := range actions {
		for _, p := range a.Parameters {
			var v string
			if p.Name == name && json.Unmarshal(p.Value, &v) == nil && v == value {
				return true
			}
		}
	}
	return false
}

// queuedItem returns the ID of the item of Jenkins' queue that would
// build job with parameter name set to value; 0 when there is none.
func (c *Client) queuedItem(ctx context.Context, job, name, value string) (int64, error) {
	r, err := c.send(ctx, http.MethodGet, "queue/api/json",
		url.Values{"tree": {"items[id,task[name,url],actions[parameters[name,value]]]"}}, nil)
	if err != nil {
		return 0, fmt.Errorf("read jenkins' queue: %w", err)
	}
	if r.status != http.StatusOK {
		return 0, fmt.Errorf("read jenkins' queue: %w", c.statusError(r, access{
			may: "read jenkins' queue", perms: "Overall/Read", on: "jenkins",
		}))
	}
	var q struct {
		Items []struct {
			ID   int64 `json:"id"`
			Task struct {
				URL string `json:"url"`
			} `json:"task"`
			Actions []actionJSON `json:"actions"`
		} `json:"items"`
	}
	if err := json.Unmarshal(r.body, &q); err != nil {
		return 0, fmt.Errorf("read jenkins' queue: %w", err)
	}
	for _, it := range q.Items {
		if it.ID > 0 && isJobURL(it.Task.URL, job) && hasParam(it.Actions, name, value) {
			return it.ID, nil
		}
	}
	return 0, nil
}

// isJobURL reports whether u, a URL of Jenkins' JSON, is job's. Only its
// path is compared, and only after Jenkins' root path (a context path such
// as /jenkins/): Jenkins makes it from its root URL, which may not be the
// address Hoist reaches it at.
func isJobURL(u, job string) bool {
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	p := strings.TrimSuffix(parsed.Path, "/") + "/"
	want := "/job/" + strings.Join(strings.Split(strings.Trim(job, "/"), "/"), "/job/") + "/"
	root, found := strings.CutSuffix(p, want)
	// A job of the same name in a folder is another job.
	return found && path.Base(path.Dir(root)) != "job"
}

// listedBuild is a build as recentBuild reads it.
type listedBuild struct {
	Number  int64        `json:"number"`
	QueueID *int64       `json:"queueId"`
	Actions []actionJSON `json:"actions"`
}

// buildFields are the fields of a build recentBuild asks for.
const buildFields = "number,url,queueId,actions[parameters[name,value]]"

// recentBuild returns the newest of job's last 100 builds that match
// accepts: the build a queue item became after Jenkins has forgotten the
// item (Hoist resuming long after it triggered the build), or the build of
// a release. Jenkins lists builds with their queue IDs and parameters in
// one request; where the answer lacks them (a proxy that ignores tree),
// the newest few builds are asked one by one.
func (c *Client) recentBuild(ctx context.Context, job string, match func(listedBuild) bool) (listedBuild, bool, error) {
	const maxProbes = 10
	jp, err := jobPath(job)
	if err != nil {
		return listedBuild{}, false, err
	}
	r, err := c.send(ctx, http.MethodGet, jp+"api/json",
		url.Values{"tree": {"builds[" + buildFields + "]{0,100}"}}, nil)
	if err != nil {
		return listedBuild{}, false, fmt.Errorf("list builds of %s: %w", job, err)
	}
	if r.status != http.StatusOK {
		return listedBuild{}, false, fmt.Errorf("list builds of %s: %w", job, c.statusError(r, access{
			job: job, may: "read builds of " + job, perms: "Job/Read",
		}))
	}
	var j struct {
		Builds []listedBuild `json:"builds"`
	}
	if err := json.Unmarshal(r.body, &j); err != nil {
		return listedBuild{}, false, fmt.Errorf("list builds of %s: read jenkins' answer: %w", job, err)
	}
	probes := 0
	for _, b := range j.Builds {
		if b.Number <= 0 {
			continue
		}
		if b.QueueID == nil {
			if probes == maxProbes {
				break
			}
			probes++
			br, err := c.send(ctx, http.MethodGet, fmt.Sprintf("%s%d/api/json", jp, b.Number),
				url.Values{"tree": {buildFields}}, nil)
			if err != nil {
				return listedBuild{}, false, fmt.Errorf("read build %s #%d: %w", job, b.Number, err)
			}
			if br.status != http.StatusOK || json.Unmarshal(br.body, &b) != nil {
				continue // discarded meanwhile, say
			}
		}
		if match(b) {
			return b, true, nil
		}
	}
	return listedBuild{}, false, nil
}

// buildJSON is what Status reads of a build's api/json.
type buildJSON struct {
	Building          bool     `json:"building"`
	Result            *string  `json:"result"`
	Timestamp         int64    `json:"timestamp"`
	EstimatedDuration *float64 `json:"estimatedDuration"`
}

// Status reads build number of job. Result is set once the build has
// ended (has a result); Estimated is negative when Jenkins has no estimate.
func (c *Client) Status(ctx context.Context, job string, number int64) (_ release.BuildStatus, err error) {
	defer c.secrets.Scrub(&err)
	what := fmt.Sprintf("read jenkins build %s #%d", job, number)
	bp, err := buildPath(job, number)
	if err != nil {
		return release.BuildStatus{}, fmt.Errorf("%s: %w", what, err)
	}
	r, err := c.send(ctx, http.MethodGet, bp+"api/json",
		url.Values{"tree": {"number,building,result,timestamp,estimatedDuration"}}, nil)
	if err != nil {
		return release.BuildStatus{}, fmt.Errorf("%s: %w", what, err)
	}
	if r.status != http.StatusOK {
		return release.BuildStatus{}, fmt.Errorf("%s: %w", what, c.buildError(ctx, r, job, number, access{
			job: job, may: "read builds of " + job, perms: "Job/Read",
		}))
	}
	var b buildJSON
	if err := json.Unmarshal(r.body, &b); err != nil {
		return release.BuildStatus{}, fmt.Errorf("%s: read jenkins' answer: %w", what, err)
	}
	st := release.BuildStatus{URL: c.base + bp, Estimated: -1}
	// A build has ended when it has a result; Pipeline builds may set one
	// while still running, and a build may lose "building" a moment before
	// it gets its result.
	if b.Result != nil && *b.Result != "" && !b.Building {
		st.Result = *b.Result
	} else {
		st.Building = true
	}
	if b.Timestamp > 0 {
		st.Started = time.UnixMilli(b.Timestamp)
	}
	if b.EstimatedDuration != nil && *b.EstimatedDuration >= 0 {
		st.Estimated = time.Duration(*b.EstimatedDuration * float64(time.Millisecond))
	}
	return st, nil
}

// ReadLog reads build number's console log from byte offset on (GET
// logText/progressiveText?start=offset). Next is Jenkins' X-Text-Size, More
// whether it said X-More-Data: true. Each call returns only what is new.
func (c *Client) ReadLog(ctx context.Context, job string, number int64, offset int64) (_ release.LogChunk, err error) {
	defer c.secrets.Scrub(&err)
	what := fmt.Sprintf("read the log of jenkins build %s #%d from byte %d", job, number, offset)
	bp, err := buildPath(job, number)
	if err != nil {
		return release.LogChunk{}, fmt.Errorf("%s: %w", what, err)
	}
	if offset < 0 {
		return release.LogChunk{}, fmt.Errorf("%s: negative offset", what)
	}
	r, err := c.send(ctx, http.MethodGet, bp+"logText/progressiveText",
		url.Values{"start": {strconv.FormatInt(offset, 10)}}, nil)
	if err != nil {
		return release.LogChunk{}, fmt.Errorf("%s: %w", what, err)
	}
	if r.status != http.StatusOK {
		return release.LogChunk{}, fmt.Errorf("%s: %w", what, c.buildError(ctx, r, job, number, access{
			job: job, may: "read builds of " + job, perms: "Job/Read",
		}))
	}
	chunk := release.LogChunk{
		Data: r.body,
		More: strings.EqualFold(strings.TrimSpace(r.header.Get("X-More-Data")), "true"),
	}
	next, err := strconv.ParseInt(strings.TrimSpace(r.header.Get("X-Text-Size")), 10, 64)
	if err != nil || next < 0 {
		// Jenkins always says; should a proxy drop the header, go by what
		// came (exact unless Jenkins stripped console annotations).
		c.log.WarnContext(ctx, "jenkins sent no usable X-Text-Size; counting the bytes received",
			"job", job, "build", number, "header", r.header.Get("X-Text-Size"))
		next = offset + int64(len(r.body))
	}
	if next < offset {
		// Jenkins restarts from 0 when start is past the log's end.
		c.log.WarnContext(ctx, "jenkins log is shorter than the offset read from",
			"job", job, "build", number, "offset", offset, "size", next)
	}
	chunk.Next = next
	return chunk, nil
}

// CancelQueued cancels queue item queueID (POST queue/cancelItem?id=N).
// An item that has already left the queue counts as cancelled: follow it
// with WaitForBuild to know whether it became a build.
func (c *Client) CancelQueued(ctx context.Context, queueID int64) (err error) {
	defer c.secrets.Scrub(&err)
	what := fmt.Sprintf("cancel jenkins queue item %d", queueID)
	if queueID <= 0 {
		return fmt.Errorf("%s: queue item ID is not positive", what)
	}
	r, err := c.send(ctx, http.MethodPost, "queue/cancelItem",
		url.Values{"id": {strconv.FormatInt(queueID, 10)}}, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// Jenkins answers 204 (302 before 2.x), 404 for an item it does not
	// know, and 500 "Could not cancel run for id" for one that has left the
	// queue; 422 means the user lacks Job/Cancel.
	switch {
	case r.status >= 200 && r.status <= 399, r.status == http.StatusNotFound:
		return nil
	case r.status == http.StatusInternalServerError && bytes.Contains(r.body, []byte(cancelTooLate)):
		c.log.DebugContext(ctx, "jenkins queue item had already left the queue", "queue_item", queueID)
		return nil
	case r.status == http.StatusUnprocessableEntity:
		r.status = http.StatusForbidden
	}
	return fmt.Errorf("%s: %w", what, c.statusError(r, access{
		may: "cancel queued builds", perms: "Job/Cancel", on: "the job",
	}))
}

// Stop aborts build number of job (POST <build>/stop). Stopping a build
// that has ended does nothing; Status then tells how it ended.
func (c *Client) Stop(ctx context.Context, job string, number int64) (err error) {
	defer c.secrets.Scrub(&err)
	what := fmt.Sprintf("stop jenkins build %s #%d", job, number)
	bp, err := buildPath(job, number)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	r, err := c.send(ctx, http.MethodPost, bp+"stop", nil, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// Jenkins answers 302 (to the build's page) or 200.
	if r.status >= 200 && r.status <= 399 {
		return nil
	}
	return fmt.Errorf("%s: %w", what, c.buildError(ctx, r, job, number, access{
		job: job, may: "stop builds of " + job, perms: "Job/Cancel and Job/Read",
	}))
}

// buildError is statusError for a request about a build: a 404 is told
// apart between a missing job and a missing build.
func (c *Client) buildError(ctx context.Context, r *response, job string, number int64, a access) error {
	if r.status != http.StatusNotFound {
		return c.statusError(r, a)
	}
	jp, err := jobPath(job)
	if err != nil {
		return err
	}
	jr, err := c.send(ctx, http.MethodGet, jp+"api/json", url.Values{"tree": {"name"}}, nil)
	if err == nil && jr.status == http.StatusNotFound {
		return c.jobNotFound(job)
	}
	return &adviceError{kind: ErrBuildNotFound, msg: fmt.Sprintf(
		"no build #%d of jenkins job %q at %s: Jenkins may have discarded it", number, job, c.base)}
}
