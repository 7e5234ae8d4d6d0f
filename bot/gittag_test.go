package bot

import (
	"strings"
	"testing"
)

func TestTagTemplateGitTag(t *testing.T) {
	app := &App{Name: "shop", Tag: "{{.Tag}}"}
	if !app.UsesGitTag() {
		t.Fatal("{{.Tag}} not seen as using the git tag")
	}
	if got, err := app.ImageTag(strings.Repeat("a", 40), "v1.2.3"); err != nil || got != "v1.2.3" {
		t.Errorf("ImageTag = %q, %v; want v1.2.3", got, err)
	}
	if got, err := app.ImageTag(strings.Repeat("a", 40), "refs/tags/v1.2.3"); err != nil || got != "v1.2.3" {
		t.Errorf("ImageTag of refs/tags/v1.2.3 = %q, %v; want v1.2.3", got, err)
	}
	if _, err := app.ImageTag(strings.Repeat("a", 40), "release/1.2"); ErrorCode(err) != EINVALID {
		t.Errorf("tag release/1.2 made an image tag: %v", err)
	}
	if (&App{Tag: "git_{{.ShortSHA}}"}).UsesGitTag() {
		t.Error("git_{{.ShortSHA}} seen as using the git tag")
	}
}

func TestAutoDeployRefusesGitTagTemplate(t *testing.T) {
	app := &App{Name: "shop", Repo: "acme/shop", Image: "quay.io/acme/shop", Tag: "{{.Tag}}", Environments: map[string]*Environment{
		"dev": {ECS: &ECSTarget{Cluster: "c", Service: "s", Container: "x"}, AutoDeploy: &AutoDeploy{Branch: "main"}},
	}}
	errs := app.validate("apps.shop")
	if len(errs) != 1 || errs[0].Key != "apps.shop.environments.dev.auto_deploy" {
		t.Errorf("errors %v, want one on auto_deploy", errs)
	}
}
