package githubemu

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// AddChild adds commit sha to repo as the child of parent (which must
// exist), authored by login with message; each of refs then resolves to
// it. The parent links are what the compare endpoint walks.
func (e *Emulator) AddChild(repo, parent, sha, login, message string, refs ...string) {
	if !isFullSHA(sha) {
		panic(fmt.Sprintf("githubemu: AddChild(%q, %q): want a 40-digit lower-case hex sha", repo, sha))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	e.mustCommit(rp, parent)
	if login != "" {
		e.addUser(login)
	}
	rp.commits[sha] = &commit{sha: sha, message: message, at: e.now(), parent: parent, author: login}
	for _, ref := range refs {
		rp.refs[ref] = sha
	}
}

// Ref returns the sha ref (a branch or tag name) resolves to in repo.
func (e *Emulator) Ref(repo, ref string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	sha, ok := rp.refs[ref]
	return sha, ok
}

// ancestry is sha and its ancestors, newest first.
func (rp *repo) ancestry(sha string) []string {
	var out []string
	for sha != "" && len(out) <= len(rp.commits) {
		out = append(out, sha)
		c := rp.commits[sha]
		if c == nil {
			break
		}
		sha = c.parent
	}
	return out
}

// compareCommits is GET /repos/{owner}/{repo}/compare/{base}...{head}, in
// the shape go-github's CompareCommits reads: status, ahead_by, behind_by,
// total_commits and the commits in head but not in base, oldest first.
func (e *Emulator) compareCommits(r *http.Request, rp *repo, _ credential) response {
	baseRef, headRef, ok := strings.Cut(r.PathValue("basehead"), "...")
	if !ok {
		return notFound()
	}
	base, ok := rp.resolve(baseRef)
	if !ok {
		return notFound()
	}
	head, ok := rp.resolve(headRef)
	if !ok {
		return notFound()
	}
	headLine, baseLine := rp.ancestry(head), rp.ancestry(base)
	inBase := make(map[string]bool, len(baseLine))
	for _, sha := range baseLine {
		inBase[sha] = true
	}
	var ahead []string // newest first
	mergeBase := ""
	for _, sha := range headLine {
		if inBase[sha] {
			mergeBase = sha
			break
		}
		ahead = append(ahead, sha)
	}
	if mergeBase == "" {
		return notFound() // no common ancestor: GitHub answers 404 too
	}
	behind := 0
	for _, sha := range baseLine {
		if sha == mergeBase {
			break
		}
		behind++
	}
	status := "diverged"
	switch {
	case len(ahead) == 0 && behind == 0:
		status = "identical"
	case behind == 0:
		status = "ahead"
	case len(ahead) == 0:
		status = "behind"
	}
	apiURL, html := apiBase(r), htmlBase(r)
	commits := make([]any, 0, len(ahead))
	for i := len(ahead) - 1; i >= 0; i-- {
		commits = append(commits, rp.commitJSON(apiURL, html, ahead[i]))
	}
	return reply(http.StatusOK, map[string]any{
		"url":               fmt.Sprintf("%s/repos/%s/compare/%s...%s", apiURL, rp.fullName, baseRef, headRef),
		"html_url":          fmt.Sprintf("%s/%s/compare/%s...%s", html, rp.fullName, baseRef, headRef),
		"base_commit":       rp.commitJSON(apiURL, html, base),
		"merge_base_commit": rp.commitJSON(apiURL, html, mergeBase),
		"status":            status,
		"ahead_by":          len(ahead),
		"behind_by":         behind,
		"total_commits":     len(ahead),
		"commits":           commits,
		"files":             []any{},
	})
}

// commitJSON is a commit as the compare endpoint lists it.
func (rp *repo) commitJSON(apiURL, html, sha string) map[string]any {
	c := rp.commits[sha]
	name, login := "Emulator", c.author
	if login != "" {
		name = login
	}
	person := map[string]any{"name": name, "email": strings.ToLower(name) + "@example.com", "date": c.at.Format(time.RFC3339)}
	parents := []any{}
	if c.parent != "" {
		parents = append(parents, map[string]any{"sha": c.parent, "url": fmt.Sprintf("%s/repos/%s/commits/%s", apiURL, rp.fullName, c.parent)})
	}
	out := map[string]any{
		"sha":      sha,
		"node_id":  nodeID("Commit", sha),
		"url":      fmt.Sprintf("%s/repos/%s/commits/%s", apiURL, rp.fullName, sha),
		"html_url": fmt.Sprintf("%s/%s/commit/%s", html, rp.fullName, sha),
		"commit":   map[string]any{"message": c.message, "author": person, "committer": person, "tree": map[string]any{"sha": sha}},
		"parents":  parents,
	}
	if login != "" {
		out["author"] = userJSON(apiURL, login, "User")
		out["committer"] = userJSON(apiURL, login, "User")
	}
	return out
}
