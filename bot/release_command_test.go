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

// Every line of the contract's Slack grammar, its placeholders filled in,
// parses as the command it names; and the usage shows each form.
func TestSlackGrammarLinesParse(t *testing.T) {
	fill := strings.NewReplacer("<app>", "web", "<ref>", "cf7edb2", "<env>", "prod", "[<env>]", "prod",
		"[reason]", "freeze", "<id>", "42", "<from>", "dev", "<to>", "prod")
	for line, want := range map[string]CommandKind{
		"/deploy <app> <ref> <env>":           CommandDeploy,
		"/deploy <app> <ref> to <env>":        CommandDeploy,
		"/deploy status <app> [<env>]":        CommandStatus,
		"/deploy history <app> [<env>]":       CommandHistory,
		"/deploy lock <app> <env> [reason]":   CommandLock,
		"/deploy unlock <app> <env>":          CommandUnlock,
		"/deploy rollback <app> <env>":        CommandRollback,
		"/deploy cancel <id>":                 CommandCancel,
		"/deploy apps":                        CommandApps,
		"/deploy help":                        CommandHelp,
		"/deploy <app> <ref> <env> --dry-run": CommandDryRun,
		"/deploy promote <app> <from> <to>":   CommandPromote,
		"/deploy approve <id>":                CommandApprove,
		"/deploy stats <app> [<env>]":         CommandStats,
	} {
		got := ParseSlackCommand(fill.Replace(strings.TrimPrefix(line, "/deploy ")))
		if got.Kind != want || want != CommandHelp && got.Reply != "" {
			t.Errorf("%s parses as %+v; want %s", line, got, want)
		}
		form := strings.Join(strings.Fields(line)[:2], " ")
		if strings.HasPrefix(line, "/deploy <app>") {
			form = "/deploy &lt;app&gt;"
		}
		if !strings.Contains(SlackUsage, "`"+form) {
			t.Errorf("/deploy help does not show %s", line)
		}
	}
}

// A mistyped release subcommand gets the same "did you mean" as the others.
func TestMistypedPromoteSuggestsIt(t *testing.T) {
	for text, want := range map[string]string{
		"promte web dev prod": "Did you mean `/deploy promote web dev prod`?",
		"aprove 42":           "Did you mean `/deploy approve 42`?",
		"rejcet 42 too risky": "Did you mean `/deploy reject 42 too risky`?",
		"stat web":            "Did you mean `/deploy stats web`?",
	} {
		got := ParseSlackCommand(text)
		if got.Kind != CommandHelp || !strings.Contains(got.Reply, want) {
			t.Errorf("ParseSlackCommand(%q) = %+v; want %q", text, got, want)
		}
	}
}
