package bot

import (
	"strings"
	"testing"
)

func TestPlanTextNamesCurrentNewCIQueueAndCommits(t *testing.T) {
	sha := strings.Repeat("b", 40)
	p := &Plan{
		App: "web", Env: "prod", Ref: "main", SHA: sha,
		Image:             "repo/web@sha256:" + strings.Repeat("2", 64),
		Current:           Running{Image: "repo/web@sha256:" + strings.Repeat("1", 64), Revision: "task definition web:4"},
		CurrentDeployment: &Deployment{ID: 12, SHA: strings.Repeat("a", 40)},
		Checks:            []Check{{Name: "ci/build", State: CheckSuccess}, {Name: "lint", State: CheckPending}},
		CI:                CIVerdict{Pending: []string{"lint"}},
		InFlight:          []*Deployment{{ID: 13, SHA: strings.Repeat("c", 40), State: StateWaitingForCI}},
		Comparison: &Comparison{Status: "ahead", Total: 12, Commits: []Commit{
			{SHA: strings.Repeat("d", 40), Author: "alice", Message: "first\n\nbody"},
			{SHA: strings.Repeat("e", 40), Author: "bob", Message: "second"},
		}},
	}
	assertPlanSays(t, p,
		"Dry run: web bbbbbbb → prod (nothing was created or changed)",
		"Now: repo/web@sha256:1111", "(task definition web:4), deployed by deploybot as #12 (aaaaaaa)",
		"New: repo/web@sha256:2222",
		"CI: pending (the deploy would wait for it): ci/build success, lint pending; waiting for lint",
		"Queue: not locked; would queue behind #13 ccccccc waiting_for_ci",
		"Commits that would ship: 12 (the newest 2 below)",
		"• eeeeeee second (bob)\n• ddddddd first (alice)",
	)
	if slack := p.Message().Text; !strings.Contains(slack, "`lint`") {
		t.Errorf("Slack plan does not quote check names as code:\n%s", slack)
	}
}

func TestPlanTextSaysWhatWouldStopTheDeploy(t *testing.T) {
	p := &Plan{
		App: "web", Env: "prod", Ref: "abc1234", SHA: strings.Repeat("a", 40), Requester: "slack:U2",
		ImageProblem: Textf("repo/web:git_aaaaaaa not found"),
		Current:      Running{Image: "nginx:latest", Revision: "task definition web:1"},
		Checks:       []Check{{Name: "ci", State: CheckFailure}},
		CI:           CIVerdict{Failed: []Check{{Name: "ci", State: CheckFailure}}},
		Lock:         &EnvLock{App: "web", Env: "prod", Owner: "slack:U1", Reason: "freeze"},
		Refused:      true,
	}
	assertPlanSays(t, p,
		"Now: nginx:latest (task definition web:1), not deployed by deploybot",
		"New: no image: repo/web:git_aaaaaaa not found (the deploy would fail)",
		"CI: failed (the deploy would fail): ci failure",
		"web prod is locked by slack:U1: freeze (the deploy would be refused)",
		"Commits: unknown",
	)
}

func assertPlanSays(t *testing.T, p *Plan, wants ...string) {
	t.Helper()
	got := p.Plain()
	for _, want := range wants {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
}
