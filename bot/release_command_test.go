package bot

import (
	"strings"
	"testing"
)

func TestParseDryRunAndPromote(t *testing.T) {
	for _, tc := range []struct {
		text string
		want Command
	}{
		{"web main prod --dry-run", Command{Kind: CommandDryRun, App: "web", Ref: "main", Env: "prod"}},
		{"--DRY-RUN web v1.2 to prod", Command{Kind: CommandDryRun, App: "web", Ref: "v1.2", Env: "prod"}},
		{"web\u00a0main prod\u00a0--dry-run", Command{Kind: CommandDryRun, App: "web", Ref: "main", Env: "prod"}},
		{"promote web dev prod", Command{Kind: CommandPromote, App: "web", From: "dev", Env: "prod"}},
		{"Promote web dev prod", Command{Kind: CommandPromote, App: "web", From: "dev", Env: "prod"}},
	} {
		if got := ParseSlackCommand(tc.text); got != tc.want {
			t.Errorf("ParseSlackCommand(%q) = %+v; want %+v", tc.text, got, tc.want)
		}
	}
	for text, why := range map[string]string{
		"web main --dry-run":              "a deploy needs an app, a ref and an environment",
		"rollback web prod --dry-run":     "`--dry-run` goes with a deploy only",
		"--dry-run":                       "`--dry-run` goes with a deploy only",
		"promote web dev":                 "`/deploy promote` needs an app, the environment to promote from",
		"promote web dev prod now":        "I did not expect `now`",
		"promote web dev dev":             "needs two different environments",
		"promote web d&lt;ev prod":        "is not an environment name",
		"promote w!eb dev prod":           "is not an app name",
		"web main prod --dry-run --force": "with nothing else on the line",
	} {
		got := ParseSlackCommand(text)
		if got.Kind != CommandHelp || !strings.Contains(got.Reply, why) || !strings.HasSuffix(got.Reply, usageHelpLine) || strings.Count(got.Reply, "\n") != 1 {
			t.Errorf("ParseSlackCommand(%q) = %+v; want help saying %q", text, got, why)
		}
	}
	for _, line := range []string{"--dry-run` — the plan", "`/deploy promote &lt;app&gt; &lt;from&gt; &lt;to&gt;`"} {
		if !strings.Contains(SlackUsage, line) {
			t.Errorf("usage lacks %q", line)
		}
	}
}

func TestParseCommentDryRun(t *testing.T) {
	for body, want := range map[string]CommentCommand{
		"deploy to dev --dry-run":         {Kind: CommentDeploy, Env: "dev", DryRun: true},
		"/deploy web to prod --DRY-RUN  ": {Kind: CommentDeploy, App: "web", Env: "prod", DryRun: true},
		"deploy to dev":                   {Kind: CommentDeploy, Env: "dev"},
		"> deploy to dev --dry-run":       {Kind: CommentIgnore},
	} {
		if got := ParseComment(body); got != want {
			t.Errorf("ParseComment(%q) = %+v; want %+v", body, got, want)
		}
	}
	if got := ParseComment("deploy to dev --dry-run now"); got.Kind != CommentReply || !strings.Contains(got.Reply, "`--dry-run` after it") {
		t.Errorf("ParseComment with words after --dry-run = %+v; want a reply showing the usage", got)
	}
}
