package githubsim

import (
	"encoding/base64"
	"fmt"
	"time"
)

// The JSON shapes below follow GitHub's documentation examples (see
// testdata/README.md): same keys, same kinds of values.

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func nodeID(kind string, id any) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s%v", kind, id))
}

func (s *Server) apiURL(r *repo, path string) string {
	u := s.srv.URL + "/repos/" + r.fullName()
	if path != "" {
		u += "/" + path
	}
	return u
}

func (s *Server) webURL(r *repo, path string) string {
	u := s.WebURL() + r.fullName()
	if path != "" {
		u += "/" + path
	}
	return u
}

func (s *Server) renderUser(login string) map[string]any {
	api := s.srv.URL + "/users/" + login
	return map[string]any{
		"login": login, "id": 1, "node_id": nodeID("User", login), "avatar_url": s.WebURL() + "avatars/" + login,
		"gravatar_id": "", "url": api, "html_url": s.WebURL() + login,
		"followers_url": api + "/followers", "following_url": api + "/following{/other_user}", "gists_url": api + "/gists{/gist_id}",
		"starred_url": api + "/starred{/owner}{/repo}", "subscriptions_url": api + "/subscriptions", "organizations_url": api + "/orgs",
		"repos_url": api + "/repos", "events_url": api + "/events{/privacy}", "received_events_url": api + "/received_events",
		"type": "User", "site_admin": false,
	}
}

func (s *Server) renderRepo(r *repo) map[string]any {
	return map[string]any{
		"id": r.id, "node_id": nodeID("Repository", r.id), "name": r.name, "full_name": r.fullName(), "private": true,
		"owner": s.renderUser(r.owner), "html_url": s.webURL(r, ""), "description": nil, "fork": false,
		"url": s.apiURL(r, ""), "default_branch": r.defaultBranch, "visibility": "private", "archived": false,
	}
}

func (s *Server) person(c *Commit) map[string]any {
	return map[string]any{"name": c.Author, "email": c.Author + "@users.noreply.github.com", "date": stamp(c.At)}
}

func (s *Server) renderCommit(r *repo, c *Commit, full bool) map[string]any {
	parents := []any{}
	for _, p := range c.Parents {
		parents = append(parents, map[string]any{"sha": p, "url": s.apiURL(r, "commits/"+p), "html_url": s.webURL(r, "commit/"+p)})
	}
	out := map[string]any{
		"url":          s.apiURL(r, "commits/"+c.SHA),
		"sha":          c.SHA,
		"node_id":      nodeID("Commit", c.SHA),
		"html_url":     s.webURL(r, "commit/"+c.SHA),
		"comments_url": s.apiURL(r, "commits/"+c.SHA+"/comments"),
		"commit": map[string]any{
			"url":           s.apiURL(r, "git/commits/"+c.SHA),
			"author":        s.person(c),
			"committer":     s.person(c),
			"message":       c.Message,
			"tree":          map[string]any{"url": s.apiURL(r, "git/trees/"+c.SHA), "sha": c.SHA},
			"comment_count": 0,
			"verification":  map[string]any{"verified": false, "reason": "unsigned", "signature": nil, "payload": nil, "verified_at": nil},
		},
		"author":    s.renderUser(c.Author),
		"committer": s.renderUser(c.Author),
		"parents":   parents,
	}
	if full {
		changed, _ := r.changes(c)
		files := []any{}
		for path, content := range changed {
			status := "modified"
			if content == "" {
				status = "removed"
			}
			files = append(files, map[string]any{"filename": path, "status": status, "additions": 1, "deletions": 0, "changes": 1})
		}
		out["stats"] = map[string]any{"additions": len(changed), "deletions": 0, "total": len(changed)}
		out["files"] = files
	}
	return out
}

func (s *Server) renderShortBranch(r *repo, name string) map[string]any {
	rule, protected := r.protection[name]
	sha := r.branches[name]
	return map[string]any{
		"name":           name,
		"commit":         map[string]any{"sha": sha, "url": s.apiURL(r, "commits/"+sha)},
		"protected":      protected,
		"protection":     renderProtection(rule, protected),
		"protection_url": s.apiURL(r, "branches/"+name+"/protection"),
	}
}

func (s *Server) renderBranch(r *repo, name string) map[string]any {
	out := s.renderShortBranch(r, name)
	out["commit"] = s.renderCommit(r, r.commits[r.branches[name]], false)
	out["_links"] = map[string]any{"self": s.apiURL(r, "branches/"+name), "html": s.webURL(r, "tree/"+name)}
	return out
}

func renderProtection(rule Protection, protected bool) map[string]any {
	level := "off"
	contexts := []string{}
	if protected {
		level = "non_admins"
		contexts = append(contexts, rule.RequiredChecks...)
	}
	return map[string]any{"enabled": protected, "required_status_checks": map[string]any{
		"enforcement_level": level, "contexts": contexts, "checks": []any{},
	}}
}

func (s *Server) renderRef(r *repo, ref, sha string) map[string]any {
	return map[string]any{
		"ref": ref, "node_id": nodeID("Ref", ref), "url": s.apiURL(r, "git/"+ref),
		"object": map[string]any{"sha": sha, "type": "commit", "url": s.apiURL(r, "git/commits/"+sha)},
	}
}

func (s *Server) renderCommitStatus(r *repo, sha string, st commitStatus) map[string]any {
	return map[string]any{
		"url": s.apiURL(r, "statuses/"+sha), "avatar_url": s.WebURL() + "avatars/" + Login, "id": st.id,
		"node_id": nodeID("StatusContext", st.id), "state": st.state, "description": st.description,
		"target_url": st.targetURL, "context": st.context, "created_at": stamp(st.at), "updated_at": stamp(st.at),
	}
}

func (s *Server) renderDeployment(r *repo, d *deployment) map[string]any {
	id := fmt.Sprint(d.ID)
	return map[string]any{
		"url":                    s.apiURL(r, "deployments/"+id),
		"id":                     d.ID,
		"node_id":                nodeID("Deployment", d.ID),
		"sha":                    d.SHA,
		"ref":                    d.Ref,
		"task":                   d.Task,
		"payload":                d.Payload,
		"original_environment":   d.Environment,
		"environment":            d.Environment,
		"description":            d.Description,
		"creator":                s.renderUser(d.creator),
		"created_at":             stamp(d.created),
		"updated_at":             stamp(d.created),
		"statuses_url":           s.apiURL(r, "deployments/"+id+"/statuses"),
		"repository_url":         s.apiURL(r, ""),
		"transient_environment":  d.Transient,
		"production_environment": d.Production,
	}
}

func (s *Server) renderDeploymentStatus(r *repo, d *deployment, st DeploymentStatus) map[string]any {
	dep := s.apiURL(r, fmt.Sprintf("deployments/%d", d.ID))
	now := stamp(s.now())
	return map[string]any{
		"url":             fmt.Sprintf("%s/statuses/%d", dep, st.ID),
		"id":              st.ID,
		"node_id":         nodeID("DeploymentStatus", st.ID),
		"state":           st.State,
		"creator":         s.renderUser(Login),
		"description":     st.Description,
		"environment":     d.Environment,
		"target_url":      st.LogURL,
		"created_at":      now,
		"updated_at":      now,
		"deployment_url":  dep,
		"repository_url":  s.apiURL(r, ""),
		"environment_url": st.EnvironmentURL,
		"log_url":         st.LogURL,
	}
}

func (s *Server) renderPullBranch(r *repo, branch, sha string) map[string]any {
	return map[string]any{
		"label": r.owner + ":" + branch, "ref": branch, "sha": sha,
		"user": s.renderUser(r.owner), "repo": s.renderRepo(r),
	}
}

// renderPull renders a pull request: the whole object, or (full false)
// the shorter one of lists.
func (s *Server) renderPull(r *repo, p *pull, full bool) map[string]any {
	n := fmt.Sprint(p.Number)
	headSHA, baseSHA := p.headSHA, p.baseSHA
	if p.State == "open" {
		headSHA, baseSHA = r.branches[p.Head], r.branches[p.Base]
	}
	var closedAt, mergedAt, mergeSHA any
	if p.State == "closed" {
		closedAt = stamp(p.closed)
	}
	if p.Merged {
		mergedAt, mergeSHA = stamp(p.closed), p.MergeCommitSHA
	}
	out := map[string]any{
		"url":                 s.apiURL(r, "pulls/"+n),
		"id":                  int64(p.Number) + r.id*1000,
		"node_id":             nodeID("PullRequest", p.Number),
		"html_url":            s.webURL(r, "pull/"+n),
		"diff_url":            s.webURL(r, "pull/"+n+".diff"),
		"patch_url":           s.webURL(r, "pull/"+n+".patch"),
		"issue_url":           s.apiURL(r, "issues/"+n),
		"commits_url":         s.apiURL(r, "pulls/"+n+"/commits"),
		"review_comments_url": s.apiURL(r, "pulls/"+n+"/comments"),
		"review_comment_url":  s.apiURL(r, "pulls/comments{/number}"),
		"comments_url":        s.apiURL(r, "issues/"+n+"/comments"),
		"statuses_url":        s.apiURL(r, "statuses/"+headSHA),
		"number":              p.Number,
		"state":               p.State,
		"locked":              false,
		"title":               p.Title,
		"user":                s.renderUser(Login),
		"body":                p.Body,
		"labels":              []any{},
		"milestone":           nil,
		"active_lock_reason":  nil,
		"created_at":          stamp(p.created),
		"updated_at":          stamp(p.created),
		"closed_at":           closedAt,
		"merged_at":           mergedAt,
		"merge_commit_sha":    mergeSHA,
		"assignee":            nil,
		"assignees":           []any{},
		"requested_reviewers": []any{},
		"requested_teams":     []any{},
		"head":                s.renderPullBranch(r, p.Head, headSHA),
		"base":                s.renderPullBranch(r, p.Base, baseSHA),
		"_links":              map[string]any{"self": map[string]any{"href": s.apiURL(r, "pulls/"+n)}, "html": map[string]any{"href": s.webURL(r, "pull/"+n)}},
		"author_association":  "MEMBER",
		"auto_merge":          nil,
		"draft":               false,
	}
	if !full {
		return out
	}
	var mergeable any
	mergeableState := "unknown"
	if p.State == "open" {
		_, conflicts := r.mergeTrees(baseSHA, headSHA)
		mergeable = len(conflicts) == 0
		mergeableState = "clean"
		if len(conflicts) > 0 {
			mergeableState = "dirty"
		} else if _, protected := r.protection[p.Base]; protected {
			mergeableState = "blocked"
		}
	}
	var mergedBy any
	if p.Merged {
		mergedBy = s.renderUser(Login)
	}
	commits := r.only(headSHA, baseSHA)
	if p.Merged {
		commits = nil
	}
	out["merged"] = p.Merged
	out["mergeable"] = mergeable
	out["rebaseable"] = mergeable
	out["mergeable_state"] = mergeableState
	out["merged_by"] = mergedBy
	out["comments"] = 0
	out["review_comments"] = 0
	out["maintainer_can_modify"] = false
	out["commits"] = len(commits)
	out["additions"] = len(commits)
	out["deletions"] = 0
	out["changed_files"] = len(commits)
	return out
}
