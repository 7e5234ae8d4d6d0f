package bot

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEvaluateCI(t *testing.T) {
	ok := func(n string) Check { return Check{Name: n, State: CheckSuccess} }
	st := func(n string, s CheckState) Check { return Check{Name: n, State: s} }
	tests := []struct {
		name   string
		app    App
		checks []Check
		want   CIVerdict
	}{
		{"all pass", App{}, []Check{ok("build"), ok("lint")}, CIVerdict{Passed: true}},
		{"none reported", App{}, nil, CIVerdict{NoneReported: true}},
		{"one failed", App{}, []Check{ok("build"), st("lint", CheckFailure)}, CIVerdict{Failed: []Check{st("lint", CheckFailure)}}},
		{"one pending", App{}, []Check{ok("build"), st("lint", CheckPending)}, CIVerdict{Pending: []string{"lint"}}},
		{"failure beats pending", App{}, []Check{st("a", CheckPending), st("b", CheckFailure)}, CIVerdict{Failed: []Check{st("b", CheckFailure)}, Pending: []string{"a"}}},
		{"neutral fails by default", App{}, []Check{ok("build"), st("docs", CheckNeutral)}, CIVerdict{Failed: []Check{st("docs", CheckNeutral)}}},
		{"neutral allowed", App{CIPassStates: []CheckState{CheckNeutral}}, []Check{ok("build"), st("docs", CheckNeutral)}, CIVerdict{Passed: true}},
		{"named check passes, others ignored", App{Checks: []string{"ci/codeship"}}, []Check{ok("ci/codeship"), st("lint", CheckFailure)}, CIVerdict{Passed: true}},
		{"named check missing waits", App{Checks: []string{"ci/codeship"}}, []Check{ok("lint")}, CIVerdict{Pending: []string{"ci/codeship"}}},
		{"named check failed", App{Checks: []string{"ci/codeship", "build"}}, []Check{st("ci/codeship", CheckFailure)}, CIVerdict{Failed: []Check{st("ci/codeship", CheckFailure)}}},
		{"named skipped fails by default", App{Checks: []string{"e2e"}}, []Check{st("e2e", CheckSkipped)}, CIVerdict{Failed: []Check{st("e2e", CheckSkipped)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(EvaluateCI(&tt.app, tt.checks), tt.want); diff != "" {
				t.Errorf("EvaluateCI (-got +want):\n%s", diff)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	open := &Environment{Name: "dev", App: "web"}
	if err := open.Authorize("slack:U1", nil); err != nil {
		t.Errorf("env without allow refused: %v", err)
	}
	prod := &Environment{Name: "prod", App: "web", Allow: []string{"slack:U024BE7LH", "github:octocat", "github-team:org/sre"}}
	for _, who := range []string{"slack:U024BE7LH", "github:Octocat"} {
		if err := prod.Authorize(who, nil); err != nil {
			t.Errorf("%s refused: %v", who, err)
		}
	}
	err := prod.Authorize("slack:U999", nil)
	if ErrorCode(err) != EFORBIDDEN {
		t.Fatalf("stranger: %v, want forbidden", err)
	}
	if want := "slack:U999 may not deploy web to prod: ask someone who can deploy to prod, or a deploybot admin, to add you to its allow list"; ErrorMessage(err) != want {
		t.Errorf("message = %q, want %q", ErrorMessage(err), want)
	}
	if got, want := ErrorText(err).Slack(), "<@U999> may not deploy web to prod"; !strings.HasPrefix(got, want) {
		t.Errorf("in Slack: %q, want it to start %q", got, want)
	}
	for _, who := range prod.Allow {
		if strings.Contains(ErrorMessage(err), who) {
			t.Errorf("refusal %q reveals allow entry %s", ErrorMessage(err), who)
		}
	}
	inTeam := func(org, team, login string) (bool, error) {
		return org == "org" && team == "sre" && login == "carol", nil
	}
	if err := prod.Authorize("github:carol", inTeam); err != nil {
		t.Errorf("team member refused: %v", err)
	}
	if err := prod.Authorize("github:dave", inTeam); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("non-member: %v, want forbidden", err)
	}
	if err := prod.Authorize("slack:carol", inTeam); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("a Slack user matched a GitHub team: %v", err)
	}
	failing := func(string, string, string) (bool, error) { return true, Errorf(EINTERNAL, "down") }
	if err := prod.Authorize("github:carol", failing); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("a failed team lookup let carol in: %v", err)
	}
}
