package bot_test

import (
	"context"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
)

// BenchmarkRunOnFakes is bot's own time per deployment, from Accept to
// succeeded, with every port answering at once (bot/bottest): the part of
// DESIGN.md's 50 ms budget that is the pipeline's, without HTTP.
func BenchmarkRunOnFakes(b *testing.B) {
	w := bottest.NewWorld(b, testConfig())
	w.Images.Push(ecr+"/web", "git_"+sha1[:7], digest)
	w.GitHub.SetChecks(sha1, green("ci/test"))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d, err := w.Service.Accept(ctx, bot.Request{App: "web", Env: "dev", Ref: sha1, Requester: "slack:UDEV", Source: bot.SourceSlack})
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Service.Run(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
}
