package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
	"github.com/google/go-cmp/cmp"
)

// An app whose images are named after git tags deploys tags only, each
// at the commit it names.
func TestGitTagImages(t *testing.T) {
	tests := []struct {
		name        string
		ref         string
		sha         string // known already, as for a resumed or API deployment
		wantState   bot.State
		wantReason  string
		wantCreated int
		wantImage   string
	}{
		{name: "a tag", ref: "v1.2.3", wantState: bot.StateSucceeded, wantCreated: 1, wantImage: ecr + "/web@" + digest},
		{name: "a tag as a full ref", ref: "refs/tags/v1.2.3", wantState: bot.StateSucceeded, wantCreated: 1, wantImage: ecr + "/web@" + digest},
		{name: "a branch is refused before anything is stored", ref: "main",
			wantReason: `app web deploys images named after git tags (tag: {{.Tag}}), and "main" is not a tag of acme/web`},
		{name: "a sha is refused before anything is stored", ref: sha1[:7],
			wantReason: `and "` + sha1[:7] + `" is not a tag of acme/web`},
		{name: "a tag naming another commit than the API deployment's", ref: "v1.2.3", sha: sha2,
			wantReason: "git tag v1.2.3 names cf7edb2 now, not d00dfee"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := gitTagWorld(t)
			d, err := w.Service.Accept(context.Background(), bot.Request{App: "web", Env: "dev", Ref: tt.ref, SHA: tt.sha, Requester: "slack:UDEV", Source: bot.SourceSlack})
			if tt.wantState == "" {
				if bot.ErrorCode(err) != bot.EINVALID || !strings.Contains(bot.ErrorMessage(err), tt.wantReason) {
					t.Errorf("Accept = %v, %v; want refused with %q", d, err, tt.wantReason)
				}
				if ds := w.Store.Deployments(); len(ds) != 0 {
					t.Errorf("%d deployments stored for a refused ref", len(ds))
				}
				if n := len(w.GitHub.Deployments()); n != 0 {
					t.Errorf("%d GitHub deployments for a refused ref", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w.Service.Run(context.Background(), d)
			got := stored(t, w, d.ID)
			if got.State != tt.wantState || !strings.Contains(got.Reason, tt.wantReason) || got.Image != tt.wantImage {
				t.Errorf("stored %s %q image %q; want %s containing %q, image %q", got.State, got.Reason, got.Image, tt.wantState, tt.wantReason, tt.wantImage)
			}
			if n := len(w.GitHub.Deployments()); n != tt.wantCreated {
				t.Errorf("%d GitHub deployments, want %d", n, tt.wantCreated)
			}
			if tt.wantState == bot.StateSucceeded {
				if diff := cmp.Diff([]string{ecr + "/web:v1.2.3"}, w.Images.Resolved()); diff != "" {
					t.Errorf("images looked up (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// A rollback of such an app names the earlier tag, not its sha: the
// image is named after the tag.
func TestGitTagRollback(t *testing.T) {
	cfg := testConfig()
	cfg.Apps["web"].Tag = "{{.Tag}}"
	cfg.Apps["web"].Environments["dev"].AutoDeploy = nil
	w := bottest.NewWorld(t, cfg)
	for _, r := range []struct{ tag, sha string }{{"v1.0.0", sha1}, {"v1.1.0", sha2}} {
		w.GitHub.SetTag(r.tag, r.sha)
		d := seed(t, w, "web", "prod", r.sha, bot.StateSucceeded)
		d.Ref = r.tag
		if err := w.Store.UpdateDeployment(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	d, err := w.Service.Rollback(context.Background(), bot.Request{App: "web", Env: "prod", Requester: "slack:UOPS", Source: bot.SourceSlack})
	if err != nil || d.Ref != "v1.0.0" || d.SHA != sha1 {
		t.Errorf("Rollback = %+v, %v; want v1.0.0 at sha1", d, err)
	}
}

// A dry run of a ref that is not a tag is refused as the deploy would be.
func TestGitTagDryRun(t *testing.T) {
	w := gitTagWorld(t)
	w.GitHub.SetRef("v1.2.3", sha1)
	_, err := w.Service.Plan(context.Background(), bot.Request{App: "web", Env: "dev", Ref: "main", Requester: "slack:UDEV", Source: bot.SourceSlack})
	if bot.ErrorCode(err) != bot.EINVALID || !strings.Contains(bot.ErrorMessage(err), `"main" is not a tag of acme/web`) {
		t.Errorf("dry run of main: %v; want refused as not a tag", err)
	}
	p, err := w.Service.Plan(context.Background(), bot.Request{App: "web", Env: "dev", Ref: "v1.2.3", Requester: "slack:UDEV", Source: bot.SourceSlack})
	if err != nil || p.Image != ecr+"/web@"+digest {
		t.Errorf("dry run of v1.2.3: %+v, %v; want the image tagged v1.2.3", p, err)
	}
}

// gitTagWorld has app web name its images after git tags, with tag
// v1.2.3 on sha1 (green, its image pushed) and branch main on sha3.
func gitTagWorld(t *testing.T) *bottest.World {
	t.Helper()
	cfg := testConfig()
	cfg.Apps["web"].Tag = "{{.Tag}}"
	cfg.Apps["web"].Environments["dev"].AutoDeploy = nil
	w := bottest.NewWorld(t, cfg)
	w.GitHub.SetTag("v1.2.3", sha1)
	w.GitHub.SetRef("refs/tags/v1.2.3", sha1)
	w.GitHub.SetRef("main", sha3)
	w.GitHub.SetChecks(sha1, green("ci/test"))
	w.Images.Push(ecr+"/web", "v1.2.3", digest)
	return w
}
