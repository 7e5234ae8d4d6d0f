package bot

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// CommandKind is what a Slack `/deploy …` line asks for.
type CommandKind string

const (
	CommandDeploy   CommandKind = "deploy"
	CommandStatus   CommandKind = "status"
	CommandHistory  CommandKind = "history"
	CommandStats    CommandKind = "stats"
	CommandLock     CommandKind = "lock"
	CommandUnlock   CommandKind = "unlock"
	CommandRollback CommandKind = "rollback"
	CommandCancel   CommandKind = "cancel"
	CommandApps     CommandKind = "apps"
	CommandApprove  CommandKind = "approve"
	CommandReject   CommandKind = "reject"
	// CommandHelp is `/deploy help` and every line that could not be read;
	// its Reply is the whole answer.
	CommandHelp CommandKind = "help"
)

// Command is a parsed Slack command. Kind CommandHelp carries a Reply (the
// usage, or what was wrong followed by one line of it) and nothing else; every
// other kind has an empty Reply and the fields its form names:
//
//	CommandDeploy    App, Ref, Env
//	CommandStatus    App, Env (Env may be empty)
//	CommandHistory   App, Env (Env may be empty)
//	CommandStats     App, Env (Env may be empty)
//	CommandLock      App, Env, For (0: until unlocked), Reason (may be empty)
//	CommandUnlock    App, Env
//	CommandRollback  App, Env
//	CommandCancel    ID
//	CommandApps      —
//	CommandApprove   ID
//	CommandReject    ID, Reason (may be empty)
//	CommandDryRun    App, Ref, Env
//	CommandPromote   App, From, Env
//
// App and Env match [A-Za-z0-9][A-Za-z0-9._-]*; Ref is a git-ref-like word.
// None of them contains white space. Reason is plain text (Slack's &amp;,
// &lt;, &gt; already decoded): escape it again before it goes back into a
// Slack message.
type Command struct {
	Kind   CommandKind
	App    string
	Ref    string
	Env    string
	From   string
	Reason string
	For    time.Duration
	ID     int64
	Reply  string
}

// SlackUsage is the help text, the answer to `/deploy help`; a mistake gets
// one line of it (UsageHint).
// It is Slack mrkdwn, so `<` and `>` are written as &lt; and &gt;.
const SlackUsage = "Usage:\n" +
	"• `/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;` — deploy a sha, short sha, branch or tag (`/deploy &lt;app&gt; &lt;ref&gt; to &lt;env&gt;` works too)\n" +
	"• `/deploy status &lt;app&gt; [&lt;env&gt;]` — what runs where, what is in flight\n" +
	"• `/deploy history &lt;app&gt; [&lt;env&gt;]` — recent deployments, their outcome and who asked\n" +
	"• `/deploy stats &lt;app&gt; [&lt;env&gt;]` — delivery figures over 7 and 30 days: deploys, lead time, change failure rate, time to restore\n" +
	"• `/deploy lock &lt;app&gt; &lt;env&gt; [&lt;duration&gt;] [&lt;reason&gt;]` — block others from deploying to env, e.g. `/deploy lock web prod 2h release freeze` (duration like 30m, 2h, 1d)\n" +
	"• `/deploy unlock &lt;app&gt; &lt;env&gt;` — lift a lock\n" +
	"• `/deploy rollback &lt;app&gt; &lt;env&gt;` — redeploy the previous successful sha\n" +
	"• `/deploy cancel &lt;id&gt;` — cancel a queued or CI-waiting deployment, e.g. `/deploy cancel 42`\n" +
	"• `/deploy approve &lt;id&gt;` — approve a deployment waiting for approval, e.g. `/deploy approve 42`\n" +
	"• `/deploy reject &lt;id&gt; [&lt;reason&gt;]` — reject a deployment waiting for approval; it fails\n" +
	"• `/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt; --dry-run` — the plan: what runs now and what would, CI, lock, queue and the commits that would ship; changes nothing\n" +
	"• `/deploy promote &lt;app&gt; &lt;from&gt; &lt;to&gt;` — deploy to &lt;to&gt; exactly the image &lt;from&gt; runs, e.g. `/deploy promote web dev prod`\n" +
	"• `/deploy apps` — the apps and environments I know\n" +
	"• `/deploy help` — this text"

// subcommands are the reserved first words; an app called one of them can
// only be deployed through another trigger.
var subcommands = []CommandKind{
	CommandStatus, CommandHistory, CommandStats, CommandLock, CommandUnlock,
	CommandRollback, CommandCancel, CommandApps, CommandHelp,
	CommandApprove, CommandReject,
	// Parsed before these (parseRelease), but reserved and suggested alike.
	CommandPromote,
}

// MaxLockDuration is the longest `/deploy lock … <duration>` accepted.
const MaxLockDuration = 365 * 24 * time.Hour

// ParseSlackCommand parses the text after `/deploy`. It never fails and
// never panics: bad input becomes a CommandHelp with a Reply that says what
// was wrong, followed by the form meant (UsageHint).
//
// The text is normalized first: Slack link markup `<url|label>` becomes its
// label (`<url>` its url, `<@U1|bob>` becomes @bob), &amp; &lt; &gt; are
// decoded, zero-width characters are dropped, and any Unicode space
// (including the non-breaking spaces some Slack clients send) separates
// words. Subcommand words and `to` are matched case-insensitively (ASCII
// only); app, ref and env keep their case.
func ParseSlackCommand(text string) Command {
	words := strings.Fields(normalizeSlackText(text))
	if len(words) == 0 {
		return slackHelpFor(CommandDeploy, "Tell me what to deploy.")
	}
	if c, ok := parseRelease(words); ok {
		return c
	}
	kind := subcommand(words[0])
	args := words[1:]
	switch kind {
	case CommandHelp:
		// `/deploy help lock` and the like: the usage is the answer anyway.
		return Command{Kind: CommandHelp, Reply: SlackUsage}
	case CommandApps:
		if len(args) > 0 {
			return slackHelpFor(CommandApps, "`/deploy apps` takes nothing after it; I did not expect %s.", slackCode(strings.Join(args, " ")))
		}
		return Command{Kind: CommandApps}
	case CommandStatus, CommandHistory, CommandStats:
		if len(args) == 0 {
			return slackHelpFor(kind, "`/deploy %s` needs an app (and optionally an environment), e.g. `/deploy %s web prod`.", kind, kind)
		}
		if len(args) > 2 {
			return slackHelpFor(kind, "`/deploy %s` takes an app and optionally an environment; I did not expect %s.", kind, slackCode(strings.Join(args[2:], " ")))
		}
		c := Command{Kind: kind, App: args[0]}
		if len(args) == 2 {
			c.Env = args[1]
		}
		return checkNames(c)
	case CommandUnlock, CommandRollback:
		if len(args) < 2 {
			return slackHelpFor(kind, "`/deploy %s` needs an app and an environment, e.g. `/deploy %s web prod`.", kind, kind)
		}
		if len(args) > 2 {
			return slackHelpFor(kind, "`/deploy %s` takes an app and an environment only; I did not expect %s.", kind, slackCode(strings.Join(args[2:], " ")))
		}
		return checkNames(Command{Kind: kind, App: args[0], Env: args[1]})
	case CommandLock:
		return parseLock(args)
	case CommandCancel:
		return parseCancel(args)
	case CommandApprove, CommandReject:
		return parseApproval(kind, args)
	}
	return parseDeploy(words)
}

func parseDeploy(words []string) Command {
	line := slackCode(strings.Join(words, " "))
	if len(words) >= 4 && isWord(words[0], string(CommandDeploy)) {
		// `/deploy deploy web main dev`: the command name typed twice.
		if c := parseDeploy(words[1:]); c.Kind == CommandDeploy {
			return slackHelpFor(CommandDeploy, "I could not read %s: there is no `deploy` subcommand. Did you mean %s?", line, slackCode("/deploy "+strings.Join(words[1:], " ")))
		}
	}
	if near, ok := closest(words[0], subcommandNames()); ok && !(len(words) == 3 || len(words) == 4 && isWord(words[2], "to")) {
		return slackHelpFor(CommandKind(near), "%s is not a command I know. Did you mean %s?", slackCode(words[0]), slackCode(strings.TrimSpace("/deploy "+near+" "+strings.Join(words[1:], " "))))
	}
	switch {
	case len(words) < 3:
		return slackHelpFor(CommandDeploy, "I could not read %s: a deploy needs an app, a ref and an environment (`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;`), and %s is not a command I know.", line, slackCode(words[0]))
	case len(words) == 3 && isWord(words[1], "to"):
		return slackHelpFor(CommandDeploy, "I could not read %s: a deploy needs a ref before `to` (`/deploy &lt;app&gt; &lt;ref&gt; to &lt;env&gt;`).", line)
	case len(words) == 3 && isWord(words[2], "to"):
		return slackHelpFor(CommandDeploy, "I could not read %s: a deploy needs an environment (`/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;`).", line)
	case len(words) == 3:
		return checkNames(Command{Kind: CommandDeploy, App: words[0], Ref: words[1], Env: words[2]})
	case len(words) == 4 && isWord(words[2], "to") && !isWord(words[1], "to") && !isWord(words[3], "to"):
		return checkNames(Command{Kind: CommandDeploy, App: words[0], Ref: words[1], Env: words[3]})
	}
	return slackHelpFor(CommandDeploy, "I could not read %s: a deploy is `/deploy &lt;app&gt; &lt;ref&gt; &lt;env&gt;` or `/deploy &lt;app&gt; &lt;ref&gt; to &lt;env&gt;`, with nothing else on the line.", line)
}

// parseLock reads `<app> <env> [[for] <duration>] [reason…]`. The word after
// env is a duration only if it is shaped like one (2h, 30m, 1d, 1h30m,
// 1.5h); anything else starts the reason.
func parseLock(args []string) Command {
	if len(args) < 2 {
		return slackHelpFor(CommandLock, "`/deploy lock` needs an app and an environment, e.g. `/deploy lock web prod 2h release freeze`.")
	}
	c := Command{Kind: CommandLock, App: args[0], Env: args[1]}
	rest := args[2:]
	if len(rest) >= 2 && isWord(rest[0], "for") && lockDurationRE.MatchString(rest[1]) {
		rest = rest[1:]
	}
	if len(rest) > 0 && lockDurationRE.MatchString(rest[0]) {
		d, ok := parseLockDuration(rest[0])
		if !ok {
			return slackHelpFor(CommandLock, "%s is not a lock duration I accept: use e.g. 30m, 2h or 1d, more than 0 and at most 365d.", slackCode(rest[0]))
		}
		c.For = d
		rest = rest[1:]
	}
	c.Reason = strings.Join(rest, " ")
	return checkNames(c)
}

func parseCancel(args []string) Command {
	if len(args) == 0 {
		return slackHelpFor(CommandCancel, "`/deploy cancel` needs a deployment id, e.g. `/deploy cancel 42`.")
	}
	if len(args) > 1 {
		return slackHelpFor(CommandCancel, "`/deploy cancel` takes one deployment id; I did not expect %s.", slackCode(strings.Join(args[1:], " ")))
	}
	s := strings.TrimPrefix(args[0], "#")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || s[0] == '+' {
		return slackHelpFor(CommandCancel, "%s is not a deployment id: write a number such as `42` or `#42`.", slackCode(args[0]))
	}
	return Command{Kind: CommandCancel, ID: id}
}

// checkNames returns c, or a help reply naming its first invalid field.
func checkNames(c Command) Command {
	if !validName(c.App) {
		return slackHelpFor(c.Kind, "%s is not an app name: %s", slackCode(c.App), nameRule)
	}
	if c.Kind == CommandDeploy && !typedRef(c.Ref) {
		return slackHelpFor(c.Kind, "%s is not a ref I can deploy: give a sha, a short sha, a branch or a tag.", slackCode(c.Ref))
	}
	if (c.Env != "" || needsEnv(c.Kind)) && !validName(c.Env) {
		return slackHelpFor(c.Kind, "%s is not an environment name: %s", slackCode(c.Env), nameRule)
	}
	return c
}

func needsEnv(k CommandKind) bool {
	switch k {
	case CommandDeploy, CommandLock, CommandUnlock, CommandRollback, CommandDryRun, CommandPromote:
		return true
	}
	return false
}

// slackHelpFor says what was wrong and, on one more line, the form of the
// command k that was meant: the whole usage would bury the one line that
// matters.
func slackHelpFor(k CommandKind, format string, args ...any) Command {
	return Command{Kind: CommandHelp, Reply: fmt.Sprintf(format, args...) + "\n" + UsageHint(k)}
}

// slackHelp says what was wrong, and where the forms are, when no single
// form is the one meant.
func slackHelp(format string, args ...any) Command {
	return Command{Kind: CommandHelp, Reply: fmt.Sprintf(format, args...) + "\n" + usageHelpLine}
}

// usageHelpLine ends every one-line hint.
const usageHelpLine = "`/deploy help` lists every command."

// UsageHint is one line of help for command k: its form from SlackUsage
// and where the rest is.
func UsageHint(k CommandKind) string {
	for _, line := range strings.Split(SlackUsage, "\n")[1:] {
		form, _, _ := strings.Cut(strings.TrimPrefix(line, "• "), " — ")
		switch {
		case k == CommandDeploy,
			k == CommandDryRun && strings.HasSuffix(form, "--dry-run`"),
			strings.HasPrefix(form, "`/deploy "+string(k)+" "), form == "`/deploy "+string(k)+"`":
			return "Usage: " + form + "; " + usageHelpLine
		}
	}
	return usageHelpLine
}

func subcommandNames() []string {
	names := make([]string, len(subcommands))
	for i, k := range subcommands {
		names[i] = string(k)
	}
	return names
}

func subcommand(w string) CommandKind {
	for _, k := range subcommands {
		if isWord(w, string(k)) {
			return k
		}
	}
	return ""
}

// isWord reports whether w is kw (lower-case ASCII) in any ASCII case.
// Unlike strings.EqualFold it does not fold the Kelvin sign into k.
func isWord(w, kw string) bool {
	if len(w) != len(kw) {
		return false
	}
	for i := 0; i < len(w); i++ {
		b := w[i]
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if b != kw[i] {
			return false
		}
	}
	return true
}

// nameRule explains validName to a person.
const nameRule = "names are up to 100 letters, digits, `.`, `_` and `-`, starting with a letter or digit."

// validName reports whether s is a well-formed app or environment name as
// the command grammars accept it: [A-Za-z0-9][A-Za-z0-9._-]*, at most 100
// bytes.
func validName(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		alnum := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		if !alnum && (i == 0 || b != '.' && b != '_' && b != '-') {
			return false
		}
	}
	return true
}

// ValidRef rejects what git's check-ref-format rejects, and with it dot
// segments, which URL resolution would turn into another API path.
func ValidRef(ref string) bool {
	if ref == "" || ref == "@" || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".") || strings.Contains(ref, "..") || strings.Contains(ref, "//") ||
		strings.Contains(ref, "@{") || strings.HasSuffix(ref, ".lock") {
		return false
	}
	for _, part := range strings.Split(ref, "/") {
		if strings.HasPrefix(part, ".") {
			return false
		}
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return false
		}
	}
	return true
}

// typedRef is a ref someone may type in a command: a ValidRef of at most
// 255 letters, digits and ._/-+@=, not starting with `-` (an option), so
// that a <!channel> or an &amp; typed as a ref is refused, not resolved.
func typedRef(s string) bool {
	if len(s) > 255 || strings.HasPrefix(s, "-") || !ValidRef(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("._/-+@=,", r) {
			return false
		}
	}
	return true
}

var (
	lockDurationRE   = regexp.MustCompile(`^(?:[0-9]+(?:\.[0-9]+)?[wdhmsWDHMS])+$`)
	lockDurationPart = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?)([wdhmsWDHMS])`)
)

// parseLockDuration reads a word matching lockDurationRE; units are w, d,
// h, m and s in either case.
func parseLockDuration(s string) (time.Duration, bool) {
	units := map[byte]float64{'w': 7 * 86400, 'd': 86400, 'h': 3600, 'm': 60, 's': 1}
	var secs float64
	for _, m := range lockDurationPart.FindAllStringSubmatch(s, -1) {
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, false
		}
		secs += n * units[m[2][0]|0x20]
	}
	if !(secs >= 1 && secs <= MaxLockDuration.Seconds()) {
		return 0, false
	}
	return time.Duration(secs * float64(time.Second)).Round(time.Second), true
}

var (
	// slackLinkRE is Slack's markup for links, mentions and channels:
	// <url>, <url|label>, <@U123|name>, <#C123|name>, <!here>.
	slackLinkRE   = regexp.MustCompile(`<([^<>|]*)(?:\|([^<>]*))?>`)
	slackUnescape = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")
	zeroWidth     = strings.NewReplacer("\u200b", "", "\u200c", "", "\u200d", "", "\u2060", "", "\ufeff", "")
)

// normalizeSlackText turns what Slack sends into what the person typed.
// Invalid UTF-8 becomes U+FFFD (which no name or ref accepts).
// Markup is resolved before entities are decoded, so a typed `&lt;x&gt;`
// stays the text <x>.
func normalizeSlackText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = slackLinkRE.ReplaceAllStringFunc(s, func(m string) string {
		target, label, ok := strings.Cut(m[1:len(m)-1], "|")
		switch {
		case !ok || label == "":
			return target
		case strings.HasPrefix(target, "@") && !strings.HasPrefix(label, "@"):
			return "@" + label
		case strings.HasPrefix(target, "#") && !strings.HasPrefix(label, "#"):
			return "#" + label
		}
		return label
	})
	return zeroWidth.Replace(slackUnescape.Replace(s))
}
