package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/emulator/awsemu"
)

// A promotion deploys the very digest dev runs, not what the tag names
// now, with dev's sha, to an ECS env and to an Elastic Beanstalk env; and
// every view says where it came from.
func TestPromotionLandsTheIdenticalDigest(t *testing.T) {
	sb := newTestSandbox(t)
	sha := sb.commit("promote me", "main", "success", true)
	src := slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	if src.State != bot.StateSucceeded {
		t.Fatalf("dev deployment %s: %s", src.State, src.Reason)
	}
	// The tag moves on (a rebuild): a promotion must not follow it.
	sb.aws.PutImage("takumi-server", "git_"+sha[:7], "sha256:"+strings.Repeat("e", 64))
	digest := strings.TrimPrefix(src.Image, sandboxImage+"@")
	origin := fmt.Sprintf("promoted from dev (#%d, %s…)", src.ID, digest[:len("sha256:")+8])

	d := slashDeploy(t, sb, "promote takumi-server dev prod")
	if d.State != bot.StateSucceeded || d.SHA != sha || d.Image != src.Image || d.Env != "prod" {
		t.Fatalf("promotion = %s %s %s on %s (%s); want succeeded, %s, %s on prod", d.State, d.SHA, d.Image, d.Env, d.Reason, sha, src.Image)
	}
	td, _ := sb.aws.Service("prod", sandboxService)
	if got := sb.aws.TaskDefinitionImage(td, sandboxContainer); got != src.Image {
		t.Errorf("prod's task definition runs %q; want exactly %q", got, src.Image)
	}

	var gd map[string]any
	for _, g := range sb.github.Deployments(sandboxRepo) {
		if g.ID == d.GitHubDeploymentID {
			gd = g.Payload
		}
	}
	want := map[string]any{"env": "dev", "deployment": float64(src.ID), "digest": digest}
	if got, _ := gd["promoted_from"].(map[string]any); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("GitHub payload promoted_from = %v; want %v", gd["promoted_from"], want)
	}
	if h := sb.slackHistory(d); !strings.Contains(lastOf(h), strings.Replace(origin, digest[:15]+"…", "`"+digest[:15]+"…`", 1)) {
		t.Errorf("Slack message %q does not say %q", lastOf(h), origin)
	}
	resp, err := http.Get(fmt.Sprintf("%s/deployments/%d", sb.bot.URL, d.ID))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), origin) {
		t.Errorf("dashboard page of #%d does not say %q", d.ID, origin)
	}
	// The lists say it too, not only the deployment's own page.
	if r := rowOf(get(t, sb.bot.URL+"/"), fmt.Sprintf("history-%d", d.ID)); !strings.Contains(r, origin) {
		t.Errorf("the dashboard's history row of #%d does not say %q:\n%s", d.ID, origin, r)
	}
	if r := rowOf(get(t, sb.bot.URL+"/apps/takumi-server/envs/prod"), fmt.Sprintf("recent-%d", d.ID)); !strings.Contains(r, origin) {
		t.Errorf("prod's page does not say #%d was %q:\n%s", d.ID, origin, r)
	}

	// To Elastic Beanstalk: the Dockerrun names the same digest.
	eb := slashDeploy(t, sb, "promote takumi-server prod staging")
	if eb.State != bot.StateSucceeded || eb.PromotedFrom == nil || eb.PromotedFrom.Deployment != d.ID {
		t.Fatalf("promotion to staging = %s (%s), from %+v", eb.State, eb.Reason, eb.PromotedFrom)
	}
	body, ok := sb.aws.Object(sandboxBucket, fmt.Sprintf("%s/%s/deployment-%d/Dockerrun.aws.json", sandboxApp, sha, eb.ID))
	var dockerrun struct{ Image struct{ Name string } }
	if err := json.Unmarshal(body, &dockerrun); !ok || err != nil || dockerrun.Image.Name != src.Image {
		t.Errorf("staging's Dockerrun names %q (%v, %v); want exactly %q\n%s", dockerrun.Image.Name, ok, err, src.Image, body)
	}
}

// What dev runs was changed outside deploybot: the promotion is refused,
// naming what runs there, and creates nothing. Someone not allowed on the
// target is refused before AWS is asked anything.
func TestPromotionRefusals(t *testing.T) {
	sb := newTestSandbox(t)
	ctx := context.Background()
	sha := sb.commit("promote outside", "main", "success", true)
	slashDeploy(t, sb, "takumi-server "+sha[:7]+" dev")
	const hotfix = sandboxImage + ":hotfix-by-hand"
	sb.aws.AddService(sandboxCluster, sandboxService, awsemu.TaskDef{
		Family: sandboxService + "-" + sandboxCluster, CPU: "256", Memory: "512",
		Containers: []awsemu.Container{{Name: sandboxContainer, Image: hotfix, Memory: 512}},
	})
	before := countWorld(t, sb)
	code, reply, err := sb.slash(ctx, sandboxUser, "promote takumi-server dev prod")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !strings.Contains(reply, "`"+hotfix+"`") || !strings.Contains(reply, "changed outside deploybot") || strings.Contains(reply, "accepted") {
		t.Errorf("promotion after an outside change: %d %q; want a refusal naming %s", code, reply, hotfix)
	}
	awsCalls := len(sb.aws.Calls())
	code, reply, err = sb.slash(ctx, sandboxStranger, "promote takumi-server dev prod")
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK || !strings.Contains(reply, "may not deploy takumi-server to prod") {
		t.Errorf("promotion by someone not allowed: %d %q", code, reply)
	}
	if n := len(sb.aws.Calls()) - awsCalls; n != 0 {
		t.Errorf("a refused requester's promotion made %d AWS calls", n)
	}
	if after := countWorld(t, sb); after != before {
		t.Errorf("refused promotions changed the world: before %+v, after %+v", before, after)
	}
}

// rowOf is the table row of id on page, "" if there is none.
func rowOf(page, id string) string {
	start := strings.Index(page, `<tr id="`+id+`">`)
	if start < 0 {
		return ""
	}
	end := strings.Index(page[start:], "</tr>")
	return page[start : start+end]
}
