package bot

import "strings"

const (
	// CommandDryRun is `/deploy <app> <ref> <env> --dry-run`: the plan of
	// the deploy, with App, Ref and Env.
	CommandDryRun CommandKind = "dry-run"
	// CommandPromote is `/deploy promote <app> <from> <to>`: App, From,
	// and Env (the target).
	CommandPromote CommandKind = "promote"
)

// dryRunFlag asks for a plan instead of a deploy.
const dryRunFlag = "--dry-run"

// parseRelease reads the promote and dry-run forms; ok is false for any
// other line.
func parseRelease(words []string) (c Command, ok bool) {
	if isWord(words[0], string(CommandPromote)) {
		return parsePromote(words[1:]), true
	}
	rest := make([]string, 0, len(words))
	for _, w := range words {
		if !isWord(w, dryRunFlag) {
			rest = append(rest, w)
		}
	}
	if len(rest) == len(words) {
		return Command{}, false
	}
	if len(rest) == 0 || subcommand(rest[0]) != "" {
		return slackHelpFor(CommandDryRun, "`%s` goes with a deploy only: `/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt; --dry-run`.", dryRunFlag), true
	}
	c = parseDeploy(rest)
	if c.Kind == CommandDeploy {
		c.Kind = CommandDryRun
	}
	return c, true
}

func parsePromote(args []string) Command {
	if len(args) != 3 {
		extra := ""
		if len(args) > 3 {
			extra = " I did not expect " + slackCode(strings.Join(args[3:], " ")) + "."
		}
		return slackHelpFor(CommandPromote, "`/deploy promote` needs an app, the environment to promote from and the one to promote to, e.g. `/deploy promote web dev prod`.%s", extra)
	}
	c := Command{Kind: CommandPromote, App: args[0], From: args[1], Env: args[2]}
	if !validName(c.From) {
		return slackHelpFor(CommandPromote, "%s is not an environment name: %s", slackCode(c.From), nameRule)
	}
	if c.From == c.Env {
		return slackHelpFor(CommandPromote, "`/deploy promote` needs two different environments; %s was named twice.", slackCode(c.Env))
	}
	return checkNames(c)
}
