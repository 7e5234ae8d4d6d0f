package bot

import (
	"fmt"
	"strings"
)

// CommandKind is what a Slack `/deploy …` line asks for.
type CommandKind string

const (
	CommandDeploy CommandKind = "deploy"
	CommandHelp   CommandKind = "help"
)

// Command is a parsed Slack command. When Reply is set the line needs no
// action, only that answer (help, or what was wrong with it).
type Command struct {
	Kind  CommandKind
	App   string
	Ref   string
	Env   string
	Reply string
}

// SlackUsage is the help text, shown for `help` and after every mistake.
const SlackUsage = "Usage:\n" +
	"• `/deploy <app> <ref> <env>` — deploy a sha, short sha, branch or tag (`/deploy <app> <ref> to <env>` works too)\n" +
	"• `/deploy help` — this text"

// reserved words are subcommands of DESIGN.md's grammar; an app may not be
// called one of them, and those not built yet get an honest answer.
var laterSubcommands = map[string]bool{
	"status": true, "history": true, "lock": true, "unlock": true,
	"rollback": true, "cancel": true, "apps": true,
}

// ParseSlackCommand parses the text after `/deploy`. It never fails: bad
// input becomes a Command with a Reply that says what was wrong.
func ParseSlackCommand(text string) Command {
	words := strings.Fields(text)
	if len(words) == 0 {
		return Command{Kind: CommandHelp, Reply: "Tell me what to deploy.\n" + SlackUsage}
	}
	first := strings.ToLower(words[0])
	switch {
	case first == "help":
		return Command{Kind: CommandHelp, Reply: SlackUsage}
	case laterSubcommands[first]:
		return Command{Kind: CommandHelp, Reply: fmt.Sprintf("`/deploy %s` is not available yet.\n%s", first, SlackUsage)}
	}
	switch {
	case len(words) == 3:
		return Command{Kind: CommandDeploy, App: words[0], Ref: words[1], Env: words[2]}
	case len(words) == 4 && strings.EqualFold(words[2], "to"):
		return Command{Kind: CommandDeploy, App: words[0], Ref: words[1], Env: words[3]}
	}
	return Command{Kind: CommandHelp, Reply: fmt.Sprintf("I could not read `%s`.\n%s", strings.Join(words, " "), SlackUsage)}
}
