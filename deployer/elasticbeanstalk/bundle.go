package elasticbeanstalk

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deploybot/deploybot/bot"
)

// RepoFiles reads an app's repository at a commit: the paths a source
// bundle ships beside Dockerrun.aws.json. The GitHub adapter implements it.
type RepoFiles interface {
	// Files returns the regular files under each of paths at sha,
	// leaving out paths the commit lacks; more than limit bytes is an error.
	Files(ctx context.Context, repo bot.Repo, sha string, paths []string, limit int64) ([]bot.RepoFile, error)
}

// WithRepoFiles lets environments with `bundle:` read their paths.
func WithRepoFiles(f RepoFiles) Option {
	return func(d *Deployer) { d.files = f }
}

// bundleEpoch stamps every zip entry, so that a bundle is the same bytes
// for the same commit and image, whenever it is made.
var bundleEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// sourceBundle returns the object written for doc: doc itself, or, with
// `bundle:` paths, a zip of doc and those paths at the deployed commit.
func (r *run) sourceBundle(ctx context.Context, doc []byte) (body []byte, contentType string, err error) {
	if len(r.t.Bundle) == 0 {
		return doc, "application/json", nil
	}
	if r.dp.files == nil {
		return nil, "", bot.Errorf(bot.EINTERNAL, "environment %s has bundle paths but deploybot has no way to read the repository", r.env.Name)
	}
	files, err := r.dp.files.Files(ctx, bot.Repo{FullName: r.d.Repo, InstallationID: r.d.InstallationID}, r.d.SHA, r.t.Bundle, bot.MaxBundleBytes)
	if err != nil {
		return nil, "", err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, mode uint32, content []byte) error {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: bundleEpoch}
		h.SetMode(0o644)
		if mode != 0 {
			h.SetMode(0o755)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		_, err = w.Write(content)
		return err
	}
	if err := add(bot.DockerrunFile, 0, doc); err != nil {
		return nil, "", err
	}
	found := map[string]bool{}
	for _, f := range files {
		if f.Path == bot.DockerrunFile {
			continue // ours is the one EB must run
		}
		var mode uint32
		if f.Executable {
			mode = 1
		}
		if err := add(f.Path, mode, f.Content); err != nil {
			return nil, "", err
		}
		for _, p := range r.t.Bundle {
			if f.Path == p || strings.HasPrefix(f.Path, strings.TrimSuffix(p, "/")+"/") {
				found[p] = true
			}
		}
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	if buf.Len() > bot.MaxBundleBytes {
		return nil, "", bot.Errorf(bot.EINVALID, "the source bundle of %s at %s is over %d MB", r.d.Repo, r.d.ShortSHA(), bot.MaxBundleBytes>>20)
	}
	var missing []string
	for _, p := range r.t.Bundle {
		if !found[p] {
			missing = append(missing, p)
		}
	}
	line := fmt.Sprintf("source bundle: Dockerrun.aws.json and %d file(s) of %s at %s", len(files), strings.Join(r.t.Bundle, ", "), r.d.ShortSHA())
	if len(missing) > 0 {
		line += fmt.Sprintf(" (%s not in that commit)", strings.Join(missing, ", "))
	}
	r.progress(line)
	return buf.Bytes(), "application/zip", nil
}

// dockerrunInBundle returns the Dockerrun.aws.json at the root of a zip
// source bundle.
func dockerrunInBundle(zr *zip.Reader, label string) ([]byte, error) {
	for _, f := range zr.File {
		if f.Name != bot.DockerrunFile {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, bot.Errorf(bot.EINVALID, "pre-flight: the source bundle of current version %q: %v", label, err)
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, 1<<20))
	}
	return nil, bot.Errorf(bot.EINVALID, "pre-flight: the source bundle of current version %q has no Dockerrun.aws.json at its root", label)
}
