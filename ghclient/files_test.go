package ghclient_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/githubemu"
)

func TestFiles(t *testing.T) {
	f := newFixture(t)
	f.emu.SetFiles(repoName, sha, map[string]githubemu.File{
		".ebextensions/01.config":        {Content: "one"},
		".ebextensions/nested/02.config": {Content: "two"},
		".platform/hooks/prebuild/x.sh":  {Content: "#!/bin/sh\n", Mode: "100755"},
		".ebextensions-not/x":            {Content: "a sibling with the same prefix"},
		"README.md":                      {Content: "not asked for"},
	})
	c := modes[0].client(t, f)
	got, err := c.Files(context.Background(), repo, sha, []string{".ebextensions", ".platform/", "missing"}, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := []bot.RepoFile{
		{Path: ".ebextensions/01.config", Content: []byte("one")},
		{Path: ".ebextensions/nested/02.config", Content: []byte("two")},
		{Path: ".platform/hooks/prebuild/x.sh", Executable: true, Content: []byte("#!/bin/sh\n")},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("Files (-got +want):\n%s", diff)
	}
}

func TestFilesRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]githubemu.File
		limit int64
		want  string
	}{
		{"symlink", map[string]githubemu.File{".ebextensions/link": {Content: "../../etc", Mode: "120000"}}, 1 << 20, ".ebextensions/link is a symbolic link"},
		{"too large", map[string]githubemu.File{".ebextensions/a": {Content: strings.Repeat("x", 600)}, ".ebextensions/b": {Content: strings.Repeat("x", 600)}}, 1000, "hold more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.emu.SetFiles(repoName, sha, tc.files)
			before := f.emu.CallCount()
			_, err := modes[1].client(t, f).Files(context.Background(), repo, sha, []string{".ebextensions"}, tc.limit)
			if bot.ErrorCode(err) != bot.EINVALID || !strings.Contains(bot.ErrorMessage(err), tc.want) {
				t.Fatalf("got %v, want invalid: %s", err, tc.want)
			}
			for _, c := range f.emu.Calls()[before:] {
				if strings.Contains(c.Path, "/git/blobs/") {
					t.Errorf("a blob was read before the refusal: %s", c.Path)
				}
			}
		})
	}
}

func TestTagCommit(t *testing.T) {
	f := newFixture(t)
	f.emu.AddTag(repoName, "v2.0.0", otherSHA)
	c := modes[0].client(t, f)
	if got, err := c.TagCommit(context.Background(), repo, "v2.0.0"); err != nil || got != otherSHA {
		t.Errorf("TagCommit(v2.0.0) = %s, %v; want %s", got, err, otherSHA)
	}
	// main is a branch, not a tag.
	if _, err := c.TagCommit(context.Background(), repo, "main"); bot.ErrorCode(err) != bot.ENOTFOUND {
		t.Errorf("TagCommit(main) error %v, want not found", err)
	}
}
