package bot_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/deploybot/deploybot/bot"
	"github.com/deploybot/deploybot/bot/bottest"
	"github.com/google/go-cmp/cmp"
)

// Each saved step is one update to every reporter, the store already
// holding what it says.
func TestReportsEachStep(t *testing.T) {
	tests := []struct {
		name  string
		setup func(w *bottest.World)
		want  []string // state, GitHub status, timeline line
		// failure is the last update's Failure: why, for who renders it.
		failure string
	}{
		{
			name:  "success",
			setup: func(w *bottest.World) { w.GitHub.SetChecks(sha1, green("ci/test")) },
			want: []string{
				"queued | queued | Queued",
				"waiting_for_ci |  | Waiting for CI",
				"waiting_for_ci |  | CI: ci/test success",
				"verifying_image | in_progress | CI passed; checking the image",
				"deploying |  | Deploying " + ecr + "/web:git_cf7edb2",
				"deploying |  | rolled out " + ecr + "/web@" + digest,
				"succeeded | success | Succeeded: Deployed cf7edb2 to dev (revision 2)",
			},
		},
		{
			name:  "red CI",
			setup: func(w *bottest.World) { w.GitHub.SetChecks(sha1, check("ci/test", bot.CheckFailure)) },
			want: []string{
				"queued | queued | Queued",
				"waiting_for_ci |  | Waiting for CI",
				"waiting_for_ci |  | CI: ci/test failure",
				"failed | failure | Failed: CI failed for cf7edb2: ci/test (failure)",
			},
			failure: "CI failed for cf7edb2: ci/test (failure)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			tt.setup(w)
			var saved []bot.State
			w.Service.Reporters = append(w.Service.Reporters, reporterFunc(func(u bot.Update) {
				saved = append(saved, stored(t, w, u.Deployment.ID).State)
			}))
			d := accept(t, w, "web", sha1, "dev", "slack:UDEV")
			w.Service.Run(context.Background(), d)
			got := w.Reporter.Updates()
			var steps []string
			for _, u := range got {
				steps = append(steps, fmt.Sprintf("%s | %s | %s", u.State, u.GitHub, u.Line))
			}
			if diff := cmp.Diff(tt.want, steps); diff != "" {
				t.Errorf("updates (-want +got):\n%s", diff)
			}
			if last := got[len(got)-1]; last.Failure != tt.failure {
				t.Errorf("last update's failure %q, want %q", last.Failure, tt.failure)
			}
			for i, u := range got {
				if saved[i] != u.State {
					t.Errorf("update %d tells of %s while the store holds %s", i, u.State, saved[i])
				}
			}
		})
	}
}

type reporterFunc func(u bot.Update)

func (f reporterFunc) Report(ctx context.Context, u bot.Update) { f(u) }
