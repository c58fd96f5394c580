package githubsim

import (
	"crypto/sha1" //nolint:gosec // commit IDs, as Git makes them, not security
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
)

// Commit is a commit of a simulated repository.
type Commit struct {
	SHA     string
	Message string
	Parents []string
	// Files is the whole tree at this commit: path → content.
	Files  map[string]string
	Author string
	At     time.Time
	// seq orders commits by creation, for merge bases.
	seq int
}

// Title is the first line of the commit's message.
func (c Commit) Title() string {
	line, _, _ := strings.Cut(c.Message, "\n")
	return line
}

// repo is one simulated repository. Every method expects the Server's lock.
type repo struct {
	id            int64
	owner, name   string
	defaultBranch string
	branches      map[string]string // name → SHA
	tags          map[string]string
	commits       map[string]*Commit
	protection    map[string]Protection
	deployments   []*deployment
	pulls         []*pull
	statuses      map[string][]commitStatus // SHA → statuses, oldest first
	mergeMethods  []string                  // allowed merge methods
	seq           int
}

func newRepo(id int64, owner, name string) *repo {
	return &repo{id: id, owner: owner, name: name, branches: map[string]string{}, tags: map[string]string{},
		commits: map[string]*Commit{}, protection: map[string]Protection{}, statuses: map[string][]commitStatus{},
		mergeMethods: []string{"merge", "squash", "rebase"}}
}

func (r *repo) fullName() string { return r.owner + "/" + r.name }

// newCommit stores a commit and returns it. Its SHA is made, as Git's,
// from its content; the sequence number keeps equal contents apart.
func (r *repo) newCommit(message, author string, at time.Time, parents []string, files map[string]string) *Commit {
	r.seq++
	h := sha1.New() //nolint:gosec // see the import
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s\x00%d", r.fullName(), message, r.seq, strings.Join(parents, ","), at.UnixNano())
	for _, p := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "\x00%s=%s", p, files[p])
	}
	c := &Commit{SHA: hex.EncodeToString(h.Sum(nil)), Message: message, Parents: parents, Files: files, Author: author, At: at, seq: r.seq}
	r.commits[c.SHA] = c
	return c
}

// commitOnto makes a commit on top of parent that changes files: a path
// given an empty content is deleted.
func (r *repo) commitOnto(parent, message, author string, at time.Time, changes map[string]string) *Commit {
	files := map[string]string{}
	var parents []string
	if p, ok := r.commits[parent]; ok {
		maps.Copy(files, p.Files)
		parents = []string{parent}
	}
	for path, content := range changes {
		if content == "" {
			delete(files, path)
		} else {
			files[path] = content
		}
	}
	return r.newCommit(message, author, at, parents, files)
}

// resolve finds the commit a ref names, as GitHub's commits endpoint does:
// a full or abbreviated SHA (7 characters at least), a branch or tag,
// heads/NAME, tags/NAME or refs/….
func (r *repo) resolve(ref string) (*Commit, bool) {
	ref = strings.TrimPrefix(ref, "refs/")
	if name, ok := strings.CutPrefix(ref, "heads/"); ok {
		return r.commit(r.branches[name])
	}
	if name, ok := strings.CutPrefix(ref, "tags/"); ok {
		return r.commit(r.tags[name])
	}
	if sha, ok := r.branches[ref]; ok {
		return r.commit(sha)
	}
	if sha, ok := r.tags[ref]; ok {
		return r.commit(sha)
	}
	if c, ok := r.commits[ref]; ok {
		return c, true
	}
	if len(ref) >= 7 && isHex(ref) {
		var found *Commit
		for sha, c := range r.commits {
			if strings.HasPrefix(sha, ref) {
				if found != nil {
					return nil, false // ambiguous
				}
				found = c
			}
		}
		return found, found != nil
	}
	return nil, false
}

func (r *repo) commit(sha string) (*Commit, bool) {
	c, ok := r.commits[sha]
	return c, ok
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// ancestors returns every commit reachable from sha, itself included.
func (r *repo) ancestors(sha string) map[string]bool {
	seen := map[string]bool{}
	stack := []string{sha}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[s] {
			continue
		}
		seen[s] = true
		if c, ok := r.commits[s]; ok {
			stack = append(stack, c.Parents...)
		}
	}
	return seen
}

// contains reports whether sha is head or one of its ancestors.
func (r *repo) contains(head, sha string) bool { return r.ancestors(head)[sha] }

// mergeBase is the newest common ancestor of a and b; "" when none.
func (r *repo) mergeBase(a, b string) string {
	inA := r.ancestors(a)
	best := ""
	for s := range r.ancestors(b) {
		if inA[s] && (best == "" || r.commits[s].seq > r.commits[best].seq) {
			best = s
		}
	}
	return best
}

// only lists the commits reachable from head but not from base, oldest
// first.
func (r *repo) only(head, base string) []*Commit {
	inBase := r.ancestors(base)
	var out []*Commit
	for s := range r.ancestors(head) {
		if !inBase[s] {
			out = append(out, r.commits[s])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// relation is GitHub's compare status of head against base.
func (r *repo) relation(base, head string) (status string, ahead, behind int) {
	ahead, behind = len(r.only(head, base)), len(r.only(base, head))
	switch {
	case base == head:
		return "identical", 0, 0
	case behind == 0:
		return "ahead", ahead, 0
	case ahead == 0:
		return "behind", 0, behind
	}
	return "diverged", ahead, behind
}

// mergeTrees merges the trees of ours and theirs from their merge base,
// path by path; it reports the paths both changed differently.
func (r *repo) mergeTrees(ours, theirs string) (map[string]string, []string) {
	var base map[string]string
	if b := r.mergeBase(ours, theirs); b != "" {
		base = r.commits[b].Files
	}
	o, t := r.commits[ours].Files, r.commits[theirs].Files
	out := map[string]string{}
	var conflicts []string
	paths := map[string]bool{}
	for _, m := range []map[string]string{base, o, t} {
		for p := range m {
			paths[p] = true
		}
	}
	for p := range paths {
		bv, bok := base[p]
		ov, ook := o[p]
		tv, tok := t[p]
		switch {
		case ov == tv && ook == tok:
			if ook {
				out[p] = ov
			}
		case ov == bv && ook == bok:
			if tok {
				out[p] = tv
			}
		case tv == bv && tok == bok:
			if ook {
				out[p] = ov
			}
		default:
			conflicts = append(conflicts, p)
		}
	}
	sort.Strings(conflicts)
	return out, conflicts
}

// changes is what commit c changed against its first parent.
func (r *repo) changes(c *Commit) (changed map[string]string, before map[string]string) {
	before = map[string]string{}
	if len(c.Parents) > 0 {
		before = r.commits[c.Parents[0]].Files
	}
	changed = map[string]string{}
	for p, v := range c.Files {
		if before[p] != v {
			changed[p] = v
		}
	}
	for p := range before {
		if _, ok := c.Files[p]; !ok {
			changed[p] = ""
		}
	}
	return changed, before
}

// rebase replays the commits of head that base lacks onto base, each with
// the changes it made to its first parent, and returns the new tip; false
// when a change meets a path base changed otherwise.
func (r *repo) rebase(head, base string, at time.Time) (string, bool) {
	tip := base
	for _, c := range r.only(head, base) {
		if len(c.Parents) > 1 {
			continue // a merge commit's changes come with the commits it merged
		}
		changed, before := r.changes(c)
		current := r.commits[tip].Files
		for p, v := range changed {
			if cur := current[p]; cur != before[p] && cur != v {
				return "", false
			}
		}
		tip = r.commitOnto(tip, c.Message, c.Author, at, changed).SHA
	}
	return tip, true
}
