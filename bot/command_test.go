package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSlackCommand(t *testing.T) {
	deploy := func(app, ref, env string) Command {
		return Command{Kind: CommandDeploy, App: app, Ref: ref, Env: env}
	}
	help := func(k CommandKind, msg string) Command {
		return Command{Kind: CommandHelp, Reply: msg + "\n" + UsageHint(k)}
	}
	tests := []struct {
		name string
		text string
		want Command
	}{
		// deploy
		{"deploy", "takumi-server cf7edb2 dev", deploy("takumi-server", "cf7edb2", "dev")},
		{"deploy spaces", "  takumi-server   main  prod ", deploy("takumi-server", "main", "prod")},
		{"deploy to", "takumi-server v1.2.3 to dev", deploy("takumi-server", "v1.2.3", "dev")},
		{"deploy TO", "takumi-server v1.2.3 TO dev", deploy("takumi-server", "v1.2.3", "dev")},
		{"deploy keeps case", "Web Feature/ABC-1 PROD", deploy("Web", "Feature/ABC-1", "PROD")},
		{"deploy full sha", "web cf7edb2a1b2c3d4e5f60718293a4b5c6d7e8f901 dev", deploy("web", "cf7edb2a1b2c3d4e5f60718293a4b5c6d7e8f901", "dev")},
		{"deploy unicode branch", "web fix/ünïcode dev", deploy("web", "fix/ünïcode", "dev")},
		{"deploy tabs and newlines", "web\tmain\ndev\r\n", deploy("web", "main", "dev")},
		{"deploy nbsp", "web\u00a0main\u00a0to\u202fdev", deploy("web", "main", "dev")},
		{"deploy zero-width", "web\u200b main dev\ufeff", deploy("web", "main", "dev")},
		{"deploy slack link label", "web <http://release.sh|release.sh> dev", deploy("web", "release.sh", "dev")},
		{"deploy slack link bare", "web <main> dev", deploy("web", "main", "dev")},
		{"deploy ampersand entity", "web a&amp;b dev", help(CommandDeploy, "`a&amp;b` is not a ref I can deploy: give a sha, a short sha, a branch or a tag.")},
		{"deploy to as ref", "web to dev", help(CommandDeploy, "I could not read `web to dev`: a deploy needs a ref before `to` (`/deploy &lt;app&gt; &lt;ref&gt; to &lt;env&gt;`).")},
		{"deploy to as env", "web main to", help(CommandDeploy, "I could not read `web main to`: a deploy needs an environment (`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;`).")},
		{"deploy two words", "takumi-server dev", help(CommandDeploy, "I could not read `takumi-server dev`: a deploy needs an app, a ref and an environment (`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;`), and `takumi-server` is not a command I know.")},
		{"unknown command", "stauts web", help(CommandStatus, "`stauts` is not a command I know. Did you mean `/deploy status web`?")},
		{"unknown command with duration", "lokc web prod 2h", help(CommandLock, "`lokc` is not a command I know. Did you mean `/deploy lock web prod 2h`?")},
		{"unknown command alone", "hepl", help(CommandHelp, "`hepl` is not a command I know. Did you mean `/deploy help`?")},
		{"unknown command far from any", "frobnicate web", help(CommandDeploy, "I could not read `frobnicate web`: a deploy needs an app, a ref and an environment (`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;`), and `frobnicate` is not a command I know.")},
		{"three words are a deploy, not a typo", "stauts web prod", deploy("stauts", "web", "prod")},
		{"deploy deploy", "deploy web main dev", help(CommandDeploy, "I could not read `deploy web main dev`: there is no `deploy` subcommand. Did you mean `/deploy web main dev`?")},
		{"deploy deploy to", "Deploy web main to dev", help(CommandDeploy, "I could not read `Deploy web main to dev`: there is no `deploy` subcommand. Did you mean `/deploy web main to dev`?")},
		{"app named deploy", "deploy main dev", deploy("deploy", "main", "dev")},
		{"deploy from", "takumi-server cf7edb2 from dev", help(CommandDeploy, "I could not read `takumi-server cf7edb2 from dev`: a deploy is `/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;` or `/deploy &lt;app&gt; &lt;ref&gt; to &lt;env&gt;`, with nothing else on the line.")},
		{"deploy extra words", "web main to dev now", help(CommandDeploy, "I could not read `web main to dev now`: a deploy is `/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;` or `/deploy &lt;app&gt; &lt;ref&gt; to &lt;env&gt;`, with nothing else on the line.")},
		{"deploy to to", "web to to dev", help(CommandDeploy, "I could not read `web to to dev`: a deploy is `/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;` or `/deploy &lt;app&gt; &lt;ref&gt; to &lt;env&gt;`, with nothing else on the line.")},
		{"deploy env of 100", "web main " + strings.Repeat("e", 100), deploy("web", "main", strings.Repeat("e", 100))},
		{"deploy env too long", "web main " + strings.Repeat("e", 101), help(CommandDeploy, "`"+strings.Repeat("e", 80)+"…` is not an environment name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")},
		{"deploy bad app", "wéb main dev", help(CommandDeploy, "`wéb` is not an app name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")},
		{"deploy bad env", "web main -dev", help(CommandDeploy, "`-dev` is not an environment name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")},
		{"deploy ref option", "web --force dev", help(CommandDeploy, "`--force` is not a ref I can deploy: give a sha, a short sha, a branch or a tag.")},
		{"deploy ref dotdot", "web main..dev prod", help(CommandDeploy, "`main..dev` is not a ref I can deploy: give a sha, a short sha, a branch or a tag.")},
		{"deploy mention escaped back", "web &lt;!channel&gt; dev", help(CommandDeploy, "`&lt;!channel&gt;` is not a ref I can deploy: give a sha, a short sha, a branch or a tag.")},
		{"deploy user mention", "<@U024BE7LH|bob> main dev", help(CommandDeploy, "`@bob` is not an app name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")},
		{"deploy backtick", "web `main` dev", help(CommandDeploy, "`'main'` is not a ref I can deploy: give a sha, a short sha, a branch or a tag.")},

		// help and empty
		{"empty", "", help(CommandDeploy, "Tell me what to deploy.")},
		{"blank", " \u00a0\t\n", help(CommandDeploy, "Tell me what to deploy.")},
		{"help", "help", Command{Kind: CommandHelp, Reply: SlackUsage}},
		{"HELP", "HELP", Command{Kind: CommandHelp, Reply: SlackUsage}},
		{"help with words", "help lock", Command{Kind: CommandHelp, Reply: SlackUsage}},

		// status, history
		{"status", "status web", Command{Kind: CommandStatus, App: "web"}},
		{"status env", "Status Web Prod", Command{Kind: CommandStatus, App: "Web", Env: "Prod"}},
		{"status no app", "status", help(CommandStatus, "`/deploy status` needs an app (and optionally an environment), e.g. `/deploy status web prod`.")},
		{"status extra", "status web prod now", help(CommandStatus, "`/deploy status` takes an app and optionally an environment; I did not expect `now`.")},
		{"status bad env", "status web pr*d", help(CommandStatus, "`pr*d` is not an environment name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")},
		{"history", "history web", Command{Kind: CommandHistory, App: "web"}},
		{"history env", "HISTORY web dev", Command{Kind: CommandHistory, App: "web", Env: "dev"}},
		{"history no app", "history", help(CommandHistory, "`/deploy history` needs an app (and optionally an environment), e.g. `/deploy history web prod`.")},
		{"stats", "stats web", Command{Kind: CommandStats, App: "web"}},
		{"stats env", "Stats web prod", Command{Kind: CommandStats, App: "web", Env: "prod"}},
		{"stats no app", "stats", help(CommandStats, "`/deploy stats` needs an app (and optionally an environment), e.g. `/deploy stats web prod`.")},
		{"stats extra", "stats web prod 7d", help(CommandStats, "`/deploy stats` takes an app and optionally an environment; I did not expect `7d`.")},

		// lock
		{"lock", "lock web prod", Command{Kind: CommandLock, App: "web", Env: "prod"}},
		{"lock duration reason", "lock web prod 2h release freeze", Command{Kind: CommandLock, App: "web", Env: "prod", For: 2 * time.Hour, Reason: "release freeze"}},
		{"lock reason only", "LOCK web prod release   freeze", Command{Kind: CommandLock, App: "web", Env: "prod", Reason: "release freeze"}},
		{"lock duration only", "lock web prod 30m", Command{Kind: CommandLock, App: "web", Env: "prod", For: 30 * time.Minute}},
		{"lock days", "lock web prod 1d", Command{Kind: CommandLock, App: "web", Env: "prod", For: 24 * time.Hour}},
		{"lock compound", "lock web prod 1h30m", Command{Kind: CommandLock, App: "web", Env: "prod", For: 90 * time.Minute}},
		{"lock fraction", "lock web prod 1.5H", Command{Kind: CommandLock, App: "web", Env: "prod", For: 90 * time.Minute}},
		{"lock for", "lock web prod for 2h db migration", Command{Kind: CommandLock, App: "web", Env: "prod", For: 2 * time.Hour, Reason: "db migration"}},
		{"lock for as reason", "lock web prod for the demo", Command{Kind: CommandLock, App: "web", Env: "prod", Reason: "for the demo"}},
		{"lock reason like number", "lock web prod 2fa rollout", Command{Kind: CommandLock, App: "web", Env: "prod", Reason: "2fa rollout"}},
		{"lock second duration is reason", "lock web prod 1h 2h", Command{Kind: CommandLock, App: "web", Env: "prod", For: time.Hour, Reason: "2h"}},
		{"lock reason unescaped", "lock web prod Q&amp;A &lt;see <https://x.example/1|ticket 1>&gt;", Command{Kind: CommandLock, App: "web", Env: "prod", Reason: "Q&A <see ticket 1>"}},
		{"lock reason unicode", "lock web prod 🚧 Weihnachtsfrieden", Command{Kind: CommandLock, App: "web", Env: "prod", Reason: "🚧 Weihnachtsfrieden"}},
		{"lock zero", "lock web prod 0m", help(CommandLock, "`0m` is not a lock duration I accept: use e.g. 30m, 2h or 1d, more than 0 and at most 365d.")},
		{"lock too long", "lock web prod 400d", help(CommandLock, "`400d` is not a lock duration I accept: use e.g. 30m, 2h or 1d, more than 0 and at most 365d.")},
		{"lock huge", "lock web prod 99999999999999999999999h", help(CommandLock, "`99999999999999999999999h` is not a lock duration I accept: use e.g. 30m, 2h or 1d, more than 0 and at most 365d.")},
		{"lock no env", "lock web", help(CommandLock, "`/deploy lock` needs an app and an environment, e.g. `/deploy lock web prod 2h release freeze`.")},
		{"lock nothing", "lock", help(CommandLock, "`/deploy lock` needs an app and an environment, e.g. `/deploy lock web prod 2h release freeze`.")},

		// unlock, rollback
		{"unlock", "unlock web prod", Command{Kind: CommandUnlock, App: "web", Env: "prod"}},
		{"unlock missing env", "unlock web", help(CommandUnlock, "`/deploy unlock` needs an app and an environment, e.g. `/deploy unlock web prod`.")},
		{"unlock extra", "unlock web prod now", help(CommandUnlock, "`/deploy unlock` takes an app and an environment only; I did not expect `now`.")},
		{"rollback", "RollBack web prod", Command{Kind: CommandRollback, App: "web", Env: "prod"}},
		{"rollback missing", "rollback", help(CommandRollback, "`/deploy rollback` needs an app and an environment, e.g. `/deploy rollback web prod`.")},
		{"rollback extra", "rollback web prod to v1", help(CommandRollback, "`/deploy rollback` takes an app and an environment only; I did not expect `to v1`.")},

		// cancel
		{"cancel", "cancel 42", Command{Kind: CommandCancel, ID: 42}},
		{"cancel hash", "cancel #42", Command{Kind: CommandCancel, ID: 42}},
		{"cancel missing", "cancel", help(CommandCancel, "`/deploy cancel` needs a deployment id, e.g. `/deploy cancel 42`.")},
		{"cancel word", "cancel web", help(CommandCancel, "`web` is not a deployment id: write a number such as `42` or `#42`.")},
		{"cancel zero", "cancel 0", help(CommandCancel, "`0` is not a deployment id: write a number such as `42` or `#42`.")},
		{"cancel negative", "cancel -3", help(CommandCancel, "`-3` is not a deployment id: write a number such as `42` or `#42`.")},
		{"cancel plus", "cancel +3", help(CommandCancel, "`+3` is not a deployment id: write a number such as `42` or `#42`.")},
		{"cancel hash only", "cancel #", help(CommandCancel, "`#` is not a deployment id: write a number such as `42` or `#42`.")},
		{"cancel overflow", "cancel 99999999999999999999", help(CommandCancel, "`99999999999999999999` is not a deployment id: write a number such as `42` or `#42`.")},
		{"cancel extra", "cancel 42 43", help(CommandCancel, "`/deploy cancel` takes one deployment id; I did not expect `43`.")},

		// apps
		{"apps", "apps", Command{Kind: CommandApps}},
		{"apps upper", "APPS", Command{Kind: CommandApps}},
		{"apps extra", "apps web", help(CommandApps, "`/deploy apps` takes nothing after it; I did not expect `web`.")},

		// subcommands match ASCII case only: the Kelvin sign is not a k.
		{"kelvin", "loc\u212a web prod", help(CommandDeploy, "`loc\u212a` is not an app name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")},
		{"long echo is clipped", strings.Repeat("x", 100) + " y", help(CommandDeploy, "I could not read `"+strings.Repeat("x", 80)+"…`: a deploy needs an app, a ref and an environment (`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;`), and `"+strings.Repeat("x", 80)+"…` is not a command I know.")},
		{"control characters", "a\x00b", help(CommandDeploy, "I could not read `a?b`: a deploy needs an app, a ref and an environment (`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;`), and `a?b` is not a command I know.")},
		{"invalid utf-8", "\xff main dev", help(CommandDeploy, "`\uFFFD` is not an app name: names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit.")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(ParseSlackCommand(tt.text), tt.want); diff != "" {
				t.Errorf("ParseSlackCommand(%q) (-got +want):\n%s", tt.text, diff)
			}
		})
	}
}

// TestSlackUsageListsEveryForm keeps the help text in step with the grammar.
func TestSlackUsageListsEveryForm(t *testing.T) {
	for _, form := range []string{
		"`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;`",
		"`/deploy &lt;app&gt; &lt;ref&gt; to &lt;env&gt;`",
		"`/deploy status &lt;app&gt; [&lt;env&gt;]`",
		"`/deploy history &lt;app&gt; [&lt;env&gt;]`",
		"`/deploy lock &lt;app&gt; &lt;env&gt; [&lt;duration&gt;] [&lt;reason&gt;]`",
		"`/deploy unlock &lt;app&gt; &lt;env&gt;`",
		"`/deploy rollback &lt;app&gt; &lt;env&gt;`",
		"`/deploy cancel &lt;id&gt;`",
		"`/deploy apps`",
		"`/deploy help`",
	} {
		if !strings.Contains(SlackUsage, form) {
			t.Errorf("SlackUsage does not show %s", form)
		}
	}
	if strings.ContainsAny(strings.NewReplacer("&lt;", "", "&gt;", "", "&amp;", "").Replace(SlackUsage), "<>&") {
		t.Error("SlackUsage has an unescaped <, > or &; Slack would read it as markup")
	}
	for _, k := range subcommands {
		if !strings.Contains(SlackUsage, "`/deploy "+string(k)) {
			t.Errorf("SlackUsage does not mention /deploy %s", k)
		}
	}
}

func TestNormalizeSlackText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a &amp;lt; b", "a &lt; b"}, // one level of escaping only
		{"<https://example.com>", "https://example.com"},
		{"<https://example.com|example.com>", "example.com"},
		{"<mailto:a@b.c|a@b.c>", "a@b.c"},
		{"<@U024BE7LH>", "@U024BE7LH"},
		{"<@U024BE7LH|bob>", "@bob"},
		{"<#C024BE7LR|general>", "#general"},
		{"<!here>", "!here"},
		{"<!subteam^S1|@ops>", "@ops"},
		{"a <b c", "a <b c"},
		{"x\u200by", "xy"},
	}
	for _, tt := range tests {
		if got := normalizeSlackText(tt.in); got != tt.want {
			t.Errorf("normalizeSlackText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
