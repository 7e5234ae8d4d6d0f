package githubemu

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
)

// File is one file of a commit's tree.
type File struct {
	Content string
	// Mode is git's: 100644 (the default), 100755, or 120000 for a
	// symbolic link whose Content is its target.
	Mode string
}

// gitData is what the Git database endpoints serve: lightweight tags and
// the files of commits.
type gitData struct {
	tags  map[string]string          // tag name → commit sha
	trees map[string]map[string]File // commit sha → path → file
	blobs map[string]string          // blob sha → content
}

// AddTag points the lightweight tag name at commit sha (which it adds if
// need be); the tag resolves as a ref too, as on GitHub.
func (e *Emulator) AddTag(repo, name, sha string) {
	e.AddCommit(repo, sha)
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	if rp.git.tags == nil {
		rp.git.tags = map[string]string{}
	}
	rp.git.tags[name] = sha
	rp.refs[name] = sha
}

// SetFiles gives commit sha (which it adds if need be) the files, by path.
func (e *Emulator) SetFiles(repo, sha string, files map[string]File) {
	e.AddCommit(repo, sha)
	e.mu.Lock()
	defer e.mu.Unlock()
	rp := e.mustRepo(repo)
	if rp.git.trees == nil {
		rp.git.trees, rp.git.blobs = map[string]map[string]File{}, map[string]string{}
	}
	tree := map[string]File{}
	for p, f := range files {
		if f.Mode == "" {
			f.Mode = "100644"
		}
		tree[p] = f
		rp.git.blobs[blobSHA(f.Content)] = f.Content
	}
	rp.git.trees[sha] = tree
}

// blobSHA is git's object id of a blob.
func blobSHA(content string) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write([]byte(content))
	return hex.EncodeToString(h.Sum(nil))
}

func (e *Emulator) gitRoutes() {
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/git/ref/{ref...}", e.withRepo(e.getGitRef))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/git/trees/{sha}", e.withRepo(e.getGitTree))
	e.mux.HandleFunc("GET "+Prefix+"/repos/{owner}/{repo}/git/blobs/{sha}", e.withRepo(e.getGitBlob))
}

// getGitRef answers for tags/<name> and heads/<name>.
func (e *Emulator) getGitRef(r *http.Request, rp *repo, _ credential) response {
	ref := r.PathValue("ref")
	var sha string
	if name, ok := strings.CutPrefix(ref, "tags/"); ok {
		sha = rp.git.tags[name]
	} else if name, ok := strings.CutPrefix(ref, "heads/"); ok && rp.git.tags[name] == "" {
		sha = rp.refs[name]
	}
	if sha == "" {
		return notFound()
	}
	base := apiBase(r)
	return reply(http.StatusOK, map[string]any{
		"ref": "refs/" + ref, "url": fmt.Sprintf("%s/repos/%s/git/refs/%s", base, rp.fullName, ref),
		"object": map[string]any{"type": "commit", "sha": sha, "url": fmt.Sprintf("%s/repos/%s/git/commits/%s", base, rp.fullName, sha)},
	})
}

// getGitTree serves the tree of a commit, recursive or its top level; the
// sha is the commit's, which GitHub accepts for its root tree.
func (e *Emulator) getGitTree(r *http.Request, rp *repo, _ credential) response {
	sha, ok := rp.resolve(r.PathValue("sha"))
	if !ok {
		return notFound()
	}
	files := rp.git.trees[sha]
	recursive := r.URL.Query().Get("recursive") != ""
	dirs := map[string]bool{}
	var entries []map[string]any
	base := apiBase(r)
	for p, f := range files {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
		if !recursive && strings.Contains(p, "/") {
			continue
		}
		b := blobSHA(f.Content)
		entries = append(entries, map[string]any{"path": p, "mode": f.Mode, "type": "blob", "sha": b, "size": len(f.Content),
			"url": fmt.Sprintf("%s/repos/%s/git/blobs/%s", base, rp.fullName, b)})
	}
	for d := range dirs {
		if !recursive && strings.Contains(d, "/") {
			continue
		}
		entries = append(entries, map[string]any{"path": d, "mode": "040000", "type": "tree", "sha": blobSHA("tree " + sha + d)})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i]["path"].(string) < entries[j]["path"].(string) })
	return reply(http.StatusOK, map[string]any{"sha": sha, "tree": entries, "truncated": false,
		"url": fmt.Sprintf("%s/repos/%s/git/trees/%s", base, rp.fullName, sha)})
}

func (e *Emulator) getGitBlob(r *http.Request, rp *repo, _ credential) response {
	sha := r.PathValue("sha")
	content, ok := rp.git.blobs[sha]
	if !ok {
		return notFound()
	}
	return reply(http.StatusOK, map[string]any{"sha": sha, "size": len(content), "encoding": "base64",
		"content": base64.StdEncoding.EncodeToString([]byte(content))})
}
