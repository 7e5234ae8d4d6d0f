package bot

import (
	"fmt"
	"regexp"
	"strings"
)

// CommentKind is what a pull-request comment asks of the bot.
type CommentKind string

const (
	// CommentIgnore: the comment is not for the bot; do nothing, not even react.
	CommentIgnore CommentKind = "ignore"
	// CommentDeploy: deploy the PR's head sha to Env (of App, when given).
	CommentDeploy CommentKind = "deploy"
	// CommentReply: the comment tried to be a deploy request and failed;
	// answer with Reply and deploy nothing.
	CommentReply CommentKind = "reply"
)

// CommentCommand is a parsed PR comment. Kind is always set. For
// CommentDeploy, Env (and App, if the comment named one) match
// [A-Za-z0-9][A-Za-z0-9._-]*; an empty App means "the app of this repo".
// For CommentReply, Reply is GitHub Markdown ending in CommentUsage.
type CommentCommand struct {
	Kind  CommentKind
	App   string
	Env   string
	Reply string
	// DryRun (`deploy to dev --dry-run`) asks for the plan only.
	DryRun bool
}

// CommentUsage is the short help appended to every CommentReply.
const CommentUsage = "To deploy this pull request's head commit, write `deploy to <env>` or `deploy <app> to <env>` as the first line of a comment; add `--dry-run` after it for the plan only."

// commentDeployRE is the whole grammar, matched against the first line
// with its indentation and line ending removed. Names are validName's.
var commentDeployRE = regexp.MustCompile(`^(?i:[/.]?deploy)(?:[ \t]+([A-Za-z0-9][A-Za-z0-9._-]{0,99}))?[ \t]+(?i:to)[ \t]+([A-Za-z0-9][A-Za-z0-9._-]{0,99})(?:[ \t]+(?i:(--dry-run)))?[ \t]*$`)

// ParseComment reads a pull-request comment body. It is a pure function
// and never panics. The rules:
//
//   - Only the first non-blank line counts. Leading blank (white-space
//     only) lines are skipped, so a body that starts with "\r\n" still
//     works; every later line is ignored, whatever it says. Lines end at
//     \n, \r\n or a lone \r; a leading byte-order mark is dropped.
//   - That line must be `deploy to <env>` or `deploy <app> to <env>`,
//     anchored at its start, with an optional leading `/` or `.`, keywords
//     in any ASCII case, and optional trailing spaces or tabs. App and env
//     keep their case. Up to three leading spaces are allowed, as in
//     Markdown; a non-breaking space counts as a space.
//   - A line that Markdown does not render as a paragraph never fires: a
//     quote (`>`), a code fence (``` or ~~~), an indented code block (four
//     or more spaces, or a tab), a list item or anything else → ignore.
//   - Malformed requests get a CommentReply instead of silence when the
//     intent is clear: the line starts with `/deploy` or `.deploy` (an
//     explicit command prefix), or it starts with the word `deploy`
//     followed by `to` as its second or third word — e.g. "deploy to"
//     (no env), "deploy to dev please", "deploy web to dev and prod",
//     "deploy to dév". A bare `deploy` in prose ("Deploy failed again",
//     "deploy web dev") is ignored.
func ParseComment(body string) CommentCommand {
	ignore := CommentCommand{Kind: CommentIgnore}
	line := firstNonBlankLine(body)
	if line == "" {
		return ignore
	}
	line = strings.ReplaceAll(line, "\u00a0", " ")
	indent := 0
	for indent < len(line) && line[indent] == ' ' {
		indent++
	}
	if indent >= 4 || indent < len(line) && line[indent] == '\t' {
		return ignore // indented code block
	}
	line = line[indent:]
	if strings.HasPrefix(line, ">") || strings.HasPrefix(line, "```") || strings.HasPrefix(line, "~~~") {
		return ignore
	}
	if m := commentDeployRE.FindStringSubmatch(line); m != nil {
		return CommentCommand{Kind: CommentDeploy, App: m[1], Env: m[2], DryRun: m[3] != ""}
	}
	return commentMistake(line)
}

// commentMistake decides between ignore and a reply for a first line that
// is not a valid request.
func commentMistake(line string) CommentCommand {
	ignore := CommentCommand{Kind: CommentIgnore}
	rest := line
	prefixed := strings.HasPrefix(line, "/") || strings.HasPrefix(line, ".")
	if prefixed {
		rest = line[1:]
	}
	words := strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == '\t' })
	if len(words) == 0 || !isWord(words[0], "deploy") {
		return ignore
	}
	to := 0 // index of `to`, if it is the second or third word
	switch {
	case len(words) >= 2 && isWord(words[1], "to"):
		to = 1
	case len(words) >= 3 && isWord(words[2], "to"):
		to = 2
	}
	if to == 0 && !prefixed {
		return ignore
	}
	reply := func(format string, args ...any) CommentCommand {
		return CommentCommand{Kind: CommentReply, Reply: fmt.Sprintf(format, args...) + "\n\n" + CommentUsage}
	}
	switch {
	case to == 0:
		return reply("I could not read %s as a deploy request.", githubCode(strings.TrimSpace(line)))
	case to == 2 && !validName(words[1]):
		return reply("%s is not an app name: %s", githubCode(words[1]), nameRule)
	case len(words) == to+1:
		return reply("Deploy to which environment?")
	case !validName(words[to+1]):
		return reply("%s is not an environment name: %s", githubCode(words[to+1]), nameRule)
	case len(words) > to+2:
		return reply("I deploy to one environment at a time and read nothing after it; I did not expect %s. Nothing was deployed.", githubCode(strings.Join(words[to+2:], " ")))
	}
	return reply("I could not read %s as a deploy request.", githubCode(strings.TrimSpace(line)))
}

// firstNonBlankLine returns the first line of body that has anything but
// white space on it, without its line ending; "" if there is none.
func firstNonBlankLine(body string) string {
	body = strings.TrimPrefix(body, "\ufeff")
	for body != "" {
		line := body
		if i := strings.IndexAny(body, "\r\n"); i >= 0 {
			line = body[:i]
			if body[i] == '\r' && i+1 < len(body) && body[i+1] == '\n' {
				i++
			}
			body = body[i+1:]
		} else {
			body = ""
		}
		if strings.TrimSpace(line) != "" {
			return line
		}
	}
	return ""
}
