package bot_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// runs is a deployer that also says what its target runs now, as the
// real ECS and Elastic Beanstalk deployers do.
type runs struct {
	*bottest.Deployer
	image string
}

func (r runs) Running(context.Context, *bot.Environment) (bot.Running, error) {
	return bot.Running{Image: r.image, Revision: "task definition web-dev:7"}, nil
}

func TestPromotionRefusals(t *testing.T) {
	image := ecr + "/web@" + digest
	for _, tc := range []struct {
		name  string
		state bot.State // of the deployment that put image in dev
		want  string
	}{
		{"still rolling out", bot.StateDeploying, "still deploying #"},
		{"still verifying health", bot.StateVerifyingHealth, "still deploying #"},
		{"failed there", bot.StateFailed, "which ended failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.Service.Deployers[bot.TargetECS] = runs{w.ECS, image}
			d := seed(t, w, "web", "dev", sha1, tc.state)
			d.Image = image
			if err := w.Store.UpdateDeployment(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			_, err := w.Service.Promote(context.Background(), bot.Request{App: "web", Env: "prod", Requester: "slack:UADMIN", Source: bot.SourceSlack}, "dev")
			wantCode(t, err, bot.ECONFLICT, tc.want)
			if err == nil {
				return
			}
			if strings.Contains(err.Error(), "outside") || !strings.Contains(err.Error(), "#"+strconv.FormatInt(d.ID, 10)) {
				t.Errorf("refusal %q; want it to name #%d and not blame an outside change", err, d.ID)
			}
		})
	}
}

// A promotion's Slack message says where it came from once per update,
// even on the line that itself names the origin.
func TestPromotionSaysItsOriginOnce(t *testing.T) {
	w := newWorld(t)
	image := ecr + "/web@" + digest
	w.Service.Deployers[bot.TargetECS] = runs{w.ECS, image}
	src := seed(t, w, "web", "dev", sha1, bot.StateSucceeded)
	src.Image = image
	if err := w.Store.UpdateDeployment(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	w.GitHub.SetChecks(sha1, green("ci/test"))
	d, err := w.Service.Promote(context.Background(), bot.Request{App: "web", Env: "prod", Requester: "slack:UADMIN", Source: bot.SourceSlack, SlackChannel: "CASK"}, "dev")
	if err != nil {
		t.Fatal(err)
	}
	w.Service.Run(context.Background(), d)
	if got := stored(t, w, d.ID); got.State != bot.StateSucceeded || got.Image != image {
		t.Fatalf("promotion ended %s with %s (%s)", got.State, got.Image, got.Reason)
	}
	history := w.Chat.History(d.SlackChannel, d.SlackTS)
	for _, m := range history {
		if n := strings.Count(m.Text, "promoted from dev"); n != 1 {
			t.Errorf("a Slack update says its origin %d times: %s", n, m.Text)
		}
	}
	if len(history) < 3 {
		t.Errorf("only %d Slack updates", len(history))
	}
}
