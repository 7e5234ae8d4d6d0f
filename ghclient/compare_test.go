package ghclient_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/deploybot/deploybot/bot"
)

// The emulator's compare endpoint read through go-github v60's
// CompareCommits: the status, the count, and the newest ten commits with
// their authors, oldest first.
func TestCompare(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			f := newFixture(t)
			parent := sha
			var want []bot.Commit
			for i := 1; i <= 12; i++ {
				child := fmt.Sprintf("%040x", i)
				author := []string{"alice", "bob"}[i%2]
				f.emu.AddChild(repoName, parent, child, author, fmt.Sprintf("change %d\n\nwhy", i))
				if i > 2 {
					want = append(want, bot.Commit{SHA: child, Author: author, Message: fmt.Sprintf("change %d", i)})
				}
				parent = child
			}
			c := m.client(t, f)
			ctx := context.Background()

			got, err := c.Compare(ctx, repo, sha, parent)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(bot.Comparison{Status: "ahead", Total: 12, Commits: want}, got); diff != "" {
				t.Errorf("Compare (-want +got):\n%s", diff)
			}
			back, err := c.Compare(ctx, repo, parent, sha)
			if err != nil || back.Status != "behind" || back.Total != 0 || len(back.Commits) != 0 {
				t.Errorf("Compare back = %+v, %v; want behind with no commits", back, err)
			}
			if _, err := c.Compare(ctx, repo, sha, otherSHA); bot.ErrorCode(err) != bot.ENOTFOUND {
				t.Errorf("Compare of unrelated commits: error %v; want %s", err, bot.ENOTFOUND)
			}
			if _, err := c.Compare(ctx, repo, "main", parent); bot.ErrorCode(err) != bot.EINVALID {
				t.Errorf("Compare of a branch name: error %v; want %s", err, bot.EINVALID)
			}
		})
	}
}
