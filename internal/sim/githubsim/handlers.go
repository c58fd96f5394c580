package githubsim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Documentation URLs GitHub's error bodies point at.
const (
	docRepo        = "https://docs.github.com/rest/repos/repos#get-a-repository"
	docCommit      = "https://docs.github.com/rest/commits/commits#get-a-commit"
	docCompare     = "https://docs.github.com/rest/commits/commits#compare-two-commits"
	docRef         = "https://docs.github.com/rest/git/refs#update-a-reference"
	docDeployments = "https://docs.github.com/rest/deployments/deployments#create-a-deployment"
	docStatuses    = "https://docs.github.com/rest/deployments/statuses#create-a-deployment-status"
	docPulls       = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
	docMerge       = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"
	docCommitState = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
)

func (s *Server) handle(mux *http.ServeMux) {
	mux.HandleFunc("GET /rate_limit", s.rateLimit)
	repoRoute := func(pattern string, fn func(http.ResponseWriter, *http.Request, *repo)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, req *http.Request) {
			s.mu.Lock()
			defer s.mu.Unlock()
			r, ok := s.repos[strings.ToLower(req.PathValue("owner")+"/"+req.PathValue("repo"))]
			if !ok {
				s.writeError(w, http.StatusNotFound, "Not Found", docRepo)
				return
			}
			fn(w, req, r)
		})
	}
	repoRoute("GET /repos/{owner}/{repo}", s.getRepo)
	repoRoute("GET /repos/{owner}/{repo}/commits/{ref...}", s.getCommit)
	repoRoute("GET /repos/{owner}/{repo}/branches", s.listBranches)
	repoRoute("GET /repos/{owner}/{repo}/branches/{branch...}", s.getBranch)
	repoRoute("GET /repos/{owner}/{repo}/git/ref/{ref...}", s.getRef)
	repoRoute("PATCH /repos/{owner}/{repo}/git/refs/{ref...}", s.updateRef)
	repoRoute("DELETE /repos/{owner}/{repo}/git/refs/{ref...}", s.deleteRef)
	repoRoute("GET /repos/{owner}/{repo}/compare/{basehead...}", s.compare)
	repoRoute("POST /repos/{owner}/{repo}/statuses/{sha}", s.createCommitStatus)
	repoRoute("GET /repos/{owner}/{repo}/deployments", s.listDeployments)
	repoRoute("POST /repos/{owner}/{repo}/deployments", s.createDeployment)
	repoRoute("GET /repos/{owner}/{repo}/deployments/{id}", s.getDeployment)
	repoRoute("GET /repos/{owner}/{repo}/deployments/{id}/statuses", s.listDeploymentStatuses)
	repoRoute("POST /repos/{owner}/{repo}/deployments/{id}/statuses", s.createDeploymentStatus)
	repoRoute("GET /repos/{owner}/{repo}/pulls", s.listPulls)
	repoRoute("POST /repos/{owner}/{repo}/pulls", s.createPull)
	repoRoute("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	repoRoute("PATCH /repos/{owner}/{repo}/pulls/{number}", s.editPull)
	repoRoute("PUT /repos/{owner}/{repo}/pulls/{number}/merge", s.mergePull)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest")
	})
}

// decode reads a JSON request body into v, answering 400 as GitHub does
// when it is not JSON.
func (s *Server) decode(w http.ResponseWriter, req *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err == nil && len(body) > 0 {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "Problems parsing JSON", "https://docs.github.com/rest")
		return false
	}
	return true
}

func (s *Server) rateLimit(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	core := map[string]any{"limit": s.limit, "remaining": max(s.limit-s.used, 0), "used": s.used, "reset": s.reset.Unix(), "resource": "core"}
	writeJSON(w, http.StatusOK, map[string]any{"resources": map[string]any{"core": core}, "rate": core})
}

func (s *Server) getRepo(w http.ResponseWriter, _ *http.Request, r *repo) {
	writeJSON(w, http.StatusOK, s.renderRepo(r))
}

func (s *Server) getCommit(w http.ResponseWriter, req *http.Request, r *repo) {
	ref := req.PathValue("ref")
	if target, ok := strings.CutSuffix(ref, "/status"); ok {
		s.combinedStatus(w, r, target)
		return
	}
	c, ok := r.resolve(ref)
	if !ok {
		s.writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref, docCommit)
		return
	}
	writeJSON(w, http.StatusOK, s.renderCommit(r, c, true))
}

func (s *Server) combinedStatus(w http.ResponseWriter, r *repo, ref string) {
	c, ok := r.resolve(ref)
	if !ok {
		s.writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+ref, docCommit)
		return
	}
	latest := r.latestStatuses(c.SHA)
	state := "success"
	statuses := []any{}
	for _, ctx := range slices.Sorted(maps.Keys(latest)) {
		st := latest[ctx]
		statuses = append(statuses, s.renderCommitStatus(r, c.SHA, st))
		switch {
		case st.state == "error" || st.state == "failure":
			state = "failure"
		case st.state == "pending" && state == "success":
			state = "pending"
		}
	}
	if len(latest) == 0 {
		state = "pending"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"state": state, "statuses": statuses, "sha": c.SHA, "total_count": len(statuses),
		"repository": s.renderRepo(r), "commit_url": s.apiURL(r, "commits/"+c.SHA), "url": s.apiURL(r, "commits/"+c.SHA+"/status"),
	})
}

// latestStatuses is the newest status of each context of a commit.
func (r *repo) latestStatuses(sha string) map[string]commitStatus {
	out := map[string]commitStatus{}
	for _, st := range r.statuses[sha] {
		out[st.context] = st
	}
	return out
}

func (s *Server) createCommitStatus(w http.ResponseWriter, req *http.Request, r *repo) {
	var body struct {
		State       string `json:"state"`
		Context     string `json:"context"`
		Description string `json:"description"`
		TargetURL   string `json:"target_url"`
	}
	if !s.decode(w, req, &body) {
		return
	}
	c, ok := r.commits[req.PathValue("sha")]
	if !ok {
		s.writeError(w, http.StatusUnprocessableEntity, "No commit found for SHA: "+req.PathValue("sha"), docCommitState)
		return
	}
	if !slices.Contains([]string{"error", "failure", "pending", "success"}, body.State) {
		s.writeErrors(w, http.StatusUnprocessableEntity, "Validation Failed", docCommitState,
			map[string]any{"resource": "Status", "field": "state", "code": "custom", "message": "state is not included in the list"})
		return
	}
	if body.Context == "" {
		body.Context = "default"
	}
	st := commitStatus{id: s.id(), state: body.State, context: body.Context, description: body.Description, targetURL: body.TargetURL, at: s.now()}
	r.statuses[c.SHA] = append(r.statuses[c.SHA], st)
	writeJSON(w, http.StatusCreated, s.renderCommitStatus(r, c.SHA, st))
}

func (s *Server) listBranches(w http.ResponseWriter, _ *http.Request, r *repo) {
	out := []any{}
	for _, name := range slices.Sorted(maps.Keys(r.branches)) {
		out = append(out, s.renderShortBranch(r, name))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getBranch(w http.ResponseWriter, req *http.Request, r *repo) {
	name := req.PathValue("branch")
	if _, ok := r.branches[name]; !ok {
		s.writeError(w, http.StatusNotFound, "Branch not found", "https://docs.github.com/rest/branches/branches#get-a-branch")
		return
	}
	writeJSON(w, http.StatusOK, s.renderBranch(r, name))
}

func (s *Server) getRef(w http.ResponseWriter, req *http.Request, r *repo) {
	ref := req.PathValue("ref")
	kind, name, _ := strings.Cut(ref, "/")
	var sha string
	var ok bool
	switch kind {
	case "heads":
		sha, ok = r.branches[name]
	case "tags":
		sha, ok = r.tags[name]
	}
	if !ok {
		s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/git/refs#get-a-reference")
		return
	}
	writeJSON(w, http.StatusOK, s.renderRef(r, "refs/"+ref, sha))
}

func (s *Server) updateRef(w http.ResponseWriter, req *http.Request, r *repo) {
	var body struct {
		SHA   string `json:"sha"`
		Force bool   `json:"force"`
	}
	if !s.decode(w, req, &body) {
		return
	}
	ref := req.PathValue("ref")
	name, isBranch := strings.CutPrefix(ref, "heads/")
	head, ok := r.branches[name]
	switch {
	case !isBranch || !ok:
		s.writeError(w, http.StatusUnprocessableEntity, "Reference does not exist", docRef)
		return
	case r.commits[body.SHA] == nil:
		s.writeError(w, http.StatusUnprocessableEntity, "Object does not exist", docRef)
		return
	}
	if _, protected := r.protection[name]; protected {
		s.writeError(w, http.StatusUnprocessableEntity, "Protected branch update failed for refs/heads/"+name+".", docRef)
		return
	}
	if !body.Force && !r.contains(body.SHA, head) {
		s.writeError(w, http.StatusUnprocessableEntity, "Update is not a fast forward", docRef)
		return
	}
	r.branches[name] = body.SHA
	writeJSON(w, http.StatusOK, s.renderRef(r, "refs/"+ref, body.SHA))
}

func (s *Server) deleteRef(w http.ResponseWriter, req *http.Request, r *repo) {
	name, isBranch := strings.CutPrefix(req.PathValue("ref"), "heads/")
	if _, ok := r.branches[name]; !isBranch || !ok {
		s.writeError(w, http.StatusUnprocessableEntity, "Reference does not exist", "https://docs.github.com/rest/git/refs#delete-a-reference")
		return
	}
	if _, protected := r.protection[name]; protected {
		s.writeError(w, http.StatusUnprocessableEntity, "Cannot delete this protected branch", "https://docs.github.com/rest/git/refs#delete-a-reference")
		return
	}
	delete(r.branches, name)
	s.deliver("delete", deleteEvent(s, r, name))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) compare(w http.ResponseWriter, req *http.Request, r *repo) {
	baseRef, headRef, ok := strings.Cut(req.PathValue("basehead"), "...")
	base, bok := r.resolve(baseRef)
	head, hok := r.resolve(headRef)
	if !ok || !bok || !hok {
		s.writeError(w, http.StatusNotFound, "Not Found", docCompare)
		return
	}
	status, ahead, behind := r.relation(base.SHA, head.SHA)
	perPage := 250
	if n, err := strconv.Atoi(req.URL.Query().Get("per_page")); err == nil && n > 0 && n < perPage {
		perPage = n
	}
	commits := []any{}
	for i, c := range r.only(head.SHA, base.SHA) {
		if i == perPage {
			break
		}
		commits = append(commits, s.renderCommit(r, c, false))
	}
	mergeBase := base
	if mb := r.mergeBase(base.SHA, head.SHA); mb != "" {
		mergeBase = r.commits[mb]
	}
	basehead := base.SHA[:7] + "..." + head.SHA[:7]
	writeJSON(w, http.StatusOK, map[string]any{
		"url":               s.apiURL(r, "compare/"+basehead),
		"html_url":          s.webURL(r, "compare/"+basehead),
		"permalink_url":     s.webURL(r, "compare/"+r.owner+":"+basehead),
		"diff_url":          s.webURL(r, "compare/"+basehead+".diff"),
		"patch_url":         s.webURL(r, "compare/"+basehead+".patch"),
		"base_commit":       s.renderCommit(r, base, false),
		"merge_base_commit": s.renderCommit(r, mergeBase, false),
		"status":            status,
		"ahead_by":          ahead,
		"behind_by":         behind,
		"total_commits":     ahead,
		"commits":           commits,
		"files":             []any{},
	})
}

func (s *Server) listDeployments(w http.ResponseWriter, req *http.Request, r *repo) {
	q := req.URL.Query()
	out := []any{}
	for i := len(r.deployments) - 1; i >= 0; i-- {
		d := r.deployments[i]
		if q.Get("sha") != "" && q.Get("sha") != d.SHA || q.Get("environment") != "" && q.Get("environment") != d.Environment ||
			q.Get("ref") != "" && q.Get("ref") != d.Ref || q.Get("task") != "" && q.Get("task") != d.Task {
			continue
		}
		out = append(out, s.renderDeployment(r, d))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deploymentOf(w http.ResponseWriter, req *http.Request, r *repo) (*deployment, bool) {
	id, _ := strconv.ParseInt(req.PathValue("id"), 10, 64)
	for _, d := range r.deployments {
		if d.ID == id {
			return d, true
		}
	}
	s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/deployments/deployments#get-a-deployment")
	return nil, false
}

func (s *Server) getDeployment(w http.ResponseWriter, req *http.Request, r *repo) {
	if d, ok := s.deploymentOf(w, req, r); ok {
		writeJSON(w, http.StatusOK, s.renderDeployment(r, d))
	}
}

func (s *Server) createDeployment(w http.ResponseWriter, req *http.Request, r *repo) {
	var body struct {
		Ref                   string          `json:"ref"`
		Task                  *string         `json:"task"`
		AutoMerge             *bool           `json:"auto_merge"`
		RequiredContexts      *[]string       `json:"required_contexts"`
		Payload               json.RawMessage `json:"payload"`
		Environment           *string         `json:"environment"`
		Description           *string         `json:"description"`
		TransientEnvironment  bool            `json:"transient_environment"`
		ProductionEnvironment *bool           `json:"production_environment"`
	}
	if !s.decode(w, req, &body) {
		return
	}
	c, ok := r.resolve(body.Ref)
	if body.Ref == "" || !ok {
		s.writeError(w, http.StatusUnprocessableEntity, "No ref found for: "+body.Ref, docDeployments)
		return
	}
	autoMerge := body.AutoMerge == nil || *body.AutoMerge
	if branchHead, isBranch := r.branches[body.Ref]; isBranch && autoMerge && body.Ref != r.defaultBranch {
		def := r.branches[r.defaultBranch]
		if !r.contains(branchHead, def) {
			files, conflicts := r.mergeTrees(branchHead, def)
			if len(conflicts) > 0 {
				s.writeError(w, http.StatusConflict, fmt.Sprintf("Conflict merging %s into %s.", r.defaultBranch, body.Ref), docDeployments)
				return
			}
			m := r.newCommit(fmt.Sprintf("Merge branch '%s' into %s", r.defaultBranch, body.Ref), Login, s.now(), []string{branchHead, def}, files)
			r.branches[body.Ref] = m.SHA
			writeJSON(w, http.StatusAccepted, map[string]any{"message": fmt.Sprintf("Auto-merged %s into %s on deployment.", r.defaultBranch, body.Ref)})
			return
		}
	}
	latest := r.latestStatuses(c.SHA)
	var required []string
	if body.RequiredContexts != nil {
		required = *body.RequiredContexts
	} else {
		required = slices.Sorted(maps.Keys(latest))
	}
	var failed []any
	for _, ctx := range required {
		if st, ok := latest[ctx]; !ok || st.state != "success" {
			state := "missing"
			if ok {
				state = st.state
			}
			failed = append(failed, map[string]any{"context": ctx, "state": state})
		}
	}
	if len(failed) > 0 {
		s.writeErrors(w, http.StatusConflict, fmt.Sprintf("Conflict: Commit status checks failed for %s.", body.Ref), docDeployments,
			map[string]any{"contexts": failed, "resource": "Deployment", "field": "required_contexts", "code": "invalid"})
		return
	}
	env := "production"
	if body.Environment != nil {
		env = *body.Environment
	}
	d := &deployment{Deployment: Deployment{
		ID: s.id(), SHA: c.SHA, Ref: body.Ref, Task: "deploy", Environment: env, Payload: body.Payload, AutoMerge: autoMerge,
		Transient: body.TransientEnvironment, Production: env == "production",
	}, creator: Login, created: s.now()}
	if body.Task != nil {
		d.Task = *body.Task
	}
	if body.Description != nil {
		d.Description = *body.Description
	}
	if body.RequiredContexts != nil {
		d.RequiredContexts = slices.Clone(*body.RequiredContexts)
		if d.RequiredContexts == nil {
			d.RequiredContexts = []string{}
		}
	}
	if body.ProductionEnvironment != nil {
		d.Production = *body.ProductionEnvironment
	}
	if len(d.Payload) == 0 || string(d.Payload) == "null" {
		d.Payload = json.RawMessage("{}")
	}
	r.deployments = append(r.deployments, d)
	writeJSON(w, http.StatusCreated, s.renderDeployment(r, d))
}

func (s *Server) listDeploymentStatuses(w http.ResponseWriter, req *http.Request, r *repo) {
	d, ok := s.deploymentOf(w, req, r)
	if !ok {
		return
	}
	out := []any{}
	for i := len(d.Statuses) - 1; i >= 0; i-- {
		out = append(out, s.renderDeploymentStatus(r, d, d.Statuses[i]))
	}
	writeJSON(w, http.StatusOK, out)
}

// deploymentStates are the states a deployment status may take.
var deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

func (s *Server) createDeploymentStatus(w http.ResponseWriter, req *http.Request, r *repo) {
	d, ok := s.deploymentOf(w, req, r)
	if !ok {
		return
	}
	var body struct {
		State          string  `json:"state"`
		TargetURL      string  `json:"target_url"`
		LogURL         string  `json:"log_url"`
		Description    string  `json:"description"`
		Environment    *string `json:"environment"`
		EnvironmentURL string  `json:"environment_url"`
		AutoInactive   *bool   `json:"auto_inactive"`
	}
	if !s.decode(w, req, &body) {
		return
	}
	if !slices.Contains(deploymentStates, body.State) {
		s.writeErrors(w, http.StatusUnprocessableEntity, "Validation Failed", docStatuses,
			map[string]any{"resource": "DeploymentStatus", "field": "state", "code": "invalid"})
		return
	}
	if len([]rune(body.Description)) > 140 {
		s.writeErrors(w, http.StatusUnprocessableEntity, "Validation Failed", docStatuses,
			map[string]any{"resource": "DeploymentStatus", "field": "description", "code": "custom", "message": "description is too long (maximum is 140 characters)"})
		return
	}
	if body.LogURL == "" {
		body.LogURL = body.TargetURL
	}
	if body.Environment != nil {
		d.Environment = *body.Environment
	}
	st := DeploymentStatus{ID: s.id(), State: body.State, Description: body.Description, LogURL: body.LogURL, EnvironmentURL: body.EnvironmentURL}
	d.Statuses = append(d.Statuses, st)
	if body.State == "success" && (body.AutoInactive == nil || *body.AutoInactive) {
		for _, other := range r.deployments {
			n := len(other.Statuses)
			if other == d || other.Environment != d.Environment || other.Transient || other.Production || n == 0 || other.Statuses[n-1].State != "success" {
				continue
			}
			other.Statuses = append(other.Statuses, DeploymentStatus{ID: s.id(), State: "inactive",
				Description: "Marked inactive by a later deployment", EnvironmentURL: other.Statuses[n-1].EnvironmentURL})
		}
	}
	writeJSON(w, http.StatusCreated, s.renderDeploymentStatus(r, d, st))
}

func (s *Server) listPulls(w http.ResponseWriter, req *http.Request, r *repo) {
	q := req.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	head := q.Get("head")
	if owner, branch, ok := strings.Cut(head, ":"); ok {
		if !strings.EqualFold(owner, r.owner) {
			writeJSON(w, http.StatusOK, []any{})
			return
		}
		head = branch
	}
	out := []any{}
	for i := len(r.pulls) - 1; i >= 0; i-- {
		p := r.pulls[i]
		if state != "all" && p.State != state || head != "" && p.Head != head || q.Get("base") != "" && p.Base != q.Get("base") {
			continue
		}
		out = append(out, s.renderPull(r, p, false))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) pullOf(w http.ResponseWriter, req *http.Request, r *repo) (*pull, bool) {
	n, err := strconv.Atoi(req.PathValue("number"))
	if err != nil || n < 1 || n > len(r.pulls) {
		s.writeError(w, http.StatusNotFound, "Not Found", "https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
		return nil, false
	}
	return r.pulls[n-1], true
}

func (s *Server) getPull(w http.ResponseWriter, req *http.Request, r *repo) {
	if p, ok := s.pullOf(w, req, r); ok {
		writeJSON(w, http.StatusOK, s.renderPull(r, p, true))
	}
}

func (s *Server) createPull(w http.ResponseWriter, req *http.Request, r *repo) {
	var body struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
	}
	if !s.decode(w, req, &body) {
		return
	}
	head := body.Head
	if owner, branch, ok := strings.Cut(head, ":"); ok && strings.EqualFold(owner, r.owner) {
		head = branch
	}
	invalid := func(field string) {
		s.writeErrors(w, http.StatusUnprocessableEntity, "Validation Failed", docPulls,
			map[string]any{"resource": "PullRequest", "field": field, "code": "invalid"})
	}
	custom := func(message string) {
		s.writeErrors(w, http.StatusUnprocessableEntity, "Validation Failed", docPulls,
			map[string]any{"resource": "PullRequest", "code": "custom", "message": message})
	}
	headSHA, hok := r.branches[head]
	baseSHA, bok := r.branches[body.Base]
	switch {
	case body.Title == "":
		s.writeErrors(w, http.StatusUnprocessableEntity, "Validation Failed", docPulls,
			map[string]any{"resource": "PullRequest", "field": "title", "code": "missing_field"})
		return
	case !hok:
		invalid("head")
		return
	case !bok:
		invalid("base")
		return
	}
	for _, p := range r.pulls {
		if p.State == "open" && p.Head == head && p.Base == body.Base {
			custom(fmt.Sprintf("A pull request already exists for %s:%s.", r.owner, head))
			return
		}
	}
	if r.contains(baseSHA, headSHA) {
		custom(fmt.Sprintf("No commits between %s and %s", body.Base, head))
		return
	}
	p := &pull{PullRequest: PullRequest{Number: len(r.pulls) + 1, Title: body.Title, Body: body.Body, Head: head, Base: body.Base, State: "open"},
		headSHA: headSHA, baseSHA: baseSHA, created: s.now()}
	r.pulls = append(r.pulls, p)
	writeJSON(w, http.StatusCreated, s.renderPull(r, p, true))
}

func (s *Server) editPull(w http.ResponseWriter, req *http.Request, r *repo) {
	p, ok := s.pullOf(w, req, r)
	if !ok {
		return
	}
	var body struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
	}
	if !s.decode(w, req, &body) {
		return
	}
	if body.Title != nil {
		p.Title = *body.Title
	}
	if body.Body != nil {
		p.Body = *body.Body
	}
	if body.State != nil {
		switch *body.State {
		case "closed":
			if p.State == "open" {
				s.closePull(r, p)
			}
		case "open":
			if p.State == "closed" && !p.Merged {
				p.State = "open"
			}
		default:
			s.writeErrors(w, http.StatusUnprocessableEntity, "Validation Failed", docPulls,
				map[string]any{"resource": "PullRequest", "field": "state", "code": "invalid"})
			return
		}
	}
	writeJSON(w, http.StatusOK, s.renderPull(r, p, true))
}

// closePull closes p and tells the webhook.
func (s *Server) closePull(r *repo, p *pull) {
	p.State, p.closed = "closed", s.now()
	if sha, ok := r.branches[p.Head]; ok {
		p.headSHA = sha
	}
	s.deliver("pull_request", pullRequestEvent(s, r, p, "closed"))
}

func (s *Server) mergePull(w http.ResponseWriter, req *http.Request, r *repo) {
	p, ok := s.pullOf(w, req, r)
	if !ok {
		return
	}
	var body struct {
		CommitTitle   string `json:"commit_title"`
		CommitMessage string `json:"commit_message"`
		SHA           string `json:"sha"`
		MergeMethod   string `json:"merge_method"`
	}
	if !s.decode(w, req, &body) {
		return
	}
	if body.MergeMethod == "" {
		body.MergeMethod = "merge"
	}
	head, hok := r.branches[p.Head]
	base := r.branches[p.Base]
	switch {
	case p.State != "open" || !hok:
		s.writeError(w, http.StatusMethodNotAllowed, "Pull Request is not mergeable", docMerge)
		return
	case !slices.Contains([]string{"merge", "squash", "rebase"}, body.MergeMethod):
		s.writeErrors(w, http.StatusUnprocessableEntity, "Validation Failed", docMerge,
			map[string]any{"resource": "PullRequest", "field": "merge_method", "code": "invalid"})
		return
	case !slices.Contains(r.mergeMethods, body.MergeMethod):
		s.writeError(w, http.StatusMethodNotAllowed, map[string]string{
			"merge": "Merge commits are not allowed on this repository.", "squash": "Squash merges are not allowed on this repository.",
			"rebase": "Rebase merges are not allowed on this repository."}[body.MergeMethod], docMerge)
		return
	case body.SHA != "" && body.SHA != head:
		s.writeError(w, http.StatusConflict, "Head branch was modified. Review and try the merge again.", docMerge)
		return
	}
	if rule, ok := r.protection[p.Base]; ok {
		if rule.RequiredReviews > 0 {
			noun := "review is"
			if rule.RequiredReviews > 1 {
				noun = "reviews are"
			}
			s.writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("At least %d approving %s required by reviewers with write access.", rule.RequiredReviews, noun), docMerge)
			return
		}
		latest := r.latestStatuses(head)
		for _, ctx := range rule.RequiredChecks {
			if latest[ctx].state != "success" {
				s.writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("Required status check %q is expected.", ctx), docMerge)
				return
			}
		}
	}
	files, conflicts := r.mergeTrees(base, head)
	if len(conflicts) > 0 {
		s.writeError(w, http.StatusMethodNotAllowed, "Pull Request is not mergeable", docMerge)
		return
	}
	title := body.CommitTitle
	var merged string
	switch body.MergeMethod {
	case "merge":
		if title == "" {
			title = fmt.Sprintf("Merge pull request #%d from %s/%s", p.Number, r.owner, p.Head)
		}
		merged = r.newCommit(joinMessage(title, firstNonEmpty(body.CommitMessage, p.Title)), Login, s.now(), []string{base, head}, files).SHA
	case "squash":
		if title == "" {
			title = fmt.Sprintf("%s (#%d)", p.Title, p.Number)
		}
		var lines []string
		for _, c := range r.only(head, base) {
			lines = append(lines, "* "+c.Title())
		}
		merged = r.newCommit(joinMessage(title, firstNonEmpty(body.CommitMessage, strings.Join(lines, "\n"))), Login, s.now(), []string{base}, files).SHA
	case "rebase":
		tip, ok := r.rebase(head, base, s.now())
		if !ok {
			s.writeError(w, http.StatusMethodNotAllowed, "This branch can't be rebased", docMerge)
			return
		}
		merged = tip
	}
	r.branches[p.Base] = merged
	p.Merged, p.MergeMethod, p.MergeCommitSHA, p.headSHA, p.baseSHA = true, body.MergeMethod, merged, head, base
	s.closePull(r, p)
	writeJSON(w, http.StatusOK, map[string]any{"sha": merged, "merged": true, "message": "Pull Request successfully merged"})
}

func joinMessage(title, body string) string {
	if body == "" {
		return title
	}
	return title + "\n\n" + body
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
