package bot

import (
	"fmt"
	"path"
	"strings"
)

// RepoFile is one file of a repository at a commit.
type RepoFile struct {
	Path       string // slash-separated, relative to the repository root
	Executable bool
	Content    []byte
}

// MaxBundleBytes caps an Elastic Beanstalk source bundle's files: EB
// itself refuses bundles over 500 MB, and a stack configuration that large
// is a mistake (a build output committed by accident) better named early.
const MaxBundleBytes = 50 << 20

// DockerrunFile is the name EB looks for at the root of a source bundle.
const DockerrunFile = "Dockerrun.aws.json"

func validateBundle(key string, paths []string) []*ConfigError {
	var errs []*ConfigError
	for i, p := range paths {
		clean := path.Clean(p)
		switch {
		case p == "" || strings.HasPrefix(p, "/") || clean == "." || clean == ".." || strings.HasPrefix(clean, "../"):
			errs = append(errs, &ConfigError{Key: fmt.Sprintf("%s[%d]", key, i), Message: fmt.Sprintf("want a path inside the repository such as .ebextensions, got %q", p)})
		case clean == DockerrunFile:
			errs = append(errs, &ConfigError{Key: fmt.Sprintf("%s[%d]", key, i), Message: "Dockerrun.aws.json is written by deploybot; leave it out"})
		}
	}
	return errs
}
