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
